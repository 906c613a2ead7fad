"""Coarse k-means cells: the first level of the hash, fitted to the data.

Random hyperplanes through the data's mean cut a tight cluster far from the
mean only rarely, so on clustered data (real embeddings) whole clusters share
a bucket whatever the number of bits. Splitting the projected space into
k-means cells first, and hashing each row by hyperplanes through its cell's
centroid, puts the cuts where the data is. A query visits its nearest cells.

Nothing here knows about scikit-learn estimators; every function takes and
returns plain arrays. One cell (the default) is plain random-hyperplane LSH.
"""

import numpy as np
from sklearn.cluster import KMeans

#: k-means is fitted on at most this many rows per cell.
ROWS_PER_CELL = 40
#: Rows assigned to cells per block (bounds the block's distance matrix).
ASSIGN_BLOCK = 8192


def fit_centroids(projected, n_cells, random_state, *, max_iter=20):
    """Cell centroids from k-means on a sample of the projected rows.

    Parameters
    ----------
    projected : ndarray of shape (n_samples, n_components), float32
    n_cells : int
        At most ``n_samples``; 1 gives the single centroid 0 (the data's mean,
        since ``projected`` is centred) without running k-means.
    random_state : numpy.random.RandomState

    Returns
    -------
    ndarray of shape (n_fitted, n_components), float32
        ``n_fitted = min(n_cells, distinct rows in the sample)``: duplicated
        rows cannot fill more cells.
    """
    n_samples, n_components = projected.shape
    if n_cells == 1:
        return np.zeros((1, n_components), dtype=np.float32)
    n_rows = min(n_samples, ROWS_PER_CELL * n_cells)
    sample = projected[np.sort(random_state.choice(n_samples, n_rows, replace=False))]
    n_cells = min(n_cells, np.unique(sample, axis=0).shape[0])
    if n_cells == 1:
        return sample[:1].astype(np.float32)
    kmeans = KMeans(n_clusters=n_cells, n_init=1, max_iter=max_iter,
                    random_state=random_state).fit(sample)
    return kmeans.cluster_centers_.astype(np.float32)


def nearest_cells(projected, centroids, n_nearest):
    """The ``n_nearest`` cells of each row, nearest first (ties by cell number).

    Parameters
    ----------
    projected : ndarray of shape (n_rows, n_components), float32
    centroids : ndarray of shape (n_cells, n_components), float32
    n_nearest : int
        At most ``n_cells``.

    Returns
    -------
    ndarray of shape (n_rows, n_nearest), int64
    """
    n_rows, n_cells = projected.shape[0], centroids.shape[0]
    if n_cells == 1:
        return np.zeros((n_rows, 1), dtype=np.int64)
    nearest = np.empty((n_rows, n_nearest), dtype=np.int64)
    centroid_sq_norms = np.einsum("ij,ij->i", centroids, centroids)
    for start in range(0, n_rows, ASSIGN_BLOCK):  # blocks of rows, never one per row
        rows = slice(start, min(start + ASSIGN_BLOCK, n_rows))
        # |c|^2 - 2 c.x orders the cells like |x - c|^2 does.
        scores = centroid_sq_norms - 2 * (projected[rows] @ centroids.T)
        if n_nearest == 1:
            nearest[rows, 0] = np.argmin(scores, axis=1)
            continue
        part = np.argpartition(scores, n_nearest - 1, axis=1)[:, :n_nearest]
        keys = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, keys), axis=1)
        nearest[rows] = np.take_along_axis(part, order, axis=1)
    return nearest


def bits_per_cell(cell_sizes, bucket_size, max_bits):
    """Hyperplanes each cell uses so its buckets hold about ``bucket_size`` rows.

    Parameters
    ----------
    cell_sizes : ndarray of shape (n_cells,)
    bucket_size : float
    max_bits : int

    Returns
    -------
    ndarray of shape (n_cells,), int64
        ``round(log2(size / bucket_size))`` clipped to ``[1, max_bits]``.
    """
    ratio = np.maximum(cell_sizes, 1) / bucket_size
    return np.clip(np.round(np.log2(np.maximum(ratio, 1.0))), 1, max_bits).astype(np.int64)


def cell_id_bits(n_cells):
    """Key bits that hold a cell number (0 for a single cell)."""
    return int(n_cells - 1).bit_length()

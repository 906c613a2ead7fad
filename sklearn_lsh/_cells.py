"""Coarse k-means cells: the first level of the hash, fitted to the data.

Random hyperplanes through the data's mean cut a tight cluster far from the
mean only rarely, so on clustered data (real embeddings) whole clusters share
a bucket whatever the number of bits. Splitting the projected space into
k-means cells first, and hashing each row by hyperplanes through its cell's
centroid, puts the cuts where the data is. A query visits its nearest cells.

Nothing here knows about scikit-learn estimators; every function takes and
returns plain arrays. One cell is plain random-hyperplane LSH. The
``n_cells="auto"`` policy (:func:`fit_hash_functions` with ``n_cells=None``)
lives here too.
"""

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from ._hashing import MAX_BITS, HashFunctions, draw_hyperplanes
from ._index import bucket_directory, row_bucket_size

#: Rows per bucket that ``n_hyperplanes="auto"`` aims for, in every cell
#: (the classic ``log2(n / bucket_size)`` bits).
AUTO_BUCKET_SIZE = 16
#: ``n_cells="auto"`` splits the data into cells of about this many rows ...
AUTO_CELL_SIZE = 2000
#: ... when global hyperplanes leave buckets this many times too large ...
AUTO_CELL_TRIGGER = 8
#: ... in this many trial tables.
AUTO_TRIAL_TABLES = 4
#: The cells are then doubled while their own buckets stay this many times too large ...
AUTO_REFINE_TRIGGER = 4
#: ... and halved cells would still hold this many rows on average.
AUTO_MIN_CELL_ROWS = 250
#: k-means is fitted on at most this many rows per cell ...
ROWS_PER_CELL = 40
#: ... and seeded (k-means++) on this many.
ROWS_PER_SEED = 8
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
    # k-means++ costs n_rows x n_cells x log(n_cells) distances: seed it on a
    # random share of the sample (all of it if the share has too few distinct
    # rows), then let Lloyd use all of it.
    seeding = sample
    if ROWS_PER_SEED * n_cells < n_rows:
        share = sample[random_state.choice(n_rows, ROWS_PER_SEED * n_cells, replace=False)]
        if np.unique(share, axis=0).shape[0] >= n_cells:
            seeding = share
    seeds, _ = kmeans_plusplus(seeding, n_cells, random_state=random_state)
    kmeans = KMeans(n_clusters=n_cells, init=seeds, n_init=1, max_iter=max_iter,
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


def fit_hash_functions(projected, axis_scales, *, n_cells, n_bits, n_tables, random_state,
                       bucket_size=AUTO_BUCKET_SIZE, n_extra_bits=0):
    """Fit the cells and the hyperplanes, and hash every row.

    Parameters
    ----------
    projected : ndarray of shape (n_samples, n_components), float32
        The rows in the hash space.
    axis_scales : ndarray of shape (n_components,)
        Standard deviation along each axis of the hash space.
    n_cells : int or None
        At most ``n_samples``; ``None`` decides from the data (``n_cells="auto"``):
        :func:`auto_n_cells` to start with, then doubled while
        :func:`cells_too_coarse` (only when ``n_bits`` is ``None`` too).
    n_bits : int or None
        Hyperplanes per table; ``None`` lets each cell use
        ``round(log2(cell size / bucket_size))`` of them (:func:`bits_per_cell`).
    n_tables : int
    random_state : numpy.random.RandomState
    bucket_size : float
        Rows per bucket that ``n_bits=None`` aims for.
    n_extra_bits : int
        With ``n_bits=None``, hyperplanes each cell uses beyond that aim, so a
        query can still choose the aim by ignoring them
        (``QuerySettings.n_dropped_bits``) or longer keys; the cells are chosen
        as without them.

    Returns
    -------
    functions : HashFunctions
    keys : ndarray of shape (n_tables, n_samples), uint64
        Every row's key, hashed in its nearest cell.
    """
    refine = n_cells is None and n_bits is None
    if n_cells is None:
        n_cells = auto_n_cells(projected, axis_scales, n_bits, bucket_size, random_state)
    refine = refine and n_cells > 1
    while True:
        functions, keys = hash_in_cells(projected, axis_scales, n_cells=n_cells,
                                        n_bits=n_bits, n_tables=n_tables,
                                        bucket_size=bucket_size, random_state=random_state,
                                        n_extra_bits=n_extra_bits)
        if not (refine and functions.n_cells == n_cells
                and cells_too_coarse(keys, n_cells, bucket_size, n_extra_bits)):
            return functions, keys  # fine enough, or no more distinct rows to split
        n_cells *= 2


def hash_in_cells(projected, axis_scales, *, n_cells, n_bits, n_tables, bucket_size,
                  random_state, n_extra_bits=0):
    """Fit ``n_cells`` cells (fewer when the rows have fewer distinct values) and
    the hyperplanes, and hash every row in its nearest cell; see
    :func:`fit_hash_functions`."""
    centroids = fit_centroids(projected, n_cells, random_state)
    n_cells = centroids.shape[0]
    cells = nearest_cells(projected, centroids, 1)[:, 0]
    if n_bits is None:
        max_bits = MAX_BITS - cell_id_bits(n_cells)
        cell_bits = np.minimum(bits_per_cell(np.bincount(cells, minlength=n_cells),
                                             bucket_size, max_bits) + n_extra_bits, max_bits)
        n_bits = int(cell_bits.max())
    else:
        cell_bits = np.full(n_cells, n_bits, dtype=np.int64)
    functions = HashFunctions(
        hyperplanes=draw_hyperplanes(axis_scales, n_tables, n_bits, random_state),
        centroids=centroids, cell_bits=cell_bits, n_tables=n_tables)
    return functions, functions.keys(projected, cells)


def auto_n_cells(projected, axis_scales, n_bits, bucket_size, random_state):
    """``n_cells="auto"``: one cell, unless global hyperplanes fail to split the data.

    A few trial tables hash the rows with hyperplanes through the mean, with
    ``round(log2(n_samples / bucket_size))`` bits. When the bucket a row lands in
    holds on average more than ``AUTO_CELL_TRIGGER`` times ``bucket_size`` rows,
    the data is clustered too tightly for global hyperplanes, and it is split
    into ``round(n_samples / AUTO_CELL_SIZE)`` cells. A fixed ``n_bits`` was
    chosen for the whole space: one cell.

    Returns
    -------
    int
    """
    n_samples, n_components = projected.shape
    n_cells = int(round(n_samples / AUTO_CELL_SIZE))
    if n_bits is not None or n_cells < 2:
        return 1
    bits = int(bits_per_cell(np.array([n_samples]), bucket_size, MAX_BITS)[0])
    trial = HashFunctions(
        hyperplanes=draw_hyperplanes(axis_scales, AUTO_TRIAL_TABLES, bits, random_state),
        centroids=np.zeros((1, n_components), dtype=np.float32),
        cell_bits=np.array([bits]), n_tables=AUTO_TRIAL_TABLES)
    keys = trial.keys(projected, np.zeros(n_samples, dtype=np.int64))
    _, starts, _ = bucket_directory(np.sort(keys, axis=1))
    return n_cells if row_bucket_size(starts) > AUTO_CELL_TRIGGER * bucket_size else 1


def cells_too_coarse(keys, n_cells, bucket_size, n_extra_bits=0):
    """Whether ``n_cells="auto"`` should double the cells: their hyperplanes still
    leave a row's bucket over ``AUTO_REFINE_TRIGGER`` times ``bucket_size`` (a cell
    holding several tight clusters has its centroid between them), and cells
    of half the size would still hold ``AUTO_MIN_CELL_ROWS`` rows on average.
    The keys' lowest ``n_extra_bits`` are ignored (see :func:`fit_hash_functions`)."""
    n_samples = keys.shape[1]
    if 2 * n_cells * AUTO_MIN_CELL_ROWS > n_samples:
        return False
    _, starts, _ = bucket_directory(np.sort(keys[:1] >> np.uint64(n_extra_bits), axis=1))
    return row_bucket_size(starts) > AUTO_REFINE_TRIGGER * bucket_size

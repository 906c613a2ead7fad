"""Building the index: the hash space, the cells, the sorted tables in storage order.

The fitted index is a plain ``dict`` of numpy arrays (see :func:`fit_index`),
so it pickles small and loads with ``skops`` without trusting any custom type.
:mod:`sklearn_lsh._search` answers queries from it.
"""

import numpy as np
from sklearn.utils.extmath import row_norms

from ._cells import bits_per_cell, cell_id_bits, fit_centroids, nearest_cells
from ._hashing import (
    MAX_BITS,
    cell_keys,
    data_scale,
    draw_hyperplanes,
    fit_principal_axes,
    informative_components,
    prepare_rows,
    project,
    total_variance,
)
from ._index import bucket_directory, build_tables, merge_tables, row_bucket_size

#: Most principal axes the hash space keeps (fewer when the data has fewer features).
N_COMPONENTS = 48
#: The hash space keeps the fewest leading axes explaining this share of the variance
#: (up to ``N_COMPONENTS``): axes of pure noise only blur the hash and the pre-ranking.
EXPLAINED_VARIANCE = 0.999
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
#: Rows hashed at once at fit (bounds the margins' memory: rows x tables x bits).
HASH_BLOCK = 2**15
#: Training rows used to fit the principal axes.
N_AXIS_SAMPLES = 4000

def fit_index(X, *, metric, n_bits, n_tables, random_state, n_cells=1,
              bucket_size=AUTO_BUCKET_SIZE):
    """Hash the training rows into sorted tables.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features), float32 or float64
    metric : {"euclidean", "cosine"}
    n_bits : int or None
        Hyperplanes per table; ``None`` lets each cell use
        ``round(log2(cell size / bucket_size))`` of them (see
        :func:`~sklearn_lsh._cells.bits_per_cell`). With ``n_cells > 1``,
        ``n_bits`` plus the bits of a cell number is at most 64.
    n_tables : int
    random_state : numpy.random.RandomState
    n_cells : int or None
        k-means cells hashed separately (1: plain random-hyperplane LSH), at
        most ``n_samples``. ``None`` decides from the data, see
        :func:`auto_n_cells`.
    bucket_size : float
        Rows per bucket that ``n_bits=None`` aims for.

    Returns
    -------
    dict of ndarray
        ``mean`` (n_features,), ``axes`` (n_features, n_components),
        ``hyperplanes`` (n_components, n_tables * n_bits), ``centroids``
        (n_cells, n_components), ``centroid_margins`` (n_cells, n_tables * n_bits),
        ``cell_bits`` (n_cells,), ``scale`` (a power of two the rows are divided
        by before hashing, see :func:`~sklearn_lsh._hashing.data_scale`), and the
        stored rows: ``projected`` and ``projected_sq_norms`` in *storage order*
        (the bucket order of table 0, so a bucket's rows are adjacent in
        memory), ``sample_ids`` and ``positions`` (n_samples,) mapping storage
        positions to sample indices and back, ``sorted_keys`` and ``order``
        (n_tables, n_samples), ``order`` holding storage positions, and the
        tables' bucket directory ``bucket_keys``, ``bucket_starts`` and
        ``bucket_offsets`` (see :func:`~sklearn_lsh._index.bucket_directory`),
        and ``row_bucket_size`` (0-d, see :func:`~sklearn_lsh._index.row_bucket_size`).
    """
    scale = data_scale(X)
    rows = prepare_rows(X, metric, scale)
    n_samples, n_features = X.shape
    n_axis_samples = min(n_samples, N_AXIS_SAMPLES)
    sample = np.sort(random_state.choice(n_samples, n_axis_samples, replace=False))
    n_components = min(N_COMPONENTS, n_features, n_axis_samples)
    mean, axes, scales = fit_principal_axes(rows[sample], n_components, random_state)
    kept = informative_components(scales, total_variance(rows[sample]), EXPLAINED_VARIANCE)
    axes, scales = axes[:, :kept], scales[:kept]
    projected = project(rows, mean, axes)

    refine = n_cells is None and n_bits is None
    if n_cells is None:
        n_cells = auto_n_cells(projected, scales, n_bits, bucket_size, random_state)
    refine = refine and n_cells > 1
    while True:
        hash_functions, keys = _hash_in_cells(projected, scales, n_cells, n_bits, n_tables,
                                              bucket_size, random_state)
        fitted = hash_functions["centroids"].shape[0]
        if not (refine and fitted == n_cells and
                _cells_too_coarse(keys, n_cells, bucket_size)):
            break  # fine enough, or no more distinct rows to split into cells
        n_cells *= 2
    index = dict(hash_functions, mean=mean, axes=axes,
                 scale=np.array(scale, dtype=np.float64))
    sorted_keys, order = build_tables(keys)
    # Storage order: table 0's buckets, so gathering a bucket reads adjacent rows.
    sample_ids = order[0].copy()
    positions = np.empty_like(sample_ids)
    positions[sample_ids] = np.arange(n_samples, dtype=sample_ids.dtype)
    index.update(
        projected=projected[sample_ids],
        sample_ids=sample_ids,
        positions=positions,
        order=positions[order],
    )
    set_tables(index, sorted_keys)
    index["projected_sq_norms"] = row_norms(index["projected"], squared=True)
    return index


def _hash_in_cells(projected, scales, n_cells, n_bits, n_tables, bucket_size, random_state):
    """Fit ``n_cells`` cells and the hyperplanes, and hash every row.

    Returns
    -------
    hash_functions : dict of ndarray
        ``centroids``, ``cell_bits``, ``hyperplanes`` and ``centroid_margins``.
    keys : ndarray of shape (n_tables, n_samples), uint64
    """
    centroids = fit_centroids(projected, n_cells, random_state)
    n_cells = centroids.shape[0]  # fewer when the rows have fewer distinct values
    cells = nearest_cells(projected, centroids, 1)[:, 0]
    if n_bits is None:
        cell_bits = bits_per_cell(np.bincount(cells, minlength=n_cells), bucket_size,
                                  MAX_BITS - cell_id_bits(n_cells))
        n_bits = int(cell_bits.max())
    else:
        cell_bits = np.full(n_cells, n_bits, dtype=np.int64)
    hyperplanes = draw_hyperplanes(scales, n_tables, n_bits, random_state)
    hash_functions = {
        "hyperplanes": hyperplanes,
        "centroids": centroids,
        "centroid_margins": centroids @ hyperplanes,
        "cell_bits": cell_bits,
    }
    return hash_functions, index_keys(hash_functions, projected, cells, n_tables)


def _cells_too_coarse(keys, n_cells, bucket_size):
    """Whether ``n_cells="auto"`` should double the cells: their hyperplanes still
    leave a row's bucket over ``AUTO_REFINE_TRIGGER`` times ``bucket_size`` (a cell
    holding several tight clusters has its centroid between them), and cells
    of half the size would still hold ``AUTO_MIN_CELL_ROWS`` rows on average."""
    n_samples = keys.shape[1]
    if 2 * n_cells * AUTO_MIN_CELL_ROWS > n_samples:
        return False
    _, starts, _ = bucket_directory(np.sort(keys[:1], axis=1))
    return row_bucket_size(starts) > AUTO_REFINE_TRIGGER * bucket_size


def auto_n_cells(projected, scales, n_bits, bucket_size, random_state):
    """``n_cells="auto"``: one cell, unless global hyperplanes fail to split the data.

    A few trial tables hash the rows with hyperplanes through the mean, with
    ``n_bits=None`` bits (``round(log2(n_samples / bucket_size))``). When the
    bucket a row lands in holds on average more than ``AUTO_CELL_TRIGGER`` times
    ``bucket_size`` rows, the data is clustered too tightly for global
    hyperplanes, and it is split into ``round(n_samples / AUTO_CELL_SIZE)``
    cells (which :func:`fit_index` then doubles while they are too coarse, see
    :func:`_cells_too_coarse`). A fixed ``n_bits`` was chosen for the whole
    space: one cell.

    Parameters
    ----------
    projected : ndarray of shape (n_samples, n_components), float32
    scales : ndarray of shape (n_components,)
    n_bits : int or None
    bucket_size : float
    random_state : numpy.random.RandomState

    Returns
    -------
    int
    """
    n_samples = projected.shape[0]
    n_cells = int(round(n_samples / AUTO_CELL_SIZE))
    if n_bits is not None or n_cells < 2:
        return 1
    bits = int(bits_per_cell(np.array([n_samples]), bucket_size, MAX_BITS)[0])
    trial = draw_hyperplanes(scales, AUTO_TRIAL_TABLES, bits, random_state)
    one_cell = {"hyperplanes": trial, "cell_bits": np.array([bits]),
                "centroid_margins": np.zeros((1, trial.shape[1]), dtype=np.float32)}
    keys = index_keys(one_cell, projected, np.zeros(n_samples, dtype=np.int64),
                      AUTO_TRIAL_TABLES)
    _, starts, _ = bucket_directory(np.sort(keys, axis=1))
    return n_cells if row_bucket_size(starts) > AUTO_CELL_TRIGGER * bucket_size else 1


def extend_index(index, X_new, *, metric):
    """A new index holding the old samples and ``X_new``, hashed with the same functions.

    The new rows are stored after the old ones and keep the cells and hash
    functions fitted on the old rows.

    Parameters
    ----------
    index : dict of ndarray, as returned by :func:`fit_index`
    X_new : ndarray or CSR matrix of shape (n_new, n_features)
    metric : {"euclidean", "cosine"}

    Returns
    -------
    dict of ndarray
        ``index`` is left unchanged.
    """
    projected = project_rows(index, X_new, metric)
    cells = nearest_cells(projected, index["centroids"], 1)[:, 0]
    keys = index_keys(index, projected, cells, index["sorted_keys"].shape[0])
    sorted_keys, order = merge_tables(index["sorted_keys"], index["order"], keys)
    n_old, n_new = index["sample_ids"].shape[0], projected.shape[0]
    new_ids = np.arange(n_old, n_old + n_new, dtype=order.dtype)
    extended = dict(index, order=order)
    set_tables(extended, sorted_keys)
    extended["sample_ids"] = np.concatenate([index["sample_ids"].astype(order.dtype), new_ids])
    extended["positions"] = np.concatenate([index["positions"].astype(order.dtype), new_ids])
    extended["projected"] = np.vstack([index["projected"], projected])
    extended["projected_sq_norms"] = np.concatenate(
        [index["projected_sq_norms"], row_norms(projected, squared=True)])
    return extended


def set_tables(index, sorted_keys):
    """Store the sorted keys, their bucket directory and the bucket a row falls in."""
    index["sorted_keys"] = sorted_keys
    index["bucket_keys"], index["bucket_starts"], index["bucket_offsets"] = \
        bucket_directory(sorted_keys)
    # Once per build, not per query call: at 10^6 rows it costs more than a query.
    index["row_bucket_size"] = np.array(row_bucket_size(index["bucket_starts"]))


def index_keys(index, projected, cells, n_tables):
    """Each row's key in every table, hashed in cell ``cells[i]``; shape (n_tables, n_rows).

    Rows are hashed in blocks, so the margins never exist for all rows at once.
    """
    n_rows = projected.shape[0]
    n_bits = index["hyperplanes"].shape[1] // n_tables
    keys = np.empty((n_tables, n_rows), dtype=np.uint64)
    for start in range(0, n_rows, HASH_BLOCK):  # blocks of rows, never one per row
        rows = slice(start, min(start + HASH_BLOCK, n_rows))
        margins = projected[rows] @ index["hyperplanes"] - \
            index["centroid_margins"][cells[rows]]
        keys[:, rows] = cell_keys(margins, cells[rows], index["cell_bits"], n_tables, n_bits)
    return keys


def project_rows(index, rows, metric):
    """Rows in the fitted hash space (rescaled, normalised for cosine, centred, projected)."""
    return project(prepare_rows(rows, metric, index["scale"]), index["mean"], index["axes"])


def table_shape(index):
    n_tables = index["sorted_keys"].shape[0]
    return n_tables, index["hyperplanes"].shape[1] // n_tables

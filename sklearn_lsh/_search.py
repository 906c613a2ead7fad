"""The query engine shared by every estimator: fit an index, answer k-NN and radius queries.

The fitted index is a plain ``dict`` of numpy arrays (see :func:`fit_index`),
so it pickles small and loads with ``skops`` without trusting any custom type.
Queries run in chunks sized from ``sklearn.get_config()["working_memory"]``;
chunks may run in parallel threads, and each query's answer depends on that
query alone, never on its batch.
"""

import numpy as np
from joblib import Parallel, delayed
from sklearn import get_config
from sklearn.metrics import pairwise_distances_chunked
from sklearn.utils.extmath import row_norms
from threadpoolctl import threadpool_limits

from ._cells import bits_per_cell, cell_id_bits, fit_centroids, nearest_cells
from ._hashing import (
    MAX_BITS,
    MAX_PROBE_BITS,
    cell_keys,
    data_scale,
    draw_hyperplanes,
    fit_principal_axes,
    informative_components,
    prepare_rows,
    probe_keys,
    project,
    total_variance,
)
from ._index import (
    bucket_bounds,
    bucket_directory,
    build_tables,
    gather_candidates,
    merge_tables,
    raw_candidate_counts,
    row_bucket_size,
    split_by_budget,
)
from ._rerank import pair_distances, projected_sq_distances, shortlist, top_k

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
#: Rows hashed at once at fit (bounds the margins' memory: rows x tables x bits).
HASH_BLOCK = 2**15
#: Training rows used to fit the principal axes.
N_AXIS_SAMPLES = 4000
#: Bytes the engine budgets per (query, candidate) pair, besides the projection.
_BYTES_PER_PAIR = 64
#: Raw (not yet de-duplicated) candidates a chunk of queries aims at: fashion-mnist
#: with ~7500 per query ran fastest at 64 queries a chunk, 10^6 clustered points
#: with ~1900 at 256 (smaller chunks stay in cache, more of them parallelise).
CHUNK_CANDIDATES = 2**19
#: Most queries in one chunk.
MAX_CHUNK = 1024
#: Bytes of one batch of padded candidate arrays.
BATCH_BYTES = 2**24


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
        ``bucket_offsets`` (see :func:`~sklearn_lsh._index.bucket_directory`).
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

    if n_cells is None:
        n_cells = auto_n_cells(projected, scales, n_bits, bucket_size, random_state)
    centroids = fit_centroids(projected, n_cells, random_state)
    cells = nearest_cells(projected, centroids, 1)[:, 0]
    if n_bits is None:
        cell_bits = bits_per_cell(np.bincount(cells, minlength=n_cells), bucket_size,
                                  MAX_BITS - cell_id_bits(n_cells))
        n_bits = int(cell_bits.max())
    else:
        cell_bits = np.full(n_cells, n_bits, dtype=np.int64)
    hyperplanes = draw_hyperplanes(scales, n_tables, n_bits, random_state)
    index = {
        "mean": mean,
        "axes": axes,
        "hyperplanes": hyperplanes,
        "centroids": centroids,
        "centroid_margins": centroids @ hyperplanes,
        "cell_bits": cell_bits,
        "scale": np.array(scale, dtype=np.float64),
    }
    keys = _keys(index, projected, cells, n_tables)
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
    _set_tables(index, sorted_keys)
    index["projected_sq_norms"] = row_norms(index["projected"], squared=True)
    return index


def auto_n_cells(projected, scales, n_bits, bucket_size, random_state):
    """``n_cells="auto"``: one cell, unless global hyperplanes fail to split the data.

    A few trial tables hash the rows with hyperplanes through the mean, with
    ``n_bits=None`` bits (``round(log2(n_samples / bucket_size))``). When the
    bucket a row lands in holds on average more than ``AUTO_CELL_TRIGGER`` times
    ``bucket_size`` rows, the data is clustered too tightly for global
    hyperplanes, and it is split into ``round(n_samples / AUTO_CELL_SIZE)``
    cells. A fixed ``n_bits`` was chosen for the whole space: one cell.

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
    keys = _keys(one_cell, projected, np.zeros(n_samples, dtype=np.int64), AUTO_TRIAL_TABLES)
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
    projected = _project(index, X_new, metric)
    cells = nearest_cells(projected, index["centroids"], 1)[:, 0]
    keys = _keys(index, projected, cells, index["sorted_keys"].shape[0])
    sorted_keys, order = merge_tables(index["sorted_keys"], index["order"], keys)
    n_old, n_new = index["sample_ids"].shape[0], projected.shape[0]
    new_ids = np.arange(n_old, n_old + n_new, dtype=order.dtype)
    extended = dict(index, order=order)
    _set_tables(extended, sorted_keys)
    extended["sample_ids"] = np.concatenate([index["sample_ids"].astype(order.dtype), new_ids])
    extended["positions"] = np.concatenate([index["positions"].astype(order.dtype), new_ids])
    extended["projected"] = np.vstack([index["projected"], projected])
    extended["projected_sq_norms"] = np.concatenate(
        [index["projected_sq_norms"], row_norms(projected, squared=True)])
    return extended


def _set_tables(index, sorted_keys):
    """Store the sorted keys and their bucket directory in ``index``."""
    index["sorted_keys"] = sorted_keys
    index["bucket_keys"], index["bucket_starts"], index["bucket_offsets"] = \
        bucket_directory(sorted_keys)


def _keys(index, projected, cells, n_tables):
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


def kneighbors(index, samples, queries, n_neighbors, *, metric, n_probes, n_candidates,
               n_cell_probes=1, exclude_self=False, n_jobs=None):
    """Approximate k nearest neighbours with exact distances.

    Parameters
    ----------
    index : dict of ndarray
    samples : ndarray or CSR matrix of shape (n_samples, n_features)
        The indexed rows.
    queries : ndarray or CSR matrix of shape (n_queries, n_features), or None
        ``None`` queries the indexed rows themselves.
    n_neighbors : int
        At most ``n_samples`` (``n_samples - 1`` when excluding self).
    metric : {"euclidean", "cosine"}
    n_probes : int
        Extra buckets visited per table and visited cell.
    n_candidates : int
        Candidates per query whose exact distance is computed.
    n_cell_probes : int
        Nearest cells visited per query (clipped to the number of cells).
    exclude_self : bool
        With ``queries=None``, leave each row out of its own neighbours.
    n_jobs : int or None

    Returns
    -------
    distances : ndarray of shape (n_queries, n_neighbors)
        Ascending; ties broken by index.
    indices : ndarray of shape (n_queries, n_neighbors), int64
        Distinct sample indices.
    """
    params = dict(metric=metric, n_probes=n_probes, n_neighbors=n_neighbors,
                  n_candidates=max(n_candidates, n_neighbors),
                  n_cell_probes=min(n_cell_probes, index["centroids"].shape[0]))
    n_queries = (samples if queries is None else queries).shape[0]
    # Chunks write straight into the result: peak memory is the output plus
    # one chunk's working set, however many queries arrive.
    distances = np.empty((n_queries, n_neighbors), dtype=samples.dtype)
    indices = np.empty((n_queries, n_neighbors), dtype=np.int64)

    def store(rows, result):
        distances[rows], indices[rows] = result

    _map_chunks(_kneighbors_chunk, index, samples, queries, params, exclude_self, n_jobs,
                store=store)
    return distances, indices


def radius_neighbors(index, samples, queries, radius, *, metric, n_probes,
                     n_cell_probes=1, exclude_self=False, n_jobs=None):
    """Candidates within ``radius``, as CSR arrays with exact distances.

    Returns
    -------
    indptr : ndarray of shape (n_queries + 1,)
    indices : ndarray of shape (indptr[-1],), int64
    distances : ndarray of shape (indptr[-1],)
        Each query's neighbours are sorted by (distance, index).
    """
    params = dict(metric=metric, n_probes=n_probes, radius=radius,
                  n_cell_probes=min(n_cell_probes, index["centroids"].shape[0]))
    results = _map_chunks(_radius_chunk, index, samples, queries, params,
                          exclude_self, n_jobs)
    counts = np.concatenate([np.diff(r[0]) for r in results])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return (indptr, np.concatenate([r[1] for r in results]),
            np.concatenate([r[2] for r in results]))


def _map_chunks(chunk_function, index, samples, queries, params, exclude_self, n_jobs,
                store=None):
    """Run ``chunk_function`` over query chunks, in order, possibly in threads.

    Returns the chunks' results in order, or hands each to ``store(rows, result)``
    as soon as it is ready and returns None.
    """
    query_rows = samples if queries is None else queries
    n_queries = query_rows.shape[0]
    chunk_size = _chunk_size(index, query_rows.shape[1], params)
    slices = [slice(start, min(start + chunk_size, n_queries))
              for start in range(0, n_queries, chunk_size)] or [slice(0, 0)]

    def run(rows):
        own_ids = np.arange(rows.start, rows.stop) if exclude_self else None
        projected = None
        if queries is None:
            projected = index["projected"][index["positions"][rows]]
        result = chunk_function(index, samples, query_rows[rows], projected, own_ids,
                                **params)
        if store is None:
            return result
        store(rows, result)

    if len(slices) == 1 or n_jobs in (None, 1):
        return [run(rows) for rows in slices]
    # The chunks' small matrix products must not each start a BLAS thread pool
    # on top of ours: oversubscribed, two threads ran slower than one.
    with threadpool_limits(limits=1, user_api="blas"):
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(run)(rows) for rows in slices)


def _working_bytes():
    return get_config()["working_memory"] * 2**20


def _chunk_size(index, n_features, params):
    """Queries per chunk: about ``CHUNK_CANDIDATES`` raw candidates, and few enough
    for the shortlist's gathered rows to fit ``working_memory``; candidate
    batches are bounded again in :func:`_batches`."""
    per_query = 3 * 8 * n_features * params.get("n_candidates", 1)
    by_memory = _working_bytes() // per_query
    by_candidates = CHUNK_CANDIDATES // max(_expected_candidates(index, params), 1)
    return int(max(1, min(by_memory, by_candidates, MAX_CHUNK)))


def _expected_candidates(index, params):
    """Raw candidates of a typical query: probed buckets times the bucket a row is in."""
    n_tables, _ = _table_shape(index)
    n_keys = (1 + params["n_probes"]) * params["n_cell_probes"]
    return int(n_tables * n_keys * row_bucket_size(index["bucket_starts"]))


def _project(index, rows, metric):
    """Rows in the fitted hash space (rescaled, normalised for cosine, centred, projected)."""
    return project(prepare_rows(rows, metric, index["scale"]), index["mean"], index["axes"])


def _table_shape(index):
    n_tables = index["sorted_keys"].shape[0]
    return n_tables, index["hyperplanes"].shape[1] // n_tables


def _probe(index, query_rows, projected, metric, n_probes, n_cell_probes):
    """Project and hash queries, then find their buckets' ``[lo, hi)`` bounds.

    Each query visits its ``n_cell_probes`` nearest cells and, in each, its own
    bucket and ``n_probes`` nearby ones per table.
    """
    n_tables, n_bits = _table_shape(index)
    if projected is None:
        projected = _project(index, query_rows, metric)
    margins = projected @ index["hyperplanes"]
    probes = []
    for cells in nearest_cells(projected, index["centroids"], n_cell_probes).T:
        cell_margins = margins - index["centroid_margins"][cells]
        keys = cell_keys(cell_margins, cells, index["cell_bits"], n_tables, n_bits)
        probes.append(probe_keys(keys, cell_margins, n_tables, n_bits, n_probes,
                                 n_usable_bits=index["cell_bits"][cells]))
    directory = index["bucket_keys"], index["bucket_starts"], index["bucket_offsets"]
    lo, hi = bucket_bounds(directory, np.concatenate(probes, axis=2))
    return projected, lo, hi


def _batches(lo, hi, n_components):
    """Split a chunk so each batch's padded candidate arrays fit ``working_memory``."""
    # Batches small enough to stay clear of fresh page-mapped allocations run
    # several times faster than one big batch.
    max_cells = min(_working_bytes(), BATCH_BYTES) // (_BYTES_PER_PAIR + 4 * n_components)
    return split_by_budget(raw_candidate_counts(lo, hi), max(max_cells, 1))


def _kneighbors_chunk(index, samples, query_rows, projected, own_ids, *, metric,
                      n_probes, n_neighbors, n_candidates, n_cell_probes):
    projected, lo, hi = _probe(index, query_rows, projected, metric, n_probes,
                               n_cell_probes)
    kept = [
        _shortlist(index, projected[b], lo[b], hi[b], n_candidates,
                   None if own_ids is None else own_ids[b])
        for b in _batches(lo, hi, projected.shape[1])
    ]
    width = max(n_neighbors, max(k.shape[1] for k in kept))
    kept = np.vstack([np.pad(k, ((0, 0), (0, width - k.shape[1])), constant_values=-1)
                      for k in kept])
    distances = _shortlist_distances(index, samples, query_rows, kept, metric)
    result_distances, result_indices = top_k(kept, distances, n_neighbors)

    short = np.flatnonzero((kept >= 0).sum(axis=1) < n_neighbors)
    if short.size:
        # Too few candidates in the probed buckets: widen the probe, then fall
        # back to exact search for whatever is still short.
        result_distances[short], result_indices[short] = _widened_search(
            index, samples, query_rows[short], projected[short],
            None if own_ids is None else own_ids[short],
            metric, n_neighbors, n_candidates, n_probes, n_cell_probes)
    return result_distances, result_indices


def _shortlist(index, projected, lo, hi, n_candidates, own_ids):
    """Sample indices of each query's best candidates by projected distance, ``-1`` padded."""
    candidates = gather_candidates(index["order"], lo, hi)  # storage positions
    sq = projected_sq_distances(projected, index["projected"],
                                index["projected_sq_norms"], candidates)
    own_positions = None if own_ids is None else index["positions"][own_ids]
    kept = shortlist(candidates, sq, n_candidates, exclude=own_positions)
    return _sample_ids(index, kept)


def _sample_ids(index, positions):
    """Sample indices at storage ``positions`` (int64), keeping ``-1`` for empty slots."""
    ids = index["sample_ids"][np.maximum(positions, 0)].astype(np.int64)
    ids[positions < 0] = -1
    return ids


def _widened_search(index, samples, query_rows, projected, own_ids, metric,
                    n_neighbors, n_candidates, n_probes, n_cell_probes):
    _, n_bits = _table_shape(index)
    wide_probes = 2 ** min(n_bits, MAX_PROBE_BITS) - 1
    distances = np.full((query_rows.shape[0], n_neighbors), np.inf, dtype=samples.dtype)
    indices = np.full((query_rows.shape[0], n_neighbors), -1, dtype=np.int64)
    remaining = np.arange(query_rows.shape[0])
    if wide_probes > n_probes:
        _, lo, hi = _probe(index, query_rows, projected, metric, wide_probes,
                           n_cell_probes)
        kept = _shortlist(index, projected, lo, hi, n_candidates, own_ids)
        enough = (kept >= 0).sum(axis=1) >= n_neighbors
        if enough.any():
            kept = kept[enough]
            found = _shortlist_distances(index, samples, query_rows[enough], kept, metric)
            distances[enough], indices[enough] = top_k(kept, found, n_neighbors)
        remaining = np.flatnonzero(~enough)
    if remaining.size:
        distances[remaining], indices[remaining] = _exact_kneighbors(
            samples, query_rows[remaining], n_neighbors, metric,
            None if own_ids is None else own_ids[remaining])
    return distances, indices


def _exact_kneighbors(samples, query_rows, n_neighbors, metric, own_ids):
    """Brute-force k-NN, in chunks bounded by ``working_memory``."""
    results, start = [], 0
    for block in pairwise_distances_chunked(query_rows, samples, metric=metric):
        rows = np.arange(start, start + block.shape[0])
        if own_ids is not None:
            block[np.arange(block.shape[0]), own_ids[rows]] = np.inf
        candidates = np.broadcast_to(np.arange(samples.shape[0]), block.shape)
        results.append(top_k(candidates, block, n_neighbors))
        start += block.shape[0]
    return np.vstack([r[0] for r in results]), np.vstack([r[1] for r in results])


def _shortlist_distances(index, samples, query_rows, kept, metric):
    """Exact distances for a padded shortlist; ``inf`` where ``kept == -1``."""
    valid = kept >= 0
    query_of, _ = np.nonzero(valid)
    distances = np.full(kept.shape, np.inf, dtype=samples.dtype)
    distances[valid] = pair_distances(query_rows, samples, query_of, kept[valid], metric,
                                      index["scale"])
    return distances


def _radius_chunk(index, samples, query_rows, projected, own_ids, *, metric, n_probes,
                  radius, n_cell_probes):
    projected, lo, hi = _probe(index, query_rows, projected, metric, n_probes,
                               n_cell_probes)
    parts = []
    for b in _batches(lo, hi, projected.shape[1]):
        candidates = gather_candidates(index["order"], lo[b], hi[b])
        sq = projected_sq_distances(projected[b], index["projected"],
                                    index["projected_sq_norms"], candidates)
        # The projection is orthonormal, so its distance never exceeds the true
        # one (for cosine, sq / 2 <= 1 - cos): prune before the exact pass,
        # with slack for the rounding of the expanded form.
        bound = (radius / index["scale"])**2 if metric == "euclidean" else 2 * radius
        slack = 1e-4 * (index["projected_sq_norms"][np.maximum(candidates, 0)] + 1.0)
        keep = (candidates >= 0) & (sq <= bound * (1 + 1e-4) + slack)
        if own_ids is not None:
            keep &= candidates != index["positions"][own_ids[b]][:, None]
        query_of, column = np.nonzero(keep)
        parts.append((query_of + b.start, _sample_ids(index, candidates[query_of, column])))
    query_of = np.concatenate([p[0] for p in parts])
    candidates = np.concatenate([p[1] for p in parts]).astype(np.int64)
    distances = pair_distances(query_rows, samples, query_of, candidates, metric,
                               index["scale"])
    within = distances <= radius
    query_of, candidates, distances = query_of[within], candidates[within], distances[within]
    order = np.lexsort((candidates, distances, query_of))
    counts = np.bincount(query_of, minlength=query_rows.shape[0])
    return np.concatenate([[0], np.cumsum(counts)]), candidates[order], distances[order]

"""The query engine shared by every estimator: k-NN and radius queries on a fitted index.

The index is the ``dict`` of numpy arrays :func:`sklearn_lsh._build.fit_index`
returns. Queries run in chunks sized from ``sklearn.get_config()["working_memory"]``;
chunks may run in parallel threads, and each query's answer depends on that
query alone, never on its batch.
"""

import numpy as np
from joblib import Parallel, delayed
from sklearn import get_config
from sklearn.metrics import pairwise_distances_chunked
from threadpoolctl import threadpool_limits

from ._build import project_rows, table_shape
from ._cells import nearest_cells
from ._hashing import MAX_PROBE_BITS, cell_keys, probe_keys
from ._index import (
    bucket_bounds,
    gather_candidates,
    raw_candidate_counts,
    split_by_budget,
)
from ._rerank import pair_distances, projected_sq_distances, shortlist, top_k

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
    n_tables, _ = table_shape(index)
    n_keys = (1 + params["n_probes"]) * params["n_cell_probes"]
    return int(n_tables * n_keys * index["row_bucket_size"])


def _probe(index, query_rows, projected, metric, n_probes, n_cell_probes):
    """Project and hash queries, then find their buckets' ``[lo, hi)`` bounds.

    Each query visits its ``n_cell_probes`` nearest cells and, in each, its own
    bucket and ``n_probes`` nearby ones per table.
    """
    n_tables, n_bits = table_shape(index)
    if projected is None:
        projected = project_rows(index, query_rows, metric)
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
    _, n_bits = table_shape(index)
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

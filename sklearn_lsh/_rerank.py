"""Ranking of candidates: cheap pre-ranking in the projection, exact distances, top-k.

Nothing here knows about hash tables or estimators; every function takes and
returns plain arrays. Candidates are *row numbers* of the array they index
(the query engine passes storage positions to the pre-ranking and sample ids
to the exact ranking, see :mod:`sklearn_lsh._lsh_index`).
"""

import numpy as np
import scipy.sparse as sp

#: Key of an empty or excluded slot; sorts after every real key.
_EMPTY_KEY = np.iinfo(np.int64).max
_INDEX_BITS = np.int64(32)
_INDEX_MASK = np.int64(2**32 - 1)


def projected_sq_distances(projected_queries, projected_samples, projected_sq_norms,
                           candidates):
    """Squared distances in the projection: a cheap lower bound of the true ones.

    Parameters
    ----------
    projected_queries : ndarray of shape (n_queries, n_components), float32
    projected_samples : ndarray of shape (n_rows, n_components), float32
    projected_sq_norms : ndarray of shape (n_rows,), float32
        Squared norm of every projected row.
    candidates : ndarray of shape (n_queries, width)
        Row numbers of ``projected_samples``, ``-1`` for empty slots.

    Returns
    -------
    sq_distances : ndarray of shape (n_queries, width), float32
        ``inf`` in empty slots. Computed as ``|c|^2 - 2 c.q + |q|^2``, so it can
        be off by about ``1e-6 * (|c|^2 + |q|^2)``.
    """
    safe = np.maximum(candidates, 0)
    dots = np.matmul(projected_samples[safe], projected_queries[:, :, None])[:, :, 0]
    query_sq_norms = np.einsum("ij,ij->i", projected_queries, projected_queries)
    sq = projected_sq_norms[safe] - 2 * dots + query_sq_norms[:, None]
    np.maximum(sq, 0, out=sq)
    sq[candidates < 0] = np.inf
    return sq


def shortlist(candidates, sq_distances, n_keep, exclude=None):
    """The ``n_keep`` candidates of each query with the smallest ``sq_distances``.

    Ties are broken by row number, so a query's shortlist never depends on the
    other queries in its batch.

    Parameters
    ----------
    candidates : ndarray of shape (n_queries, width)
        Row numbers, ``-1`` for empty slots.
    sq_distances : ndarray of shape (n_queries, width), float32, non-negative
    n_keep : int
    exclude : ndarray of shape (n_queries,) or None
        A row number per query never to keep (the query itself).

    Returns
    -------
    ndarray of shape (n_queries, min(width, n_keep)), int64
        Row numbers in no particular order, ``-1`` where a query has fewer.
    """
    # A non-negative float32's bit pattern orders like the float, so one int64
    # key (distance bits, row number) sorts by distance, then by row number.
    keys = np.ascontiguousarray(sq_distances, dtype=np.float32).view(np.int32)
    keys = (keys.astype(np.int64) << _INDEX_BITS) | np.maximum(candidates, 0)
    empty = candidates < 0
    if exclude is not None:
        empty |= candidates == exclude[:, None]
    keys[empty] = _EMPTY_KEY
    if keys.shape[1] > n_keep:
        keys = np.partition(keys, n_keep - 1, axis=1)[:, :n_keep]
    return np.where(keys == _EMPTY_KEY, -1, keys & _INDEX_MASK)


def pair_distances(queries, samples, query_of, candidates, metric, scale=1.0):
    """Exact metric distances of query/sample pairs, as scikit-learn defines them.

    Parameters
    ----------
    queries : ndarray or CSR matrix of shape (n_queries, n_features)
    samples : ndarray or CSR matrix of shape (n_samples, n_features)
    query_of, candidates : ndarray of shape (n_pairs,)
    metric : {"euclidean", "cosine"}
    scale : float
        A power of two both sides are divided by first, so values far from 1
        neither overflow nor underflow when squared (see ``data_scale``).

    Returns
    -------
    ndarray of shape (n_pairs,), float32 when both sides are float32, else float64
        Euclidean distance, or cosine distance ``1 - cos`` clipped to [0, 2]
        (a zero row is at distance 1 from everything, as in scikit-learn).
        Pairs whose squares still leave the floating-point range are redone
        in float64 with a per-pair scale, so a distance is finite whenever it
        fits in the data's dtype.
    """
    with np.errstate(all="ignore"):  # whatever leaves the float range is redone below
        distances, redo = _fast_pair_distances(queries, samples, query_of, candidates, metric,
                                               float(scale))
    if redo.size:
        with np.errstate(over="ignore"):  # beyond the dtype's range: inf, as it should be
            distances[redo] = _careful_distances(
                samples[candidates[redo]], queries[query_of[redo]], metric)
    return distances


def candidate_distances(queries, samples, candidates, metric, scale=1.0):
    """Exact distances of each query to its candidates (a padded rectangle).

    Parameters
    ----------
    queries : ndarray or CSR matrix of shape (n_queries, n_features)
    samples : ndarray or CSR matrix of shape (n_samples, n_features)
    candidates : ndarray of shape (n_queries, width)
        Row numbers of ``samples``, ``-1`` for empty slots.
    metric : {"euclidean", "cosine"}
    scale : float
        As for :func:`pair_distances`.

    Returns
    -------
    ndarray of shape (n_queries, width)
        :func:`pair_distances` of every (query, candidate) pair; ``inf`` in
        empty slots.
    """
    valid = candidates >= 0
    dtype = np.result_type(queries.dtype, samples.dtype)
    if sp.issparse(samples) or scale != 1.0 or queries.shape[0] == 0:
        query_of, _ = np.nonzero(valid)
        distances = np.full(candidates.shape, np.inf, dtype=dtype)
        distances[valid] = pair_distances(queries, samples, query_of, candidates[valid],
                                          metric, scale)
        return distances
    # Dense euclidean: one gathered block, differences taken in place (fresh
    # allocations are what a small re-rank spends its time on).
    gathered = samples[np.maximum(candidates, 0)].astype(dtype, copy=False)
    if metric == "cosine":
        return _cosine_rectangle(gathered, queries.astype(dtype, copy=False), samples,
                                 candidates, valid)
    gathered -= queries[:, None, :]
    sq = np.einsum("qwd,qwd->qw", gathered, gathered)
    distances = np.sqrt(sq)
    redo = valid & _squares_lost(sq, dtype)
    if np.any(redo):  # squares out of range (or exact zeros): done carefully
        query_of, _ = np.nonzero(redo)
        with np.errstate(over="ignore"):
            distances[redo] = _careful_distances(samples[candidates[redo]], queries[query_of],
                                                 metric)
    distances[~valid] = np.inf
    return distances


def _cosine_rectangle(gathered, queries, samples, candidates, valid):
    """Cosine distances of each query to its gathered candidate rows (dense), each
    query's norm taken once; pairs whose squares leave the float range (or hold a
    zero row) are redone as :func:`pair_distances` does."""
    # einsum, not a BLAS product: a pair's dot then never depends on where the
    # candidate sits in the block (BLAS rounding does), so equal pairs tie exactly.
    dots = np.einsum("qwd,qd->qw", gathered, queries)
    sq_gathered = np.einsum("qwd,qwd->qw", gathered, gathered)
    sq_queries = np.einsum("qd,qd->q", queries, queries)[:, None]
    with np.errstate(all="ignore"):  # whatever leaves the float range is redone below
        norms = np.sqrt(sq_gathered) * np.sqrt(sq_queries)
        cosines = dots / np.where(norms > 0, norms, 1)
    distances = np.clip(1.0 - cosines, 0.0, 2.0)
    tiny = _smallest_safe_square(gathered.dtype)
    redo = valid & (~np.isfinite(dots) | ~np.isfinite(norms) | ~(sq_gathered >= tiny)
                    | ~(sq_queries >= tiny))
    if np.any(redo):
        query_of, _ = np.nonzero(redo)
        distances[redo] = _careful_distances(samples[candidates[redo]], queries[query_of],
                                             "cosine")
    distances[~valid] = np.inf
    return distances


def _fast_pair_distances(queries, samples, query_of, candidates, metric, scale):
    """Distances in the data's dtype, and the pairs whose squares left its range."""
    dtype = np.result_type(queries.dtype, samples.dtype)
    if scale != 1.0:
        queries = queries * (1.0 / scale)
    gathered, paired = samples[candidates], queries[query_of]
    if scale != 1.0:
        gathered = gathered * (1.0 / scale)
    if sp.issparse(samples) or metric == "cosine":
        # Each query's squared norm once, not once per candidate pair.
        if sp.issparse(samples):
            dots = _row_sums(gathered.multiply(paired))
            sq_gathered = _row_sums(gathered.multiply(gathered))
            sq_paired = _row_sums(queries.multiply(queries))[query_of]
        else:
            dots = np.einsum("ij,ij->i", gathered, paired)
            sq_gathered = np.einsum("ij,ij->i", gathered, gathered)
            sq_paired = np.einsum("ij,ij->i", queries, queries)[query_of]
        if metric == "euclidean":
            sq = np.maximum(sq_gathered + sq_paired - 2.0 * dots, 0.0)
    else:
        diff = gathered - paired
        sq = np.einsum("ij,ij->i", diff, diff)

    if metric == "euclidean":
        distances = np.sqrt(sq).astype(dtype, copy=False) * np.array(scale, dtype=dtype)
        return distances, np.flatnonzero(_squares_lost(sq, dtype))
    norms = np.sqrt(sq_gathered) * np.sqrt(sq_paired)
    cosines = dots / np.where(norms > 0, norms, 1)
    distances = np.clip(1.0 - cosines, 0.0, 2.0).astype(dtype, copy=False)
    tiny = _smallest_safe_square(dtype)
    redo = ~np.isfinite(dots) | ~np.isfinite(norms) | ~(sq_gathered >= tiny) | \
        ~(sq_paired >= tiny)
    return distances, np.flatnonzero(redo)


def _smallest_safe_square(dtype):
    """Squares below this lost digits to underflow (or are exact zeros of distinct
    points): their pairs are redone carefully."""
    return np.finfo(dtype).tiny / np.finfo(dtype).eps


def _squares_lost(sq, dtype):
    """Which squared distances left the float range, above or below: their pairs lose
    the answer and are redone (see :func:`_careful_distances`)."""
    return ~(sq >= _smallest_safe_square(dtype)) | ~np.isfinite(sq)


def _row_sums(matrix):
    return np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()


def _as64(rows):
    """Rows in float64, CSR rows staying sparse (a wide row is never densified)."""
    return sp.csr_matrix(rows, dtype=np.float64) if sp.issparse(rows) else \
        rows.astype(np.float64)


def _row_peaks(rows):
    """Largest magnitude of each row (dense or CSR); 1 for an all-zero row."""
    if sp.issparse(rows):
        peaks = np.asarray(abs(rows).max(axis=1).todense()).ravel()
    else:
        peaks = np.max(np.abs(rows), axis=1)
    return np.where(peaks > 0, peaks, 1.0)


def _scaled_rows(rows, factors):
    """Each row multiplied by its factor."""
    if sp.issparse(rows):
        return sp.csr_matrix(sp.diags(factors) @ rows)
    return rows * factors[:, None]


def _row_dots(a, b):
    if sp.issparse(a):
        return _row_sums(a.multiply(b))
    return np.einsum("ij,ij->i", a, b)


def _careful_distances(a, b, metric):
    """Distances of row pairs in float64, each pair scaled by its largest value first.

    Parameters
    ----------
    a, b : ndarray or CSR matrix of shape (n_pairs, n_features)

    Returns
    -------
    ndarray of shape (n_pairs,), float64
    """
    a, b = _as64(a), _as64(b)
    if metric == "euclidean":
        diff = a - b
        peak = _row_peaks(diff)
        unit = _scaled_rows(diff, 1.0 / peak)
        return peak * np.sqrt(_row_dots(unit, unit))
    a = _scaled_rows(a, 1.0 / _row_peaks(a))
    b = _scaled_rows(b, 1.0 / _row_peaks(b))
    norms = np.sqrt(_row_dots(a, a) * _row_dots(b, b))
    cosines = _row_dots(a, b) / np.where(norms > 0, norms, 1.0)
    return np.clip(1.0 - cosines, 0.0, 2.0)


def top_k(indices, distances, n_neighbors):
    """Sort each row by (distance, index) and keep the first ``n_neighbors``.

    Parameters
    ----------
    indices : ndarray of shape (n_queries, width), ``-1`` for empty slots
    distances : ndarray of shape (n_queries, width), ``inf`` for empty slots
    n_neighbors : int

    Returns
    -------
    distances, indices : ndarray of shape (n_queries, n_neighbors)
    """
    tie_break = np.where(indices < 0, np.iinfo(np.int64).max, indices)
    order = np.lexsort((tie_break, distances), axis=1)[:, :n_neighbors]
    return (
        np.take_along_axis(distances, order, axis=1),
        np.take_along_axis(indices, order, axis=1),
    )


#: Rows x neighbours merged at once by :func:`merge_reverse_pairs` (bounds its blocks).
MERGE_BLOCK_PAIRS = 2**17


def merge_reverse_pairs(distances, indices):
    """The neighbours of indexed rows queried as themselves, each row's list merged
    with the rows that list it.

    Row ``i``'s query found row ``j`` at distance ``d``: ``i`` is then a candidate
    of row ``j`` at the same distance, with no distance to compute. Each row
    keeps the best of its own neighbours and of the rows that found it. Memory:
    a few times ``indices`` (the pairs grouped by the row found), then blocks of
    ``MERGE_BLOCK_PAIRS`` pairs.

    Parameters
    ----------
    distances : ndarray of shape (n_rows, n_neighbors)
        Ascending, ``inf`` in empty slots.
    indices : ndarray of shape (n_rows, n_neighbors), int64
        Row ``i`` holds the neighbours of indexed row ``i``; ``-1`` in empty slots.

    Returns
    -------
    distances, indices : ndarray of shape (n_rows, n_neighbors)
        Each row's ``n_neighbors`` best distinct neighbours, by (distance, index).
    """
    n_rows, n_neighbors = indices.shape
    merged_distances = np.full(distances.shape, np.inf, dtype=distances.dtype)
    merged_indices = np.full(indices.shape, -1, dtype=indices.dtype)
    if indices.size == 0:
        return merged_distances, merged_indices
    # The rows that found each row, grouped by the row found (finders ascending).
    finder, slot = np.nonzero(indices >= 0)
    found = indices[finder, slot]
    by_found = np.argsort(found, kind="stable")
    found, finder_distance = found[by_found], distances[finder, slot][by_found]
    finder = finder[by_found]
    del slot, by_found
    block = max(1, MERGE_BLOCK_PAIRS // n_neighbors)
    for start in range(0, n_rows, block):  # blocks of rows, never one per row
        stop = min(start + block, n_rows)
        first, last = np.searchsorted(found, [start, stop])
        own = indices[start:stop] >= 0
        row = np.concatenate([np.nonzero(own)[0], found[first:last] - start])
        other = np.concatenate([indices[start:stop][own], finder[first:last]])
        distance = np.concatenate([distances[start:stop][own],
                                   finder_distance[first:last]])
        merged_distances[start:stop], merged_indices[start:stop] = _best_distinct(
            row, other, distance, stop - start, n_neighbors, n_rows,
            distances.dtype, indices.dtype)
    return merged_distances, merged_indices


def _best_distinct(row, other, distance, n_block_rows, n_neighbors, n_rows, dtype,
                   index_dtype):
    """Each block row's ``n_neighbors`` best distinct ``other`` by (distance, other),
    from pairs ``(row, other, distance)``; a pair given twice keeps its smaller
    distance (should rounding make them differ)."""
    order = np.argsort(row * n_rows + other, kind="stable")
    row, other, distance = row[order], other[order], distance[order]
    first = np.ones(row.size, dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (other[1:] != other[:-1])
    starts = np.flatnonzero(first)
    distance = np.minimum.reduceat(distance, starts) if starts.size else distance
    row, other = row[starts], other[starts]
    # By (row, distance), stably: ``other`` stays ascending among ties. A non-negative
    # float's bit pattern orders like the float.
    bits = np.ascontiguousarray(distance, dtype=np.float64).view(np.int64)
    order = np.lexsort((bits, row))
    row, other, distance = row[order], other[order], distance[order]
    rank = np.arange(row.size) - np.searchsorted(row, row, side="left")
    kept = rank < n_neighbors
    best_distances = np.full((n_block_rows, n_neighbors), np.inf, dtype=dtype)
    best_indices = np.full((n_block_rows, n_neighbors), -1, dtype=index_dtype)
    best_distances[row[kept], rank[kept]] = distance[kept]
    best_indices[row[kept], rank[kept]] = other[kept]
    return best_distances, best_indices

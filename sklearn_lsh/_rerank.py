"""Ranking of candidates: cheap pre-ranking in the projection, exact distances, top-k.

Nothing here knows about hash tables or estimators; every function takes and
returns plain arrays.
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
    projected_samples : ndarray of shape (n_samples, n_components), float32
    projected_sq_norms : ndarray of shape (n_samples,), float32
        Squared norm of every projected sample.
    candidates : ndarray of shape (n_queries, width)
        Sample indices, ``-1`` for empty slots.

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

    Ties are broken by sample index, so a query's shortlist never depends on the
    other queries in its batch.

    Parameters
    ----------
    candidates : ndarray of shape (n_queries, width)
        Sample indices, ``-1`` for empty slots.
    sq_distances : ndarray of shape (n_queries, width), float32, non-negative
    n_keep : int
    exclude : ndarray of shape (n_queries,) or None
        A sample index per query never to keep (the query itself).

    Returns
    -------
    ndarray of shape (n_queries, min(width, n_keep)), int64
        Sample indices in no particular order, ``-1`` where a query has fewer.
    """
    # A non-negative float32's bit pattern orders like the float, so one int64
    # key (distance bits, sample index) sorts by distance, then by index.
    keys = np.ascontiguousarray(sq_distances, dtype=np.float32).view(np.int32)
    keys = (keys.astype(np.int64) << _INDEX_BITS) | np.maximum(candidates, 0)
    empty = candidates < 0
    if exclude is not None:
        empty |= candidates == exclude[:, None]
    keys[empty] = _EMPTY_KEY
    if keys.shape[1] > n_keep:
        keys = np.partition(keys, n_keep - 1, axis=1)[:, :n_keep]
    return np.where(keys == _EMPTY_KEY, -1, keys & _INDEX_MASK)


def pair_distances(queries, samples, query_of, candidates, metric, sample_norms):
    """Exact metric distances of query/sample pairs, as scikit-learn defines them.

    Parameters
    ----------
    queries : ndarray or CSR matrix of shape (n_queries, n_features)
    samples : ndarray or CSR matrix of shape (n_samples, n_features)
    query_of, candidates : ndarray of shape (n_pairs,)
    metric : {"euclidean", "cosine"}
    sample_norms : ndarray of shape (n_samples,)
        Euclidean norm of every sample row.

    Returns
    -------
    ndarray of shape (n_pairs,), float32 for float32 data, else float64
        Euclidean distance, or cosine distance ``1 - cos`` clipped to [0, 2]
        (a zero row is at distance 1 from everything, as in scikit-learn).
    """
    dtype = samples.dtype
    if sp.issparse(samples):
        dots = np.asarray(
            samples[candidates].multiply(queries[query_of]).sum(axis=1), dtype=np.float64
        ).ravel()
        query_norms = np.sqrt(np.asarray(queries.multiply(queries).sum(axis=1))).ravel()
        norms_q, norms_s = query_norms[query_of], sample_norms[candidates].astype(np.float64)
        if metric == "euclidean":
            sq = np.maximum(norms_q**2 + norms_s**2 - 2.0 * dots, 0.0)
            return np.sqrt(sq).astype(dtype)
    else:
        gathered = samples[candidates]
        if metric == "euclidean":
            diff = gathered - queries[query_of]
            return np.sqrt(np.einsum("ij,ij->i", diff, diff))
        dots = np.einsum("ij,ij->i", gathered, queries[query_of])
        norms_q = np.sqrt(np.einsum("ij,ij->i", queries, queries))[query_of]
        norms_s = sample_norms[candidates]
    denominator = np.where(norms_q > 0, norms_q, 1) * np.where(norms_s > 0, norms_s, 1)
    return np.clip(1.0 - dots / denominator, 0.0, 2.0).astype(dtype)


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

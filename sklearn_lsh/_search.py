"""The query engine shared by every estimator: k-NN and radius queries on an :class:`LSHIndex`.

A query is answered in five steps, on whole chunks of queries at once: project
and hash it (:meth:`HashFunctions.probe_keys`), find its probed buckets
(:func:`~sklearn_lsh._index.bucket_bounds`), gather their rows
(:func:`~sklearn_lsh._index.gather_candidates`), pre-rank them by projected
distance and rank the best ``n_candidates`` exactly
(:mod:`sklearn_lsh._rerank`). Candidates are *storage positions* of the index
until the last step, which turns them into *sample ids*.

Chunks hold about ``CHUNK_CANDIDATES`` raw candidates, and few enough queries
for their gathered rows to fit ``sklearn.get_config()["working_memory"]``.
Chunks run in parallel under ``n_jobs`` with any joblib backend; each query's
answer depends on that query alone, never on its batch or chunk.
"""

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from joblib import cpu_count, effective_n_jobs
from sklearn import config_context, get_config
from sklearn.metrics import pairwise_distances, pairwise_distances_chunked
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import row_norms
from sklearn.utils.parallel import Parallel, delayed

from ._cells import nearest_cells
from ._index import (
    bucket_bounds,
    cap_bucket_ranges,
    gather_candidates,
    raw_candidate_counts,
    split_by_budget,
)
from ._rerank import (
    candidate_distances,
    merge_reverse_pairs,
    pair_distances,
    projected_sq_distances,
    shortlist,
    top_k,
)
from ._sketch import hamming_distances
from ._threads import one_blas_thread

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
#: Rows a k-NN query may gather per bucket it probes, on average (before
#: de-duplication): the largest buckets are cut first when a query's buckets hold
#: more (see :func:`~sklearn_lsh._index.cap_bucket_ranges`). Bounds the work of a
#: query on duplicate-heavy data, where buckets cannot be split; on fashion-mnist
#: no query reaches it (at most 140 per bucket with the defaults).
GATHERED_PER_KEY = 128
#: Bytes the widened search budgets per query and probed key (probe sequence and lookup).
_BYTES_PER_WIDE_KEY = 160
#: Working memory (MB) of scikit-learn's brute force inside exact search.
EXACT_WORKING_MEMORY = 256
#: Exact searches of at most this many (query, row) pairs, or of rows at least this
#: wide, are matrix products over blocks of queries of at most PRODUCT_BLOCK_ENTRIES
#: pairs, spread over the cores (medians of 7 calls against scikit-learn's brute
#: force: fashion-mnist 1.43x, 10^5 x 96 embeddings 1.08x, 10^4 x 128 Gaussian 0.94x
#: where scikit-learn's own path gave 0.91x; narrower rows are left to scikit-learn,
#: whose selection is the cheaper part there).
SMALL_EXACT_ENTRIES = 2**20
WIDE_EXACT_FEATURES = 64
#: ... and on at most this many rows: each query's selection among all rows (numpy's
#: partition) grows with them as the product does, but costs more per row on narrow
#: ones (10^6 x 64 mixture: 330 queries/s, against 556 by scikit-learn's brute force).
MAX_PRODUCT_ROWS = 2**18
PRODUCT_BLOCK_ENTRIES = 2**22
#: Each thread of an exact search gets at least this many queries.
MIN_THREAD_QUERIES = 64
#: Blocks per thread of a parallel exact search (the threads take them in turn).
BLOCKS_PER_THREAD = 2


@dataclass(frozen=True)
class QuerySettings:
    """How a query searches the index, resolved once per call.

    Attributes
    ----------
    n_probes : int
        Extra buckets visited per table and visited cell (query-directed multi-probe).
    n_cell_probes : int
        Nearest cells a query visits, at most the index's number of cells.
    n_candidates : int
        Candidates per query, best by projected distance, whose exact distance
        is computed (k-NN queries only; at least ``n_neighbors``).
    exact : bool
        Answer by exact search (chunked brute force) instead of the tables.
    n_dropped_bits : int
        Lowest sign bits of every key a query ignores: its bucket is then the
        range of sorted keys that share the other bits, as if each table had
        ``n_dropped_bits`` fewer hyperplanes (a shorter key is a prefix).
    n_prerank_components : int
        Leading components of the hash space the pre-ranking of candidates
        uses (``0``: all the index stores): fewer read less memory per
        candidate and rank more coarsely.
    prerank : {"projection", "sketch"}
        Pre-rank candidates by squared distance in the hash space, or by the
        Hamming distance between sign sketches (indexes with ``codes`` only).
    n_sketch_candidates : int
        With ``prerank="projection"``, first keep only this many candidates
        per query by Hamming distance (``0``: all of them; indexes with
        ``codes`` only): a cheap first cut before the projected distances.
    """

    n_probes: int = 0
    n_cell_probes: int = 1
    n_candidates: int = 1
    exact: bool = False
    n_dropped_bits: int = 0
    n_prerank_components: int = 0
    prerank: str = "projection"
    n_sketch_candidates: int = 0

    def max_gathered(self, n_tables):
        """Most rows a k-NN query gathers from its buckets: ``GATHERED_PER_KEY`` per
        probed bucket, or ``n_tables * n_candidates`` when more (so a cap never
        drops what an exhaustive setting asks to rank)."""
        n_keys = n_tables * (1 + self.n_probes) * self.n_cell_probes
        return max(GATHERED_PER_KEY * n_keys, n_tables * self.n_candidates)


def kneighbors(index, queries, n_neighbors, settings, *, exclude_self=False, exclude=None,
               n_jobs=None):
    """Approximate k nearest neighbours with exact distances.

    Parameters
    ----------
    index : LSHIndex
    queries : ndarray or CSR matrix of shape (n_queries, n_features), or None
        In the dtype and format of ``index.data``; ``None`` queries the indexed
        rows themselves, and each row's neighbours are then merged with the rows
        that found it (:func:`~sklearn_lsh._rerank.merge_reverse_pairs`).
    n_neighbors : int
        At most ``n_samples`` (``n_samples - 1`` when excluding self).
    settings : QuerySettings
    exclude_self : bool
        With ``queries=None``, leave each row out of its own neighbours.
    exclude : ndarray of shape (n_queries,) or None
        A sample id to leave out of each query's neighbours (the query itself,
        when the queries are indexed rows).
    n_jobs : int or None
        Parallel chunks, as joblib resolves it (``None``: 1 unless a
        ``joblib.parallel_config`` context says otherwise).

    Returns
    -------
    distances : ndarray of shape (n_queries, n_neighbors)
        Ascending; ties broken by sample id.
    indices : ndarray of shape (n_queries, n_neighbors), int64
        Distinct sample ids.
    """
    if settings.exact and index.space.scale == 1.0:
        return _brute_force_kneighbors(index, queries, n_neighbors, exclude_self, exclude,
                                       n_jobs)
    n_queries = (index.data if queries is None else queries).shape[0]
    # Chunk results are copied into the output as they arrive: peak memory is
    # the output plus a few chunks' working sets, however many queries arrive.
    distances = np.empty((n_queries, n_neighbors), dtype=_result_dtype(index, queries))
    indices = np.empty((n_queries, n_neighbors), dtype=np.int64)
    gathered_row_bytes = 3 * _row_bytes(index) * settings.n_candidates
    excluded = np.arange(n_queries) if exclude_self else exclude
    for rows, result in _map_chunks(_kneighbors_chunk, index, queries, settings,
                                    gathered_row_bytes, excluded, n_jobs,
                                    n_neighbors=n_neighbors):
        distances[rows], indices[rows] = result
    if queries is None:
        # The queries are the indexed rows: a pair one row found is a candidate of
        # the other (the k-NN graph gains neighbours with no distance computed).
        distances, indices = merge_reverse_pairs(distances, indices)
    return distances, indices


#: Exact search asks scikit-learn's brute force for this many neighbours beyond
#: ``n_neighbors``, then ranks them by distances computed pair by pair: answers
#: then do not depend on the batch (BLAS rounding does), and ties go to the lowest
#: sample id among them.
EXACT_MARGIN = 4


def _brute_force_kneighbors(index, queries, n_neighbors, exclude_self, exclude, n_jobs):
    """Exact k-NN: candidates by matrix products over blocks of queries (small or
    wide searches) or by scikit-learn's brute force, then ranked by exact pair
    distances, ties by sample id.

    Cosine is searched as euclidean distance between L2-normalised rows (the
    same neighbours), which scikit-learn computes several times faster than its
    cosine path.
    """
    _check_n_jobs(n_jobs)
    searcher, normalised, sq_norms = index.brute_force()
    rows = queries
    if normalised and queries is not None:
        if np.all(row_norms(queries) > 0):
            rows = normalize(queries)
        else:  # a zero query is at cosine distance 1 from everything
            searcher, rows = NearestNeighbors(algorithm="brute", metric="cosine").fit(
                index.data), queries
    n_available = index.n_samples - (exclude_self or exclude is not None)
    n_asked = min(n_neighbors + EXACT_MARGIN, n_available)
    query_rows = index.data if queries is None else queries
    n_queries = query_rows.shape[0]
    if (not sp.issparse(index.data) and searcher.metric == "euclidean"
            and (n_queries * index.n_samples <= SMALL_EXACT_ENTRIES
                 or (index.n_features >= WIDE_EXACT_FEATURES
                     and index.n_samples <= MAX_PRODUCT_ROWS))):
        # Small or wide searches: matrix products (BLAS), without scikit-learn's
        # fixed cost or its float64 copies of float32 rows.
        fit_rows = searcher._fit_X
        rows = fit_rows if queries is None else rows
        own = np.arange(n_queries) if queries is None and exclude_self else exclude
        block = max(1, PRODUCT_BLOCK_ENTRIES // max(index.n_samples, 1))
        n_threads = min(_n_cores(), -(-n_queries // MIN_THREAD_QUERIES))
        if n_threads > 1:  # blocks shared by the cores, as scikit-learn's OpenMP threads are
            block = min(block, -(-n_queries // (BLOCKS_PER_THREAD * n_threads)))
        starts = range(0, n_queries, block)  # blocks of queries, never one per query

        def smallest(start):
            return _smallest_scores(rows[start:start + block], fit_rows, sq_norms, n_asked,
                                    None if own is None else own[start:start + block])

        if n_threads > 1 and len(starts) > 1:
            # One BLAS thread per block: the selection after each product releases
            # the GIL, and BLAS threads spinning between products would take its cores.
            with one_blas_thread():
                candidates = np.vstack(_shared_blocks(smallest, starts, n_threads))
        else:
            candidates = np.vstack([smallest(start) for start in starts])
        return _ranked(index, query_rows, candidates, n_neighbors)
    # Distance blocks of scikit-learn's default working memory (1 GB) come fresh from
    # the system on every call and cost more to map than to fill (TF-IDF text, 1000
    # queries: 402-1233 ms a call, against a steady 415-454 ms in blocks of 256 MB;
    # smaller blocks repeat the per-block work: 435-457 ms at 128 MB, 489-511 at 64).
    # scikit-learn's kernels limit BLAS to one thread while they run, and concurrent
    # calls would restore each other's limits out of order: inside our counted
    # limit, the last call to end restores the original. n_jobs is left to it: it
    # only splits sparse blocks into column slices, which measured no faster
    # (TF-IDF: 385 against 391 ms), and its dense kernels use every core anyway.
    working_memory = min(get_config()["working_memory"], EXACT_WORKING_MEMORY)
    with one_blas_thread(), config_context(working_memory=working_memory):
        if queries is None and exclude_self:  # scikit-learn leaves each row out itself
            candidates = searcher.kneighbors(None, n_asked, return_distance=False)
            own = None
        else:
            rows = searcher._fit_X if queries is None else rows
            own = exclude
            candidates = searcher.kneighbors(rows, n_asked + (own is not None),
                                             return_distance=False)
    if own is not None:
        candidates = np.where(candidates == np.asarray(own)[:, None], -1, candidates)
    return _ranked(index, query_rows, candidates.astype(np.int64), n_neighbors)


def _check_n_jobs(n_jobs):
    if n_jobs == 0:  # joblib's and scikit-learn's wording
        raise ValueError("n_jobs == 0 in Parallel has no meaning")


_THREAD_POOL = {}


def _shared_blocks(function, items, n_threads):
    """``[function(item) for item in items]``, the items taken in turn by this thread
    and ``n_threads - 1`` helpers; a helper the system has not started by the time
    this thread is done is cancelled, so a busy machine costs at most the serial time."""
    results, taken, lock = [None] * len(items), iter(range(len(items))), threading.Lock()

    def work():
        while True:
            with lock:
                i = next(taken, None)
            if i is None:
                return
            results[i] = function(items[i])

    helpers = [_thread_pool(n_threads - 1).submit(work) for _ in range(n_threads - 1)]
    work()
    for helper in helpers:
        if not helper.cancel():
            helper.result()
    return results


@functools.lru_cache(maxsize=1)
def _n_cores():
    """Cores this process may use (joblib reads cgroup files to know: once is enough)."""
    return cpu_count()


def _thread_pool(n_threads):
    """A pool of ``n_threads`` threads kept for the process (made again in a forked
    child, or for another size)."""
    key = os.getpid(), n_threads
    if _THREAD_POOL.get("key") != key:
        _THREAD_POOL.update(key=key, pool=ThreadPoolExecutor(max_workers=n_threads))
    return _THREAD_POOL["pool"]


def _smallest_scores(queries, rows, sq_norms, n_asked, own):
    """The ``n_asked`` rows nearest each query by euclidean distance (in no order),
    from ``|r|^2 - 2 q.r`` computed at once; ``sq_norms`` are the ``|r|^2``;
    ``own[i]`` is never query ``i``'s."""
    scores = queries @ rows.T
    scores *= -2  # in place: a fresh block costs more than the product here
    scores += sq_norms
    if own is not None:
        scores[np.arange(scores.shape[0]), own] = np.inf
    if n_asked < scores.shape[1]:
        return np.argpartition(scores, n_asked - 1, axis=1)[:, :n_asked].astype(np.int64)
    return np.broadcast_to(np.arange(scores.shape[1]), scores.shape).astype(np.int64)


def _row_bytes(index):
    """Bytes of one indexed row gathered in float64: its features, or for CSR rows
    its stored values and their column numbers."""
    data = index.data
    if sp.issparse(data):
        return 12 * max(1, -(-data.nnz // max(data.shape[0], 1)))
    return 8 * max(data.shape[1], 1)


def _ranked(index, query_rows, candidates, n_neighbors):
    """The ``n_neighbors`` best of each query's candidate sample ids (``-1`` padded),
    by exact pair distance, ties by sample id; a block of queries at a time, so the
    gathered rows fit ``working_memory``."""
    n_queries, width = candidates.shape
    # Blocks that stay in cache (BATCH_BYTES) run several times faster than big ones.
    block = max(1, min(_working_bytes(), BATCH_BYTES) // (3 * _row_bytes(index) * max(width, 1)))
    distances = np.empty((n_queries, n_neighbors), dtype=_result_dtype(index, query_rows))
    indices = np.empty((n_queries, n_neighbors), dtype=np.int64)
    for start in range(0, n_queries, block):  # blocks of queries, never one per query
        rows = slice(start, min(start + block, n_queries))
        found = candidate_distances(query_rows[rows], index.data, candidates[rows],
                                    index.metric, index.space.scale)
        distances[rows], indices[rows] = top_k(candidates[rows], found, n_neighbors)
    return distances, indices


def radius_neighbors(index, queries, radius, settings, *, exclude_self=False, n_jobs=None):
    """Candidates within ``radius``, as CSR arrays with exact distances.

    Parameters
    ----------
    index, queries, settings, exclude_self, n_jobs
        As for :func:`kneighbors` (``settings.n_candidates`` is not used).
    radius : float

    Returns
    -------
    indptr : ndarray of shape (n_queries + 1,)
    indices : ndarray of shape (indptr[-1],), int64
    distances : ndarray of shape (indptr[-1],)
        Each query's neighbours are sorted by (distance, sample id).
    """
    # A chunk computes exact distances for the candidates that survive
    # pruning: at most all of them, each gathering a row.
    gathered_row_bytes = 2 * _row_bytes(index) * max(_expected_candidates(index, settings), 1)
    n_queries = (index.data if queries is None else queries).shape[0]
    excluded = np.arange(n_queries) if exclude_self else None
    results = [result for _, result in _map_chunks(
        _radius_chunk, index, queries, settings, gathered_row_bytes, excluded, n_jobs,
        radius=radius)]
    counts = np.concatenate([np.diff(r[0]) for r in results])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return (indptr, np.concatenate([r[1] for r in results]),
            np.concatenate([r[2] for r in results]))


def candidates(index, queries, settings):
    """Distinct sample ids in the buckets each query probes.

    Parameters
    ----------
    index : LSHIndex
    queries : ndarray or CSR matrix of shape (n_queries, n_features)
    settings : QuerySettings

    Returns
    -------
    ndarray of shape (n_queries, width), int64
        Row ``i`` holds query ``i``'s candidates in ascending order, then ``-1``.
    """
    _, lo, hi = _probe(index, queries, None, settings)
    ids = _sample_ids(index, gather_candidates(index.sorted_positions, lo, hi))
    ids[ids < 0] = np.iinfo(np.int64).max
    ids.sort(axis=1)
    ids[ids == np.iinfo(np.int64).max] = -1
    return ids


def _map_chunks(chunk_function, index, queries, settings, bytes_per_query, excluded,
                n_jobs, **kwargs):
    """Yield ``(rows, chunk_function(...))`` for every query chunk, in order.

    Every chunk's result is returned to this process (never written into
    shared memory by a worker), so any joblib backend gives the same answers.
    """
    _check_n_jobs(n_jobs)
    n_queries = (index.data if queries is None else queries).shape[0]
    chunk_size = _chunk_size(index, settings, bytes_per_query)
    n_workers = effective_n_jobs(n_jobs)
    if n_workers > 1 and n_queries > chunk_size:
        # As many chunks of equal size as keep every worker busy to the end.
        n_chunks = -(-n_queries // chunk_size)
        n_chunks = -(-n_chunks // n_workers) * n_workers
        chunk_size = -(-n_queries // n_chunks)
    slices = [slice(start, min(start + chunk_size, n_queries))
              for start in range(0, n_queries, chunk_size)] or [slice(0, 0)]

    tasks = ((chunk_function, index, queries, rows, settings,
              None if excluded is None else excluded[rows], kwargs)
             for rows in slices)
    if len(slices) == 1 or effective_n_jobs(n_jobs) == 1:
        yield from (_run_chunk(*task) for task in tasks)
        return
    try:  # a generator holds only the chunks not yet stored ...
        parallel = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")
    except ValueError:  # ... but the multiprocessing backend can only return a list
        parallel = Parallel(n_jobs=n_jobs, prefer="threads")
    with one_blas_thread():
        yield from parallel(delayed(_run_chunk)(*task) for task in tasks)


def _run_chunk(chunk_function, index, queries, rows, settings, own_ids, kwargs):
    """``(rows, result)`` of one chunk of queries (a module-level function, so
    process backends can pickle it)."""
    if queries is None and index.stores_projection:  # the indexed rows: projection stored
        query_rows = index.data[rows]
        projected = index.projected[index.positions[rows]]
    elif queries is None:
        query_rows, projected = index.data[rows], None
    else:
        query_rows, projected = queries[rows], None
    return rows, chunk_function(index, query_rows, projected, own_ids, settings, **kwargs)


def _result_dtype(index, query_rows):
    """float32 only when both the indexed rows and the queries are float32."""
    if query_rows is None:
        return index.data.dtype
    return np.result_type(index.data.dtype, query_rows.dtype)


def _working_bytes():
    return get_config()["working_memory"] * 2**20


def _chunk_size(index, settings, bytes_per_query):
    """Queries per chunk: about ``CHUNK_CANDIDATES`` raw candidates, and few enough
    for ``bytes_per_query`` each to fit ``working_memory``; candidate batches
    are bounded again in :func:`_batches`. Exact search: as many queries as
    ``working_memory`` holds rows of distances, as scikit-learn's brute force."""
    if settings.exact:
        return int(max(1, _working_bytes() // (8 * max(index.n_samples, 1))))
    by_memory = _working_bytes() // max(bytes_per_query, 1)
    by_candidates = CHUNK_CANDIDATES // max(_expected_candidates(index, settings), 1)
    return int(max(1, min(by_memory, by_candidates, MAX_CHUNK)))


def _expected_candidates(index, settings):
    """Raw candidates of a typical query: probed buckets times the bucket a row is in,
    at most what a k-NN query may gather."""
    n_keys = (1 + settings.n_probes) * settings.n_cell_probes
    expected = int(index.n_tables * n_keys * index.row_bucket_size)
    return min(expected, settings.max_gathered(index.n_tables))


def _probe(index, query_rows, projected, settings):
    """Project and hash queries, then find their buckets' ``[lo, hi)`` bounds.

    Each query visits its ``n_cell_probes`` nearest cells and, in each, its own
    bucket and ``n_probes`` nearby ones per table.
    """
    if projected is None:
        projected = index.space.project(query_rows)
    functions = index.functions
    cells = nearest_cells(projected, functions.centroids, settings.n_cell_probes)
    probe_keys = functions.probe_keys(projected, cells, settings.n_probes,
                                      settings.n_dropped_bits)
    lo, hi = bucket_bounds(index.bucket_directory, probe_keys, settings.n_dropped_bits)
    return projected, lo, hi


def _batches(lo, hi, index, settings):
    """Split a chunk so each batch's padded candidate arrays fit ``working_memory``."""
    # Batches small enough to stay clear of fresh page-mapped allocations run
    # several times faster than one big batch.
    if settings.prerank == "sketch" or settings.n_sketch_candidates:
        ranking_bytes = index.codes.shape[0] * 8
    else:
        ranking_bytes = 4 * (settings.n_prerank_components or index.projected.shape[1])
    max_entries = min(_working_bytes(), BATCH_BYTES) // (_BYTES_PER_PAIR + ranking_bytes)
    return split_by_budget(raw_candidate_counts(lo, hi), max(max_entries, 1))


def _kneighbors_chunk(index, query_rows, projected, own_ids, settings, *, n_neighbors):
    if settings.exact:
        return _exact_kneighbors(index, query_rows, n_neighbors, own_ids)
    projected, lo, hi = _probe(index, query_rows, projected, settings)
    hi = cap_bucket_ranges(lo, hi, settings.max_gathered(index.n_tables))
    kept = [
        _shortlist(index, projected[b], lo[b], hi[b], settings,
                   None if own_ids is None else own_ids[b])
        for b in _batches(lo, hi, index, settings)
    ]
    width = max(n_neighbors, max(k.shape[1] for k in kept))
    kept = np.vstack([_pad(k, width) for k in kept])
    result_distances, result_indices = _ranked(index, query_rows, kept, n_neighbors)

    short = np.flatnonzero((kept >= 0).sum(axis=1) < n_neighbors)
    if short.size:
        # Too few candidates in the probed buckets: widen the probe, then fall
        # back to exact search for whatever is still short.
        result_distances[short], result_indices[short] = _widened_search(
            index, query_rows[short], projected[short],
            None if own_ids is None else own_ids[short], settings, n_neighbors)
    return result_distances, result_indices


def _pad(kept, width):
    """``kept`` padded with ``-1`` columns to ``width``."""
    return np.pad(kept, ((0, 0), (0, width - kept.shape[1])), constant_values=-1)


def _shortlist(index, projected, lo, hi, settings, own_ids):
    """Sample ids of each query's ``settings.n_candidates`` best candidates by
    Hamming distance of their sign sketches, or by distance in the (leading
    components of the) hash space after an optional first cut by Hamming
    distance; ``-1`` padded."""
    # Packing the distinct candidates first costs a sort; repeats left blank cost a
    # pre-ranking each: only a ranking by sketches alone, over few repeats (the
    # sketch strategy's cross-polytope tables), gains by leaving them.
    positions = gather_candidates(index.sorted_positions, lo, hi,
                                  packed=settings.prerank != "sketch")
    own_positions = None if own_ids is None else index.positions[own_ids]
    if settings.prerank == "sketch" or settings.n_sketch_candidates:
        distances = hamming_distances(index.sketch.codes(projected), index.codes, positions)
        if settings.prerank == "sketch":
            return _sample_ids(index, shortlist(positions, distances, settings.n_candidates,
                                                exclude=own_positions))
        if positions.shape[1] > settings.n_sketch_candidates:
            positions = shortlist(positions, distances, settings.n_sketch_candidates,
                                  exclude=own_positions)
    n_components = settings.n_prerank_components
    n_stored = index.projected.shape[1]
    if 0 < n_components < n_stored:
        sq = projected_sq_distances(projected[:, :n_components],
                                    index.projected[:, :n_components],
                                    index.prerank_sq_norms(n_components), positions)
    else:
        sq = projected_sq_distances(projected[:, :n_stored], index.projected,
                                    index.projected_sq_norms, positions)
    kept = shortlist(positions, sq, settings.n_candidates, exclude=own_positions)
    return _sample_ids(index, kept)


def _sample_ids(index, positions):
    """Sample ids at storage ``positions`` (int64), keeping ``-1`` for empty slots."""
    ids = index.sample_ids[np.maximum(positions, 0)].astype(np.int64)
    ids[positions < 0] = -1
    return ids


def _widened_search(index, query_rows, projected, own_ids, settings, n_neighbors):
    """Queries whose probed buckets held too few candidates: probe the most keys the
    hash functions offer (``max_probes``: every bucket within ``MAX_PROBE_BITS``
    flips of hyperplane keys, the 255 of least drop of cross-polytope keys), a
    group of queries at a time (their probe sequences fit ``working_memory``), then
    search exactly for any still short."""
    n_short = query_rows.shape[0]
    wide_probes = index.functions.max_probes
    distances = np.full((n_short, n_neighbors), np.inf, dtype=_result_dtype(index, query_rows))
    indices = np.full((n_short, n_neighbors), -1, dtype=np.int64)
    enough = np.zeros(n_short, dtype=bool)
    if wide_probes > settings.n_probes:
        wide = replace(settings, n_probes=wide_probes)
        n_keys = index.n_tables * settings.n_cell_probes * (1 + wide_probes)
        group = max(1, _working_bytes() // (_BYTES_PER_WIDE_KEY * n_keys))
        for start in range(0, n_short, group):  # groups of queries, never one per query
            rows = slice(start, min(start + group, n_short))
            _, lo, hi = _probe(index, query_rows[rows], projected[rows], wide)
            hi = cap_bucket_ranges(lo, hi, wide.max_gathered(index.n_tables))
            own = None if own_ids is None else own_ids[rows]
            kept = np.vstack([
                _pad(_shortlist(index, projected[rows][b], lo[b], hi[b], wide,
                                None if own is None else own[b]), wide.n_candidates)
                for b in _batches(lo, hi, index, wide)])
            found_enough = (kept >= 0).sum(axis=1) >= n_neighbors
            where = np.arange(rows.start, rows.stop)[found_enough]
            if where.size:
                distances[where], indices[where] = _ranked(
                    index, query_rows[where], kept[found_enough], n_neighbors)
                enough[where] = True
    remaining = np.flatnonzero(~enough)
    if remaining.size:
        distances[remaining], indices[remaining] = _exact_kneighbors(
            index, query_rows[remaining], n_neighbors,
            None if own_ids is None else own_ids[remaining])
    return distances, indices


def _exact_distance_blocks(index, query_rows):
    """Exact distances from the queries to every indexed row, a block of queries
    at a time (``working_memory``), as scikit-learn's chunked brute force computes
    them. Data far from unit scale is divided by the index's power-of-two scale
    first (a block of indexed rows at a time), so squares neither overflow nor
    underflow."""
    scale = index.space.scale
    if scale == 1.0:
        yield from pairwise_distances_chunked(query_rows, index.data, metric=index.metric)
        return
    unit = 1.0 if index.metric == "cosine" else scale
    rows_per_block = max(1, _working_bytes() // (8 * max(index.n_samples, 1)))
    data_rows = max(1, _working_bytes() // (8 * max(index.n_features, 1)))
    for start in range(0, query_rows.shape[0], rows_per_block):
        queries = query_rows[start:start + rows_per_block] * (1.0 / scale)
        yield np.hstack([
            pairwise_distances(queries, index.data[at:at + data_rows] * (1.0 / scale),
                               metric=index.metric)
            for at in range(0, index.n_samples, data_rows)]) * unit


def _exact_kneighbors(index, query_rows, n_neighbors, own_ids):
    """Brute-force k-NN, in chunks bounded by ``working_memory``; ties by sample id."""
    results, start = [], 0
    for block in _exact_distance_blocks(index, query_rows):
        rows = np.arange(start, start + block.shape[0])
        if own_ids is not None:
            block[np.arange(block.shape[0]), own_ids[rows]] = np.inf
        results.append(_smallest(block, n_neighbors))
        start += block.shape[0]
    return np.vstack([r[0] for r in results]), np.vstack([r[1] for r in results])


def _smallest(block, n_neighbors):
    """The ``n_neighbors`` smallest entries of each row of a distance block, sorted by
    (distance, column): every entry tied with the k-th is considered, so ties go to
    the lowest columns exactly."""
    n_rows, n_columns = block.shape
    if n_neighbors >= n_columns:
        return top_k(np.broadcast_to(np.arange(n_columns), block.shape), block, n_neighbors)
    kth = np.partition(block, n_neighbors - 1, axis=1)[:, n_neighbors - 1]
    within = block <= kth[:, None]
    counts = within.sum(axis=1)
    width = int(counts.max())
    row_of, column = np.nonzero(within)
    slot = np.arange(row_of.size) - np.repeat(np.cumsum(counts) - counts, counts)
    columns = np.full((n_rows, width), -1, dtype=np.int64)
    distances = np.full((n_rows, width), np.inf, dtype=block.dtype)
    columns[row_of, slot], distances[row_of, slot] = column, block[row_of, column]
    return top_k(columns, distances, n_neighbors)


def _radius_chunk(index, query_rows, projected, own_ids, settings, *, radius):
    """Neighbours within ``radius``. Candidate pairs get their exact distance a
    batch at a time (``working_memory``), and only the pairs within the radius
    are kept: beyond the output, memory stays bounded whatever the radius."""
    if settings.exact:
        return _exact_radius(index, query_rows, own_ids, radius)
    projected, lo, hi = _probe(index, query_rows, projected, settings)
    scale = index.space.scale
    bound = (radius / scale)**2 if index.metric == "euclidean" else 2 * radius
    pairs_per_batch = max(1, _working_bytes() // (3 * _row_bytes(index)))
    parts = []
    for b in _batches(lo, hi, index, replace(settings, prerank="projection")):
        positions = gather_candidates(index.sorted_positions, lo[b], hi[b], packed=False)
        keep = positions >= 0
        if index.space.lower_bounds:
            # The projection is orthonormal, so its distance never exceeds the true
            # one (for cosine, sq / 2 <= 1 - cos): prune before the exact pass,
            # with slack for the rounding of the expanded form.
            sq = projected_sq_distances(projected[b][:, :index.projected.shape[1]],
                                        index.projected, index.projected_sq_norms, positions)
            slack = 1e-4 * (index.projected_sq_norms[np.maximum(positions, 0)] + 1.0)
            keep &= sq <= bound * (1 + 1e-4) + slack
        if own_ids is not None:
            keep &= positions != index.positions[own_ids[b]][:, None]
        query_of, column = np.nonzero(keep)
        query_of += b.start
        sample_ids = _sample_ids(index, positions[query_of - b.start, column])
        for start in range(0, query_of.size, pairs_per_batch):  # batches of pairs
            pairs = slice(start, start + pairs_per_batch)
            distances = pair_distances(query_rows, index.data, query_of[pairs],
                                       sample_ids[pairs], index.metric, scale)
            within = distances <= radius
            parts.append((query_of[pairs][within], sample_ids[pairs][within],
                          distances[within]))
    if not parts:
        parts = [(np.empty(0, np.int64), np.empty(0, np.int64),
                  np.empty(0, _result_dtype(index, query_rows)))]
    query_of, sample_ids, distances = (np.concatenate(p) for p in zip(*parts))
    return _by_query(query_rows.shape[0], query_of, sample_ids, distances)


def _exact_radius(index, query_rows, own_ids, radius):
    """Brute-force radius neighbours as CSR arrays sorted by (distance, sample id)."""
    query_of, sample_ids, distances, start = [], [], [], 0
    for block in _exact_distance_blocks(index, query_rows):
        if own_ids is not None:
            block[np.arange(block.shape[0]), own_ids[start:start + block.shape[0]]] = np.inf
        rows, columns = np.nonzero(block <= radius)
        query_of.append(rows + start)
        sample_ids.append(columns.astype(np.int64))
        distances.append(block[rows, columns])
        start += block.shape[0]
    query_of, sample_ids, distances = (np.concatenate(p) for p in
                                       (query_of, sample_ids, distances))
    return _by_query(query_rows.shape[0], query_of, sample_ids, distances)


def _by_query(n_queries, query_of, sample_ids, distances):
    """Neighbour pairs as CSR arrays: ``indptr`` over the queries, then sample ids and
    distances sorted by (query, distance, sample id)."""
    order = np.lexsort((sample_ids, distances, query_of))
    counts = np.bincount(query_of, minlength=n_queries)
    return np.concatenate([[0], np.cumsum(counts)]), sample_ids[order], distances[order]

"""What the tasks of a sharded index run: plain functions on arrays and :class:`LSHIndex` shards.

A sharded index splits the rows into *shards* of consecutive rows, each an
:class:`~sklearn_lsh._lsh_index.LSHIndex` built with one shared hash space and
hash functions (a :class:`SharedHashing`, fitted on a sample drawn from every
shard). A row's *global id* is its number in the whole data: the shard's
offset plus its sample id in the shard.

Nothing here knows about Dask: :mod:`sklearn_lsh._sharded_index` wires these
functions into a task graph, and they can be tested on arrays alone.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array

from ._lsh_index import LSHIndex, QuerySettings
from ._projection import HashSpace
from ._rerank import top_k
from ._search import _by_query
from ._unsupervised import LSHNearestNeighbors

#: Most rows one shard holds: larger row chunks are split. The shared settings are
#: tuned on a sample the size of a shard (at most this many rows, so fit's tuning
#: takes seconds), which keeps every shard's buckets the size the tuning chose.
#: Every query visits every shard, so each shard's fixed cost per query counts: 2*10^6
#: clustered rows in shards of 50000 answered 346 queries/s on 2 workers, against
#: 5042 on one machine (``benchmarks/dask_bench.py``).
MAX_SHARD_ROWS = 200_000


def shard_sizes(chunk_rows, max_rows=MAX_SHARD_ROWS):
    """Rows of each shard: every row chunk split into the fewest near-equal parts of
    at most ``max_rows`` rows (empty chunks give no shard).

    Parameters
    ----------
    chunk_rows : sequence of int
        Rows of each chunk, in order.
    max_rows : int

    Returns
    -------
    tuple of int
        Shard sizes in row order; chunk ``c`` of ``r`` rows becomes
        ``ceil(r / max_rows)`` shards, the first ``r % parts`` one row larger.
    """
    rows = np.asarray(chunk_rows, dtype=np.int64)
    parts = -(-rows // max_rows)
    chunk_of = np.repeat(np.arange(rows.size), parts)
    rank = np.arange(chunk_of.size) - np.repeat(np.cumsum(parts) - parts, parts)
    sizes = rows[chunk_of] // parts[chunk_of] + (rank < rows[chunk_of] % parts[chunk_of])
    return tuple(int(size) for size in sizes)


def sample_counts(shard_rows, n_sample, seed):
    """Rows each shard gives to the shared sample: ``n_sample`` rows drawn without
    replacement from all rows, counted per shard.

    Parameters
    ----------
    shard_rows : sequence of int
    n_sample : int
        At most ``sum(shard_rows)``.
    seed : int

    Returns
    -------
    ndarray of shape (n_shards,), int64
    """
    rng = np.random.default_rng([seed, len(shard_rows)])
    return rng.multivariate_hypergeometric(np.asarray(shard_rows, dtype=np.int64),
                                           n_sample).astype(np.int64)


def sample_rows(block, count, seed, shard_number, estimator_name):
    """``count`` rows of a shard's block, drawn with a generator seeded by ``seed``
    and the shard's number (never by the worker), in row order, validated.

    Parameters
    ----------
    block : array-like of shape (n_rows, n_features)
    count : int
    seed : int
    shard_number : int
    estimator_name : str
        Named in the error raised for invalid values.

    Returns
    -------
    ndarray of shape (count, n_features), float32 or float64
    """
    rng = np.random.default_rng([seed, shard_number])
    chosen = np.sort(rng.choice(block.shape[0], count, replace=False))
    return validated_rows(np.asarray(block)[chosen], estimator_name, allow_empty=True)


def validated_rows(block, estimator_name, allow_empty=False):
    """A block of rows as the index stores them: finite, float32 kept, other
    dtypes as float64; the errors are :class:`LSHNearestNeighbors`'s."""
    return check_array(block, dtype=[np.float64, np.float32], estimator=estimator_name,
                       input_name="X", ensure_min_samples=0 if allow_empty else 1)


@dataclass(frozen=True, eq=False)
class SharedHashing:
    """The hash space, hash functions and operating point every shard shares.

    Attributes
    ----------
    space : HashSpace
    functions : HashFunctions or CrossPolytopeFunctions
    sketch : SignSketch or None
        The sign sketches' hyperplanes, when the operating point pre-ranks by them.
    settings : QuerySettings
        The operating point tuned (or set) on the sample, for ``n_neighbors``.
    n_hyperplanes : int
        Key bits the queries use.
    n_cells : int
    search_method : {"hashing", "sketch", "exact"}
    estimated_recall, estimated_speedup : float or None
        On the sample, as :class:`LSHNearestNeighbors` reports them.
    n_sample_rows : int
        Rows of the sample the above were fitted on.
    """

    space: HashSpace
    functions: object
    sketch: object
    settings: QuerySettings
    n_hyperplanes: int
    n_cells: int
    search_method: str
    estimated_recall: float
    estimated_speedup: float
    n_sample_rows: int


def fit_shared_hashing(params, *sample_parts):
    """Fit :class:`LSHNearestNeighbors` to the concatenated sample and keep what the
    shards share (never the sample itself).

    Parameters
    ----------
    params : dict
        :class:`LSHNearestNeighbors`'s parameters.
    *sample_parts : ndarray of shape (n_i, n_features)
        Each shard's sampled rows, in shard order.

    Returns
    -------
    SharedHashing
    """
    sample = np.concatenate(sample_parts)
    model = LSHNearestNeighbors(**params).fit(sample)
    return SharedHashing(
        space=model.index_.space, functions=model.index_.functions,
        sketch=model.index_.sketch, settings=model.operating_point_,
        n_hyperplanes=model.n_hyperplanes_,
        n_cells=model.n_cells_, search_method=model.search_method_,
        estimated_recall=model.estimated_recall_, estimated_speedup=model.estimated_speedup_,
        n_sample_rows=sample.shape[0])


def build_shard(block, hashing, estimator_name):
    """A shard: an :class:`LSHIndex` over a block of rows with the shared hash functions.

    Parameters
    ----------
    block : array-like of shape (n_rows, n_features)
    hashing : SharedHashing
    estimator_name : str
        Named in the error raised for invalid values.

    Returns
    -------
    LSHIndex
    """
    rows = validated_rows(block, estimator_name)
    return LSHIndex.from_hash_functions(rows, hashing.space, hashing.functions,
                                        hashing.sketch)


def shard_data(shard):
    """The rows a shard indexes (to send them as queries to the other shards)."""
    return shard.data


def prepared_queries(block, dtype, estimator_name):
    """A block of query rows validated, in the dtype answers are computed in: float32
    only when both the queries and the indexed rows are float32."""
    rows = validated_rows(block, estimator_name)
    return rows.astype(np.result_type(rows.dtype, dtype), copy=False)


def shard_kneighbors(shard, queries, offset, n_neighbors, settings, n_jobs=None):
    """A shard's nearest neighbours of the queries, by global id.

    Parameters
    ----------
    shard : LSHIndex
    queries : ndarray of shape (n_queries, n_features), or None
        ``None`` queries the shard's own rows, each left out of its own neighbours.
    offset : int
        Global id of the shard's first row.
    n_neighbors : int
        Asked of every shard; a shard with fewer rows gives all of them.
    settings : QuerySettings
    n_jobs : int or None

    Returns
    -------
    distances : ndarray of shape (n_queries, min(n_neighbors, n_available))
        Ascending, ties by global id.
    ids : ndarray of shape (n_queries, min(n_neighbors, n_available)), int64
        Global ids.
    """
    own_rows = queries is None
    n_neighbors = min(n_neighbors, shard.n_samples - own_rows)
    query_rows = shard.data if own_rows else queries
    if n_neighbors < 1:
        dtype = np.result_type(shard.data.dtype, query_rows.dtype)
        return (np.empty((query_rows.shape[0], 0), dtype=dtype),
                np.empty((query_rows.shape[0], 0), dtype=np.int64))
    distances, ids = shard.kneighbors(queries, n_neighbors, settings, exclude_self=own_rows,
                                      n_jobs=n_jobs)
    return distances, ids + offset


def merge_neighbors(n_neighbors, *parts):
    """The ``n_neighbors`` best of several shards' answers, by (distance, global id).

    Parameters
    ----------
    n_neighbors : int
    *parts : tuple of (distances, ids)
        Each of shape (n_queries, width_i), for the same queries.

    Returns
    -------
    distances, ids : ndarray of shape (n_queries, min(n_neighbors, sum of widths))
    """
    distances = np.hstack([part[0] for part in parts])
    ids = np.hstack([part[1] for part in parts])
    return top_k(ids, distances, n_neighbors)


def shard_radius_neighbors(shard, queries, offset, radius, settings, n_jobs=None):
    """A shard's neighbours within ``radius`` of the queries, by global id.

    Parameters
    ----------
    shard, queries, offset, settings, n_jobs
        As for :func:`shard_kneighbors`.
    radius : float

    Returns
    -------
    indptr : ndarray of shape (n_queries + 1,)
    ids : ndarray of shape (indptr[-1],), int64
        Global ids, each query's sorted by (distance, global id).
    distances : ndarray of shape (indptr[-1],)
    """
    indptr, ids, distances = shard.radius_neighbors(queries, radius, settings,
                                                    exclude_self=queries is None,
                                                    n_jobs=n_jobs)
    return indptr, ids + offset, distances


def merge_radius_neighbors(*parts):
    """Several shards' radius neighbours of the same queries, as one set of CSR
    arrays sorted by (query, distance, global id).

    Parameters
    ----------
    *parts : tuple of (indptr, ids, distances)
        As :func:`shard_radius_neighbors` returns them.

    Returns
    -------
    indptr, ids, distances
    """
    n_queries = parts[0][0].shape[0] - 1
    queries = np.arange(n_queries)
    query_of = np.concatenate([np.repeat(queries, np.diff(part[0])) for part in parts])
    return _by_query(n_queries, query_of, np.concatenate([part[1] for part in parts]),
                     np.concatenate([part[2] for part in parts]))


def shard_nbytes(shard):
    """Bytes a shard holds on its worker: its rows and its index."""
    return int(shard.data_nbytes + shard.nbytes)

"""A sharded LSH index on Dask: :class:`ShardedIndex`, built and queried as task graphs.

Each shard is one task's result, an :class:`~sklearn_lsh._lsh_index.LSHIndex`
over consecutive rows, kept in the memory of the worker that built it
(``persist``); the task graph behind it (read the block, build the shard) stays
with the scheduler, so a shard lost with its worker is built again from its
rows. A query chunk goes to every shard; each answers its top ``k`` by global
id, and the answers are merged ``MERGE_FAN_IN`` at a time, in a tree, by
(distance, global id). The functions the tasks run are in
:mod:`sklearn_lsh._shards`.
"""

from dataclasses import dataclass
from functools import partial

import dask
import dask.array as da
import numpy as np
from dask import delayed

from ._shards import (
    build_shard,
    fit_shared_hashing,
    merge_neighbors,
    merge_radius_neighbors,
    prepared_queries,
    sample_counts,
    sample_rows,
    shard_data,
    shard_kneighbors,
    shard_nbytes,
    shard_radius_neighbors,
)

#: Shards' answers merged by one task: fewer means more levels of merging, more
#: means more (distances, ids) blocks gathered on one worker at once.
MERGE_FAN_IN = 4


def fit_hashing(blocks, shard_rows, params, seed, estimator_name):
    """Fit the shared hash space, functions and operating point on a sample drawn from
    every shard, in one task on the cluster; only the fitted result comes back.

    Parameters
    ----------
    blocks : sequence of Delayed
        Each shard's rows.
    shard_rows : sequence of int
    params : dict
        :class:`LSHNearestNeighbors`'s parameters.
    seed : int
        Seeds the choice of sampled rows (with each shard's number).
    estimator_name : str

    Returns
    -------
    SharedHashing
        The sample holds as many rows as the largest shard: the settings are
        tuned for an index of a shard's size. With one shard it is every row,
        in order, and the fit is :class:`LSHNearestNeighbors`'s on them.
    """
    counts = sample_counts(shard_rows, max(shard_rows), seed)
    parts = [delayed(sample_rows, pure=True)(block, int(count), seed, number, estimator_name)
             for number, (block, count) in enumerate(zip(blocks, counts))]
    return delayed(fit_shared_hashing, pure=True)(params, *parts).compute()


@dataclass(frozen=True, eq=False)
class ShardedIndex:
    """LSH shards of consecutive rows, held by the workers, and how to query them.

    Attributes
    ----------
    shards : tuple of Delayed
        Persisted: shard ``i`` is an :class:`LSHIndex` over the rows with global
        ids ``offsets[i]`` to ``offsets[i + 1] - 1``, in the memory of a worker.
    offsets : ndarray of shape (n_shards + 1,), int64
        Global id of each shard's first row, then the number of rows.
    hashing : SharedHashing
        What every shard shares.
    n_features : int
    dtype : numpy.dtype
        The dtype the rows are stored in (float32 or float64).
    nbytes : ndarray of shape (n_shards,), int64
        Bytes each shard holds on its worker: its rows and its index.
    estimator_name : str
        Named in the errors raised for invalid query values.
    """

    shards: tuple
    offsets: np.ndarray
    hashing: object
    n_features: int
    dtype: np.dtype
    nbytes: np.ndarray
    estimator_name: str

    @classmethod
    def build(cls, X, hashing, estimator_name):
        """Build one shard per row chunk of ``X``, where its rows are, and keep it there.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, n_features)
            One chunk across the features; each row chunk becomes a shard.
        hashing : SharedHashing
        estimator_name : str

        Returns
        -------
        ShardedIndex
            Returned once every shard is built: an invalid block raises here.
        """
        shared = delayed(hashing, pure=True)
        shards = dask.persist(*[
            delayed(build_shard, pure=True)(block, shared, estimator_name)
            for block in X.to_delayed().ravel()])
        nbytes = dask.compute(*[delayed(shard_nbytes, pure=True)(shard) for shard in shards])
        offsets = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        return cls(shards=tuple(shards), offsets=offsets, hashing=hashing,
                   n_features=X.shape[1], dtype=np.dtype(dtype),
                   nbytes=np.array(nbytes, dtype=np.int64), estimator_name=estimator_name)

    @property
    def n_samples(self):
        return int(self.offsets[-1])

    @property
    def n_shards(self):
        return len(self.shards)

    def kneighbors(self, queries, n_neighbors, settings, n_jobs=None):
        """Lazy k nearest neighbours of every query among all shards.

        Parameters
        ----------
        queries : dask.array.Array of shape (n_queries, n_features), or None
            One chunk across the features. ``None`` queries the indexed rows,
            each left out of its own neighbours (the result then has one row
            chunk per shard).
        n_neighbors : int
            At most the rows available to a query.
        settings : QuerySettings
            What each shard's search uses.
        n_jobs : int or None
            Threads of each shard's search.

        Returns
        -------
        distances : dask.array.Array of shape (n_queries, n_neighbors)
            Ascending, ties by global id; row chunks like the queries'.
        ids : dask.array.Array of shape (n_queries, n_neighbors), int64
            Global ids.
        """
        merged, chunks, dtype = self._merged_answers(
            shard_kneighbors, partial(merge_neighbors, n_neighbors), queries, n_neighbors,
            settings, n_jobs)
        distances = da.concatenate([
            da.from_delayed(result[0], (n_rows, n_neighbors), dtype=dtype)
            for result, n_rows in zip(merged, chunks)])
        ids = da.concatenate([
            da.from_delayed(result[1], (n_rows, n_neighbors), dtype=np.int64)
            for result, n_rows in zip(merged, chunks)])
        return distances, ids

    def radius_neighbors(self, queries, radius, settings, *, exclude_self=False, n_jobs=None):
        """Neighbours within ``radius`` among all shards, computed to the client.

        Parameters
        ----------
        queries : dask.array.Array of shape (n_queries, n_features), or None
            As for :meth:`kneighbors`.
        radius : float
        settings : QuerySettings
        exclude_self : bool
            Must be true when ``queries`` is None (each row is left out of its own
            neighbours then), as :meth:`LSHIndex.radius_neighbors` is called.
        n_jobs : int or None

        Returns
        -------
        indptr : ndarray of shape (n_queries + 1,)
        ids : ndarray of shape (indptr[-1],), int64
            Global ids, each query's sorted by (distance, global id).
        distances : ndarray of shape (indptr[-1],)
        """
        if exclude_self != (queries is None):
            raise ValueError("a sharded index excludes self exactly when it queries its rows")
        merged, _, _ = self._merged_answers(shard_radius_neighbors, merge_radius_neighbors,
                                            queries, radius, settings, n_jobs)
        parts = dask.compute(*merged)
        counts = np.concatenate([np.diff(part[0]) for part in parts])
        return (np.concatenate([[0], np.cumsum(counts)]),
                np.concatenate([part[1] for part in parts]),
                np.concatenate([part[2] for part in parts]))

    def _merged_answers(self, search, merge, queries, limit, settings, n_jobs):
        """One task per (query chunk, shard) running ``search(shard, rows, offset, limit,
        settings, n_jobs)``, merged per query chunk by ``merge`` in a tree.

        Returns
        -------
        merged : list of Delayed
            Each query chunk's merged answer.
        chunks : tuple of int
            Rows of each query chunk.
        dtype : numpy.dtype
            The dtype of the distances.
        """
        search = delayed(search, pure=True)
        if queries is None:
            rows = [delayed(shard_data, pure=True)(shard) for shard in self.shards]
            chunks = tuple(int(n) for n in np.diff(self.offsets))
            blocks = [None] * self.n_shards  # each shard searches its own rows in place
            dtype = self.dtype
        else:
            prepare = delayed(prepared_queries, pure=True)
            rows = [prepare(block, self.dtype, self.estimator_name)
                    for block in queries.to_delayed().ravel()]
            chunks = queries.chunks[0]
            blocks = rows
            query_dtype = np.float32 if queries.dtype == np.float32 else np.float64
            dtype = np.result_type(self.dtype, query_dtype)
        answers = [
            [search(shard, blocks[i] if i == j else rows[i], int(self.offsets[j]), limit,
                    settings, n_jobs) for j, shard in enumerate(self.shards)]
            for i in range(len(rows))]
        return [_tree_merge(parts, merge) for parts in answers], chunks, dtype

    def rows(self):
        """The indexed rows as a lazy dask array, one row chunk per shard."""
        return da.concatenate([
            da.from_delayed(delayed(shard_data, pure=True)(shard),
                            (int(n_rows), self.n_features), dtype=self.dtype)
            for shard, n_rows in zip(self.shards, np.diff(self.offsets))])


def _tree_merge(parts, merge):
    """One query chunk's shard answers merged ``MERGE_FAN_IN`` at a time, level by level."""
    merge = delayed(merge, pure=True)
    while len(parts) > 1:  # levels of the tree, never one task per query
        parts = [merge(*parts[start:start + MERGE_FAN_IN])
                 for start in range(0, len(parts), MERGE_FAN_IN)]
    return parts[0]

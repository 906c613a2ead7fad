"""Approximate nearest neighbours across a Dask cluster: :class:`DaskLSHNearestNeighbors`.

Needs the ``dask`` extra (``pip install "sklearn-lsh[dask]"``: ``dask[array]`` and
``distributed``); ``import sklearn_lsh`` alone never imports Dask.
"""

from numbers import Real

import dask.array as da
import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_is_fitted,
    validate_data,
)

from ._base import (
    LSHNeighborsBase,
    LSHRadiusNeighborsMixin,
    check_graph_mode,
    check_n_neighbors,
    knn_graph,
    settings_for,
)
from ._docstrings import fill_doc
from ._sharded_index import ShardedIndex, fit_hashing
from ._shards import MAX_SHARD_ROWS, shard_sizes
from ._unsupervised import LSHNearestNeighbors

__all__ = ["DaskLSHNearestNeighbors"]

#: Rows per chunk of a NumPy array of queries (each chunk is one task per shard).
QUERY_CHUNK_ROWS = 8192


@fill_doc
class DaskLSHNearestNeighbors(LSHRadiusNeighborsMixin, BaseEstimator):
    """Approximate nearest neighbors over rows sharded across a Dask cluster.

    The rows stay where they are: each row chunk of ``X`` becomes a *shard*, an
    :class:`~sklearn_lsh.LSHIndex` built on the worker that holds the chunk
    and kept there (chunks of over 200000 rows are split into several shards).
    Every shard shares one hash space, one set of hash functions and one
    operating point, fitted by :class:`~sklearn_lsh.LSHNearestNeighbors` on a
    sample as large as a shard, drawn from every shard. A query chunk goes to
    every shard; each shard answers its ``n_neighbors`` nearest rows, and the
    answers are merged in a tree by (distance, row index).

    :meth:`kneighbors` returns lazy Dask arrays; :meth:`kneighbors_graph`,
    :meth:`radius_neighbors` and :meth:`radius_neighbors_graph` compute their
    answers (merged on the workers) to the client, whose memory must hold them.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbors to use by default for :meth:`kneighbors` queries.
    radius : float, default=1.0
        Range of parameter space to use by default for :meth:`radius_neighbors`
        queries.
    %(index_parameters)s

    Attributes
    ----------
    effective_metric_ : str
        The distance metric used.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.
    n_samples_fit_ : int
        Number of samples in the fitted data.
    n_shards_ : int
        Number of shards (one per row chunk, or more for chunks of over 200000 rows).
    n_hyperplanes_ : int
        Hyperplanes per table, as resolved at fit on the sample.
    n_cells_ : int
        Number of k-means cells, as resolved at fit on the sample.
    %(tuning_attributes)s
    index_ : ShardedIndex
        The shards (persisted Dask objects, each an ``LSHIndex`` on a worker),
        their row offsets and the hash space, functions and settings they share.

    See Also
    --------
    sklearn_lsh.LSHNearestNeighbors : The same search on one machine.
    sklearn.neighbors.NearestNeighbors : Exact nearest neighbors.

    Notes
    -----
    Results depend only on the data, its row chunks, the parameters and
    ``random_state``: not on the number of workers or on the scheduling. With
    settings that make each shard's search exhaustive the answers are exact
    brute force's, ties broken by row index. A shard lost with its worker is
    built again from its rows (Dask's lineage) when a query needs it.

    Values (NaN, infinity) are checked inside the tasks: :meth:`fit` raises at
    once, as it waits for the shards; :meth:`kneighbors` on a Dask array raises
    when its result is computed. Shapes, chunks and dtypes are checked at the call.

    Examples
    --------
    Without a ``distributed.Client`` the shards are built and searched by Dask's
    local threads:

    >>> import numpy as np
    >>> from sklearn_lsh.dask import DaskLSHNearestNeighbors
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [10.0, 10.0]])
    >>> nn = DaskLSHNearestNeighbors(n_neighbors=2, random_state=0).fit(X)
    >>> distances, indices = nn.kneighbors([[0.1, 0.1]])
    >>> indices.compute()
    array([[0, 1]])
    """

    _parameter_constraints: dict = {
        **LSHNeighborsBase._parameter_constraints,
        "radius": [Interval(Real, 0, None, closed="both")],
    }

    def __init__(self, n_neighbors=5, radius=1.0, *, n_hyperplanes="auto", n_tables="auto",
                 n_probes="auto", n_candidates="auto", n_cells="auto", n_cell_probes="auto",
                 target_recall=0.9, metric="euclidean", random_state=None, n_jobs=None,
                 verbose=0):
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.n_hyperplanes = n_hyperplanes
        self.n_tables = n_tables
        self.n_probes = n_probes
        self.n_candidates = n_candidates
        self.n_cells = n_cells
        self.n_cell_probes = n_cell_probes
        self.target_recall = target_recall
        self.metric = metric
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build one shard per row chunk of ``X``, on the workers that hold the rows.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
            Training data, chunked by rows only (one chunk across the features).
            A NumPy array is cut into chunks of 200000 rows. float32 stays float32.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : DaskLSHNearestNeighbors
            The fitted estimator, once every shard is built.
        """
        X = self._as_dask_rows(X, reset=True, chunk_rows=MAX_SHARD_ROWS)
        sizes = shard_sizes(X.chunks[0])
        if sizes != X.chunks[0]:
            X = X.rechunk({0: sizes})  # only splits: every shard's rows come from one chunk
        # The sampled rows have their own seed; the fit on them gets random_state as given.
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        name = type(self).__name__
        hashing = fit_hashing(X.to_delayed().ravel(), sizes, self.get_params(), seed, name)
        self.index_ = ShardedIndex.build(X, hashing, name)
        self.operating_point_ = hashing.settings
        self.search_method_ = hashing.search_method
        self.estimated_recall_ = hashing.estimated_recall
        self.estimated_speedup_ = hashing.estimated_speedup
        self.n_hyperplanes_ = hashing.n_hyperplanes
        self.n_cells_ = hashing.n_cells
        self.n_samples_fit_ = self.index_.n_samples
        self.n_shards_ = self.index_.n_shards
        self.effective_metric_ = self.metric
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Find the (approximate) K-neighbors of each query, lazily.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_queries, n_features), default=None
            The query points, chunked by rows only. If not provided, neighbors
            of each indexed point are returned; in that case a point is not its
            own neighbor.
        n_neighbors : int, default=None
            Number of neighbors required for each sample. The default is the
            value passed to the constructor.
        return_distance : bool, default=True
            Whether or not to return the distances.

        Returns
        -------
        neigh_dist : dask.array.Array of shape (n_queries, n_neighbors)
            Exact distances to the neighbors, ascending (ties by index), in the
            training data's dtype. Row chunks like ``X``'s (one per shard when
            ``X`` is None). Only present if ``return_distance=True``.
        neigh_ind : dask.array.Array of shape (n_queries, n_neighbors)
            Indices of the nearest points in the population matrix.
        """
        check_is_fitted(self)
        queries = None if X is None else self._validate_queries(X)
        n_neighbors = check_n_neighbors(n_neighbors, self.n_neighbors, self.n_samples_fit_,
                                        None if queries is None else queries.shape[0])
        distances, indices = self.index_.kneighbors(
            queries, n_neighbors, self._query_settings(n_neighbors), n_jobs=self.n_jobs)
        return (distances, indices) if return_distance else indices

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """Compute the (weighted) graph of k-Neighbors for points in X.

        The graph is computed and returned to the client: it must fit its memory.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_queries, n_features), default=None
            The query points. If not provided, neighbors of each indexed point
            are returned; in that case a point is not its own neighbor.
        n_neighbors : int, default=None
            Number of neighbors for each sample. The default is the value
            passed to the constructor.
        mode : {"connectivity", "distance"}, default="connectivity"
            ``"connectivity"`` stores ones, ``"distance"`` the exact distances.

        Returns
        -------
        A : sparse matrix of shape (n_queries, n_samples_fit)
            CSR graph; row ``i`` holds the neighbors of query ``i`` in order of
            increasing distance.
        """
        check_is_fitted(self)
        check_graph_mode(mode)
        distances, indices = da.compute(*self.kneighbors(X, n_neighbors))
        return knn_graph(indices, distances if mode == "distance" else None,
                         self.n_samples_fit_)

    def to_local(self):
        """An :class:`~sklearn_lsh.LSHNearestNeighbors` with these parameters, fitted
        on the indexed rows gathered to the client (they must fit its memory).

        Returns
        -------
        LSHNearestNeighbors
            Fitted (and tuned) anew on all the rows, as one machine would be.
        """
        check_is_fitted(self)
        return LSHNearestNeighbors(**self.get_params()).fit(self.index_.rows().compute())

    def _validate_queries(self, X):
        """Queries as the shards expect them: a Dask array chunked by rows only."""
        return self._as_dask_rows(X, reset=False, chunk_rows=QUERY_CHUNK_ROWS)

    def _query_settings(self, n_neighbors):
        """The shared operating point for a query call of ``n_neighbors``."""
        return settings_for(self.operating_point_, n_neighbors,
                            fitted_neighbors=self.n_neighbors,
                            candidates_set=self.n_candidates != "auto",
                            tuned=self.estimated_recall_ is not None)

    def _as_dask_rows(self, X, *, reset, chunk_rows):
        """``X`` as a Dask array chunked by rows only, checked as far as possible without
        computing it (shape, chunks, dtype, features); a NumPy-like ``X`` is
        validated entirely, then cut into chunks of ``chunk_rows`` rows."""
        if not isinstance(X, da.Array):
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
            return da.from_array(X, chunks=(chunk_rows, -1))
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D array, got a {X.ndim}D dask array instead.")
        if any(np.isnan(size) for size in X.shape):
            raise ValueError("X has unknown chunk sizes: call X.compute_chunk_sizes() first.")
        if X.numblocks[1] != 1:
            raise ValueError(
                f"X must be chunked by rows only, with one chunk across its {X.shape[1]} "
                f"features; got column chunks {X.chunks[1]}: use X.rechunk({{1: -1}}).")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X has dtype {X.dtype}: {type(self).__name__} needs numbers.")
        if X.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                             f"of 1 is required by {type(self).__name__}.")
        _check_n_features(self, X, reset=reset)
        _check_feature_names(self, X, reset=reset)
        return X

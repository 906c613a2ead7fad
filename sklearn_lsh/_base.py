"""Base class and mixins shared by every LSH estimator.

The estimators only validate, resolve parameters and format results; they
hold the fitted index as ``index_``, an :class:`~sklearn_lsh._lsh_index.LSHIndex`,
and talk to it through its methods.
"""

import warnings
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.neighbors import BallTree, KDTree
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._hashing import MAX_BITS, MAX_PROBE_BITS
from ._lsh_index import LSHIndex, QuerySettings
from ._tuning import tune

#: The query parameters the recall tuner chooses when left at "auto".
QUERY_PARAMETERS = ("n_tables", "n_probes", "n_cell_probes", "n_candidates")
#: Their values without tuning (``target_recall=None``); ``n_candidates`` is
#: :func:`untuned_candidates`.
UNTUNED_DEFAULTS = dict(n_tables=10, n_probes=8, n_cell_probes=2)


def untuned_candidates(n_neighbors):
    """``n_candidates="auto"`` without tuning: 5 per neighbour, at least 50."""
    return max(50, 5 * n_neighbors)

SUPPORTED_METRICS = ("cosine", "euclidean")


def settings_for(operating_point, n_neighbors, *, fitted_neighbors, candidates_set, tuned):
    """The operating point for a query call of ``n_neighbors``: candidates not set by
    the user grow in proportion when more neighbours than fitted for are asked.

    Parameters
    ----------
    operating_point : QuerySettings
        As chosen at ``fit``, for ``fitted_neighbors``.
    n_neighbors : int
        Asked by the call.
    fitted_neighbors : int
        The estimator's ``n_neighbors``.
    candidates_set : bool
        Whether the user set ``n_candidates`` (then it is kept).
    tuned : bool
        Whether ``fit`` tuned the operating point (untuned: 5 candidates per
        neighbour, at least 50).

    Returns
    -------
    QuerySettings
    """
    if candidates_set:
        return operating_point
    if not tuned:
        return replace(operating_point, n_candidates=untuned_candidates(n_neighbors))
    if n_neighbors > fitted_neighbors:
        def grown(count):
            return -(-count * n_neighbors // fitted_neighbors)
        return replace(operating_point, n_candidates=grown(operating_point.n_candidates),
                       n_sketch_candidates=grown(operating_point.n_sketch_candidates))
    return operating_point


class LSHNeighborsBase(BaseEstimator):
    """Parameters, validation and fitting shared by the LSH estimators.

    Fitted state: ``index_``, an :class:`~sklearn_lsh._lsh_index.LSHIndex`
    that holds the training rows (not copied) as ``index_.data``, also
    readable as ``_fit_X`` like scikit-learn's neighbors estimators.
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_hyperplanes": [StrOptions({"auto"}), Interval(Integral, 1, MAX_BITS, closed="both")],
        "n_tables": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "n_cells": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "n_cell_probes": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "n_probes": [StrOptions({"auto"}),
                     Interval(Integral, 0, 2**MAX_PROBE_BITS - 1, closed="both")],
        "n_candidates": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "target_recall": [Interval(Real, 0, 1, closed="right"), None],
        "metric": [StrOptions(set(SUPPORTED_METRICS))],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, n_neighbors=5, *, n_hyperplanes="auto", n_tables="auto",
                 n_probes="auto", n_candidates="auto", n_cells="auto", n_cell_probes="auto",
                 target_recall=0.9, metric="euclidean", random_state=None, n_jobs=None,
                 verbose=0):
        self.n_neighbors = n_neighbors
        self.n_hyperplanes = n_hyperplanes
        self.n_tables = n_tables
        self.n_cells = n_cells
        self.n_cell_probes = n_cell_probes
        self.n_probes = n_probes
        self.n_candidates = n_candidates
        self.target_recall = target_recall
        self.metric = metric
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y=None):
        """Validate ``X`` (and ``y``) and build the index. Parameters are already validated.

        Like scikit-learn's neighbors estimators, ``X`` may also be a fitted
        neighbors estimator (theirs or ours), a ``BallTree`` or a ``KDTree``:
        its training rows are indexed.
        """
        X = _training_rows_of(X)
        if y is None:
            X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                              reset=True)
        else:
            X, y = validate_data(self, X, y, accept_sparse="csr", multi_output=True,
                                 dtype=[np.float64, np.float32], reset=True)
            self._store_targets(y)
        self._set_index(self._fit_index(X))
        self.effective_metric_ = self.metric
        return self

    def _fit_index(self, X):
        """A new index over validated rows, with hash functions fitted to them, and
        its operating point: tuned for ``target_recall``, or the parameters as
        given with the untuned defaults for the rest."""
        n_bits = None if self.n_hyperplanes == "auto" else self.n_hyperplanes
        n_cells = None if self.n_cells == "auto" else self.n_cells
        fixed = {name: getattr(self, name) for name in QUERY_PARAMETERS
                 if getattr(self, name) != "auto"}
        random_state = check_random_state(self.random_state)
        if self.target_recall is None or len(fixed) == len(QUERY_PARAMETERS):
            settings = {**UNTUNED_DEFAULTS,
                        "n_candidates": untuned_candidates(self.n_neighbors), **fixed}
            index = LSHIndex.fit(X, metric=self.metric, n_bits=n_bits,
                                 n_tables=settings.pop("n_tables"), n_cells=n_cells,
                                 random_state=random_state)
            self.operating_point_ = QuerySettings(**settings)
            self.search_method_ = "hashing"
            self.estimated_recall_ = self.estimated_speedup_ = None
            return index
        tuning = tune(
            X, metric=self.metric, n_neighbors=self.n_neighbors,
            target_recall=self.target_recall, n_bits=n_bits, n_cells=n_cells, fixed=fixed,
            allow_exact=self.n_hyperplanes == "auto" and self.n_tables == "auto",
            random_state=random_state, log=self._log if self.verbose else None,
            n_jobs=self.n_jobs)
        self.operating_point_ = tuning.settings
        if tuning.settings.exact:
            self.search_method_ = "exact"
        else:
            self.search_method_ = "sketch" if tuning.settings.prerank == "sketch" else "hashing"
        self.estimated_recall_ = tuning.estimated_recall
        self.estimated_speedup_ = tuning.estimated_speedup
        return tuning.index

    def _log(self, line):
        print(f"[{type(self).__name__}] {line}", flush=True)

    def _set_index(self, index):
        self.index_ = index
        # Bits of the keys the queries use (the index may hold longer ones).
        self.n_hyperplanes_ = index.n_bits - self.operating_point_.n_dropped_bits
        self.n_cells_ = index.n_cells
        self.n_samples_fit_ = index.n_samples

    @property
    def _fit_X(self):
        """The training rows, as scikit-learn's neighbors estimators name them."""
        return self.index_.data

    def _partial_fit(self, X):
        """Add rows to the index; fit on the first call.

        New rows are hashed with the fitted functions, except when the index
        has doubled since its hash functions were fitted: then the whole index
        is fitted again on all its rows (see ``partial_fit``). The estimator
        changes only once everything has succeeded, so a call that raises
        leaves the index as it was.
        """
        if not hasattr(self, "index_"):
            return self._fit(X)
        X = self._validate_queries(X, allow_empty=True)
        _check_storable(X, self._fit_X.dtype)
        if X.shape[0] == 0:
            return self
        X = X.astype(self._fit_X.dtype, copy=False)
        stack = sp.vstack if sp.issparse(X) else np.vstack
        fit_X = stack([self._fit_X, X])
        if sp.issparse(fit_X):
            fit_X = fit_X.tocsr()
        if fit_X.shape[0] >= REFIT_GROWTH * self.index_.n_fit_rows:
            self._set_index(self._fit_index(fit_X))
        else:
            self._set_index(self.index_.extend(X, fit_X))
        return self

    def _store_targets(self, y):
        """Keep ``y`` as sklearn's neighbors estimators do: ``_y``, and for
        classifiers ``classes_`` with ``_y`` holding class indices."""
        if not is_classifier(self):
            self._y = y
            return
        self.outputs_2d_ = not (y.ndim == 1 or y.shape[1] == 1)
        if y.ndim == 2 and not self.outputs_2d_:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning, stacklevel=3)
        y = y.reshape(len(y), -1)
        check_classification_targets(y)
        self._y = np.empty(y.shape, dtype=np.intp)
        self.classes_ = []
        for k in range(y.shape[1]):
            classes, self._y[:, k] = np.unique(y[:, k], return_inverse=True)
            self.classes_.append(classes)
        if not self.outputs_2d_:
            self.classes_, self._y = self.classes_[0], self._y.ravel()

    def _validate_queries(self, X, allow_empty=False):
        """Queries as the index expects them: validated, CSR or dense like the training
        rows, float32 only when both the training rows and the queries are float32
        (a float64 query is answered in float64, as scikit-learn does)."""
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                          reset=False, ensure_min_samples=0 if allow_empty else 1)
        if sp.issparse(X) != sp.issparse(self._fit_X):
            X = sp.csr_matrix(X) if sp.issparse(self._fit_X) else X.toarray()
        return X.astype(np.result_type(X.dtype, self._fit_X.dtype), copy=False)

    def _query_settings(self, n_neighbors):
        """The operating point for a query call of ``n_neighbors``: candidates not set
        by the user grow in proportion when more neighbours than fitted for are asked."""
        return settings_for(self.operating_point_, n_neighbors, fitted_neighbors=self.n_neighbors,
                            candidates_set=self.n_candidates != "auto",
                            tuned=self.estimated_recall_ is not None)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True  # a 2-D y is voted / averaged per column
        return tags


class LSHKNeighborsMixin:
    """``kneighbors`` and ``kneighbors_graph`` over the LSH index."""

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Find the (approximate) K-neighbors of a point.

        Candidates are the samples that share a bucket with the query in any
        hash table (or in one of its probed buckets); the best of them by a
        cheap projected distance are ranked by the exact metric distance.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features), default=None
            The query points. If not provided, neighbors of each indexed point
            are returned; in that case a point is not its own neighbor.
        n_neighbors : int, default=None
            Number of neighbors required for each sample. The default is the
            value passed to the constructor.
        return_distance : bool, default=True
            Whether or not to return the distances.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors)
            Exact distances to the neighbors, ascending (ties by index), in the
            training data's dtype. Only present if ``return_distance=True``.
        neigh_ind : ndarray of shape (n_queries, n_neighbors)
            Indices of the nearest points in the population matrix; always
            ``n_neighbors`` distinct indices per query.
        """
        check_is_fitted(self)
        query_is_train = X is None
        if not query_is_train:
            X = self._validate_queries(X)
        n_neighbors = check_n_neighbors(n_neighbors, self.n_neighbors, self.n_samples_fit_,
                                        None if query_is_train else X.shape[0])
        distances, indices = self.index_.kneighbors(
            X, int(n_neighbors), self._query_settings(n_neighbors),
            exclude_self=query_is_train, n_jobs=self.n_jobs)
        return (distances, indices) if return_distance else indices

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """Compute the (weighted) graph of k-Neighbors for points in X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features), default=None
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
        if mode == "connectivity":
            indices = self.kneighbors(X, n_neighbors, return_distance=False)
            return knn_graph(indices, None, self.n_samples_fit_)
        distances, indices = self.kneighbors(X, n_neighbors, return_distance=True)
        return knn_graph(indices, distances, self.n_samples_fit_)


class LSHRadiusNeighborsMixin:
    """``radius_neighbors`` and ``radius_neighbors_graph`` over the LSH index."""

    def radius_neighbors(self, X=None, radius=None, return_distance=True,
                         sort_results=False):
        """Find the (approximate) neighbors within a given radius of a point.

        Every returned neighbor is truly within ``radius`` (exact distances);
        neighbors that share no probed bucket with the query are missed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features), default=None
            The query points. If not provided, neighbors of each indexed point
            are returned; in that case a point is not its own neighbor.
        radius : float, default=None
            Limiting distance of neighbors to return. The default is the value
            passed to the constructor.
        return_distance : bool, default=True
            Whether or not to return the distances.
        sort_results : bool, default=False
            If True, each query's neighbors are sorted by increasing distance.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries,) of arrays
            Distances to the neighbors of each query. Only present if
            ``return_distance=True``.
        neigh_ind : ndarray of shape (n_queries,) of arrays
            Indices of the neighbors of each query.
        """
        check_is_fitted(self)
        if sort_results and not return_distance:
            raise ValueError("return_distance must be True if sort_results is True.")
        radius = self.radius if radius is None else radius
        if not isinstance(radius, Real) or not radius >= 0:
            raise ValueError(f"Expected radius >= 0. Got {radius!r}")
        query_is_train = X is None
        if not query_is_train:
            X = self._validate_queries(X)
        indptr, indices, distances = self.index_.radius_neighbors(
            X, float(radius), self._query_settings(1), exclude_self=query_is_train,
            n_jobs=self.n_jobs)
        if not sort_results:
            # Like scikit-learn's unsorted results: ascending index within a query.
            order = np.lexsort((indices, np.repeat(np.arange(len(indptr) - 1),
                                                   np.diff(indptr))))
            indices, distances = indices[order], distances[order]
        neigh_ind = _split_rows(indices, indptr)
        if return_distance:
            return _split_rows(distances, indptr), neigh_ind
        return neigh_ind

    def radius_neighbors_graph(self, X=None, radius=None, mode="connectivity",
                               sort_results=False):
        """Compute the (weighted) graph of neighbors within ``radius``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features), default=None
            The query points. If not provided, neighbors of each indexed point
            are returned; in that case a point is not its own neighbor.
        radius : float, default=None
            Radius of neighborhoods. The default is the value passed to the
            constructor.
        mode : {"connectivity", "distance"}, default="connectivity"
            ``"connectivity"`` stores ones, ``"distance"`` the exact distances.
        sort_results : bool, default=False
            If True, each row's entries are sorted by increasing distance
            (only with ``mode="distance"``).

        Returns
        -------
        A : sparse matrix of shape (n_queries, n_samples_fit)
            CSR graph of the neighbors found.
        """
        check_is_fitted(self)
        check_graph_mode(mode)
        if mode == "connectivity":
            indices = self.radius_neighbors(X, radius, return_distance=False)
            data = None
        else:
            distances, indices = self.radius_neighbors(
                X, radius, return_distance=True, sort_results=sort_results)
            data = np.concatenate(list(distances)) if len(distances) else np.empty(0)
        counts = np.array([len(row) for row in indices], dtype=np.int64)
        flat = np.concatenate(list(indices)) if len(indices) else np.empty(0, np.int64)
        if data is None:
            data = np.ones(flat.shape[0])
        indptr = np.concatenate([[0], np.cumsum(counts)])
        graph = sp.csr_matrix((data, flat, indptr), shape=(len(indices), self.n_samples_fit_))
        return as_configured_sparse(graph)


#: ``partial_fit`` fits the index again once it holds this many times the rows
#: its hash functions were fitted on.
REFIT_GROWTH = 2


def _training_rows_of(X):
    """The rows to index when ``X`` is a fitted neighbors object, else ``X`` itself."""
    if isinstance(X, BaseEstimator) and hasattr(X, "kneighbors"):
        check_is_fitted(X)
        return X._fit_X
    if isinstance(X, (BallTree, KDTree)):
        return np.asarray(X.data)
    return X


def _check_storable(X, dtype):
    """Raise scikit-learn's error when rows do not fit the index's dtype (float32)."""
    values = X.data if sp.issparse(X) else X
    if values.size and np.dtype(dtype).itemsize < values.dtype.itemsize and \
            np.max(np.abs(values)) > np.finfo(dtype).max:
        raise ValueError(
            f"Input X contains infinity or a value too large for {np.dtype(dtype)!r}: "
            f"the index stores its rows as {np.dtype(dtype)}.")


def neighbor_weights(distances, weights):
    """Weights of each query's neighbors, as scikit-learn's neighbors estimators define them.

    Parameters
    ----------
    distances : ndarray of shape (n_queries, n_neighbors)
    weights : {"uniform", "distance"}, callable or None
        ``None`` means ``"uniform"``.

    Returns
    -------
    ndarray of shape (n_queries, n_neighbors), or None for "uniform"
        With "distance", ``1 / distance``; a query with neighbors at distance
        zero gives those weight 1 and the others weight 0.
    """
    if weights is None or weights == "uniform":
        return None
    if weights == "distance":
        with np.errstate(divide="ignore"):
            inverse = 1.0 / distances
        at_zero = np.isinf(inverse)
        rows = at_zero.any(axis=1)
        inverse[rows] = at_zero[rows]
        return inverse
    return weights(distances)


def _split_rows(values, indptr):
    """Object array of per-query arrays from CSR-style ``values`` and ``indptr``."""
    rows = np.empty(len(indptr) - 1, dtype=object)
    rows[:] = np.split(values, indptr[1:-1])
    return rows


def check_n_neighbors(n_neighbors, default, n_samples_fit, n_queries):
    """The number of neighbours a query call asks for, checked as scikit-learn checks it.

    Parameters
    ----------
    n_neighbors : int or None
        As passed to ``kneighbors``; ``None`` means ``default``.
    default : int
        The estimator's ``n_neighbors``.
    n_samples_fit : int
        Indexed rows.
    n_queries : int or None
        Rows queried; ``None`` when the queries are the indexed rows, each
        left out of its own neighbours.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        When ``n_neighbors`` is not an integer.
    ValueError
        When it is not positive, or more than the rows available to each query.
    """
    if n_neighbors is None:
        n_neighbors = default
    elif not isinstance(n_neighbors, Integral) or isinstance(n_neighbors, bool):
        raise TypeError(
            f"n_neighbors does not take {type(n_neighbors)} value, enter integer value")
    elif n_neighbors <= 0:
        raise ValueError(f"Expected n_neighbors > 0. Got {n_neighbors}")
    query_is_train = n_queries is None
    if n_neighbors > n_samples_fit - query_is_train:
        inequality = "n_neighbors < n_samples_fit" if query_is_train else \
            "n_neighbors <= n_samples_fit"
        raise ValueError(
            f"Expected {inequality}, but n_neighbors = {n_neighbors}, "
            f"n_samples_fit = {n_samples_fit}, "
            f"n_samples = {n_samples_fit if query_is_train else n_queries}")
    return int(n_neighbors)


def check_graph_mode(mode):
    """Raise scikit-learn's error for a graph ``mode`` other than "connectivity" or "distance"."""
    if mode not in ("connectivity", "distance"):
        raise ValueError(
            'Unsupported mode, must be one of "connectivity", '
            f'or "distance" but got "{mode}" instead')


def knn_graph(indices, distances, n_samples_fit):
    """The k-NN graph of the queries as a CSR matrix (or array, as configured).

    Parameters
    ----------
    indices : ndarray of shape (n_queries, n_neighbors)
    distances : ndarray of shape (n_queries, n_neighbors) or None
        The entries; ``None`` stores ones (a connectivity graph).
    n_samples_fit : int
        The graph's columns.

    Returns
    -------
    sparse matrix of shape (n_queries, n_samples_fit)
        Row ``i`` holds query ``i``'s neighbours in the order given.
    """
    n_queries, n_neighbors = indices.shape
    data = np.ones(indices.size) if distances is None else np.ravel(distances)
    indptr = np.arange(0, n_queries * n_neighbors + 1, n_neighbors)
    graph = sp.csr_matrix((data, indices.ravel(), indptr), shape=(n_queries, n_samples_fit))
    return as_configured_sparse(graph)


def as_configured_sparse(matrix):
    """A CSR matrix, or CSR array when scikit-learn is set to ``sparse_interface="sparray"``."""
    if get_config().get("sparse_interface") == "sparray":
        return sp.csr_array(matrix)
    return matrix

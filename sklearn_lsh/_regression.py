"""Regression on neighbor targets: :class:`LSHKNeighborsRegressor`."""

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import LSHKNeighborsMixin, LSHNeighborsBase, neighbor_weights
from ._docstrings import fill_doc


@fill_doc
class LSHKNeighborsRegressor(LSHKNeighborsMixin, RegressorMixin, LSHNeighborsBase):
    """Regression by the (weighted) mean target of the approximate k nearest neighbors.

    With the same neighbor sets the predictions equal those of
    :class:`sklearn.neighbors.KNeighborsRegressor`.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbors to use by default for :meth:`kneighbors` queries.
    weights : {"uniform", "distance"}, callable or None, default="uniform"
        Weight function used in prediction (``None`` means ``"uniform"``), as in
        :class:`sklearn.neighbors.KNeighborsRegressor`.
    %(index_parameters)s

    Attributes
    ----------
    effective_metric_ : str
        The distance metric used.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, for DataFrame input.
    n_samples_fit_ : int
        Number of samples in the fitted data.
    n_hyperplanes_ : int
        Hyperplanes per table, as resolved at fit (with ``"auto"`` and several
        cells, the largest number any cell uses; with the sketch strategy's
        cross-polytope tables, the bits of a key).
    n_cells_ : int
        Number of k-means cells, as resolved at fit.
    %(tuning_attributes)s
    index_ : LSHIndex
        The fitted index: the training rows, hash functions and sorted tables.

    See Also
    --------
    sklearn.neighbors.KNeighborsRegressor : Exact k-nearest-neighbors regression.
    LSHKNeighborsClassifier : Classification by approximate neighbor vote.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lsh import LSHKNeighborsRegressor
    >>> X = np.arange(10.0).reshape(-1, 1)
    >>> reg = LSHKNeighborsRegressor(n_neighbors=2, random_state=0).fit(X, 2 * X.ravel())
    >>> reg.predict([[4.4]])
    array([9.])
    """

    _parameter_constraints: dict = {
        **LSHNeighborsBase._parameter_constraints,
        "weights": [StrOptions({"uniform", "distance"}), callable, None],
    }

    def __init__(self, n_neighbors=5, *, weights="uniform", n_hyperplanes="auto",
                 n_tables="auto", n_probes="auto", n_candidates="auto", n_cells="auto",
                 n_cell_probes="auto", target_recall=0.9, metric="euclidean",
                 random_state=None, n_jobs=None, verbose=0):
        super().__init__(n_neighbors=n_neighbors, n_hyperplanes=n_hyperplanes,
                         n_tables=n_tables, n_probes=n_probes, n_candidates=n_candidates,
                         n_cells=n_cells, n_cell_probes=n_cell_probes,
                         target_recall=target_recall, metric=metric,
                         random_state=random_state, n_jobs=n_jobs, verbose=verbose)
        self.weights = weights

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the regressor from the training dataset.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.

        Returns
        -------
        self : LSHKNeighborsRegressor
            The fitted regressor.
        """
        return self._fit(X, y)

    def predict(self, X):
        """Predict the target for the provided data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features), or None
            Test samples. ``None`` predicts each training sample from its
            neighbors other than itself.

        Returns
        -------
        y : ndarray of shape (n_queries,) or (n_queries, n_outputs)
            Target values, float64.
        """
        check_is_fitted(self)
        distances, indices = self.kneighbors(X)
        weights = neighbor_weights(distances, self.weights)
        targets = np.asarray(self._y, dtype=np.float64)
        neighbor_targets = targets[indices]  # (n_queries, n_neighbors[, n_outputs])
        if weights is None:
            return neighbor_targets.mean(axis=1)
        if targets.ndim == 2:
            weights = weights[:, :, None]
        return (neighbor_targets * weights).sum(axis=1) / weights.sum(axis=1)

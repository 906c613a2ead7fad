"""Classification by neighbor vote: :class:`LSHKNeighborsClassifier`."""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import LSHKNeighborsMixin, LSHNeighborsBase, neighbor_weights
from ._docstrings import fill_doc


@fill_doc
class LSHKNeighborsClassifier(LSHKNeighborsMixin, ClassifierMixin, LSHNeighborsBase):
    """Classifier implementing a vote among the approximate k nearest neighbors.

    The neighbors come from the same LSH index as :class:`LSHNearestNeighbors`;
    the vote is :class:`sklearn.neighbors.KNeighborsClassifier`'s, so with the
    same neighbor sets the predictions are identical.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbors to use by default for :meth:`kneighbors` queries.
    weights : {"uniform", "distance"}, callable or None, default="uniform"
        Weight function used in prediction: ``"uniform"`` (or ``None``) weighs all
        neighbors equally, ``"distance"`` by the inverse of their distance
        (neighbors at distance zero take all the weight), a callable maps an
        array of distances to an array of weights of the same shape.
    %(index_parameters)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,) or list of such arrays
        Class labels known to the classifier (a list for multi-output ``y``).
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
    outputs_2d_ : bool
        False when ``y`` was 1-D (or a column) at fit, True otherwise.
    index_ : LSHIndex
        The fitted index: the training rows, hash functions and sorted tables.

    See Also
    --------
    sklearn.neighbors.KNeighborsClassifier : Exact k-nearest-neighbors vote.
    LSHNearestNeighbors : Unsupervised approximate neighbors.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_lsh import LSHKNeighborsClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LSHKNeighborsClassifier(n_neighbors=3, random_state=0).fit(X, y)
    >>> clf.predict(X[[0, 60, 120]])
    array([0, 1, 2])
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
        """Fit the classifier from the training dataset.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target labels.

        Returns
        -------
        self : LSHKNeighborsClassifier
            The fitted classifier.
        """
        return self._fit(X, y)

    def predict(self, X):
        """Predict the class labels for the provided data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features), or None
            Test samples. ``None`` predicts each training sample from its
            neighbors other than itself.

        Returns
        -------
        y : ndarray of shape (n_queries,) or (n_queries, n_outputs)
            Class labels for each data sample.
        """
        probabilities = self.predict_proba(X)
        if not self.outputs_2d_:
            return self.classes_[np.argmax(probabilities, axis=1)]
        return np.stack([classes[np.argmax(p, axis=1)]
                         for classes, p in zip(self.classes_, probabilities)], axis=1)

    def predict_proba(self, X):
        """Return probability estimates for the test data X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features), or None
            Test samples. ``None`` uses the training samples, each without itself.

        Returns
        -------
        p : ndarray of shape (n_queries, n_classes), or a list of n_outputs such arrays
            The class probabilities of the input samples, classes ordered as in
            ``classes_``.
        """
        check_is_fitted(self)
        distances, indices = self.kneighbors(X)
        weights = neighbor_weights(distances, self.weights)
        if weights is None:
            weights = np.ones(indices.shape)
        elif np.any(np.all(weights == 0, axis=1)):
            raise ValueError(
                "All neighbors of some sample is getting zero weights. Please modify "
                "'weights' to avoid this case if you are using a user-defined function.")
        n_queries = indices.shape[0]
        rows = np.repeat(np.arange(n_queries), indices.shape[1])
        targets = self._y.reshape(self.n_samples_fit_, -1)
        classes = [self.classes_] if not self.outputs_2d_ else self.classes_
        probabilities = []
        for k, labels in enumerate(classes):
            votes = np.bincount(rows * len(labels) + targets[indices.ravel(), k],
                                weights=weights.ravel(), minlength=n_queries * len(labels))
            votes = votes.reshape(n_queries, len(labels))
            total = votes.sum(axis=1, keepdims=True)
            total[total == 0.0] = 1.0
            probabilities.append(votes / total)
        return probabilities if self.outputs_2d_ else probabilities[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

"""Sparse k-neighbors graphs for pipelines: :class:`LSHKNeighborsTransformer`."""

from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import LSHKNeighborsMixin, LSHNeighborsBase
from ._docstrings import fill_doc


@fill_doc
class LSHKNeighborsTransformer(ClassNamePrefixFeaturesOutMixin, LSHKNeighborsMixin,
                               TransformerMixin, LSHNeighborsBase):
    """Transform X into a (weighted) graph of its approximate k nearest neighbors.

    Follows :class:`sklearn.neighbors.KNeighborsTransformer` exactly: the
    output is a CSR matrix of shape (n_queries, n_samples_fit) whose rows are
    sorted by increasing distance, and in ``"distance"`` mode each row holds
    ``n_neighbors + 1`` entries, because each training sample counts as its
    own neighbor (an explicit 0.0) when the training data is transformed.
    Estimators that take ``metric="precomputed"`` can use it in a pipeline.

    Parameters
    ----------
    mode : {"distance", "connectivity"}, default="distance"
        Type of returned matrix: ``"connectivity"`` returns ones,
        ``"distance"`` the exact distances.
    n_neighbors : int, default=5
        Number of neighbors per sample in the transformed sparse graph.
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
    sklearn.neighbors.KNeighborsTransformer : Exact k-neighbors graph transformer.
    LSHNearestNeighbors : Unsupervised approximate neighbors.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.manifold import Isomap
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_lsh import LSHKNeighborsTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> model = make_pipeline(LSHKNeighborsTransformer(n_neighbors=10, random_state=0),
    ...                       Isomap(n_neighbors=10, metric="precomputed"))
    >>> model.fit_transform(X[:500]).shape
    (500, 2)
    """

    _parameter_constraints: dict = {
        **LSHNeighborsBase._parameter_constraints,
        "mode": [StrOptions({"distance", "connectivity"})],
    }

    def __init__(self, *, mode="distance", n_neighbors=5, n_hyperplanes="auto",
                 n_tables="auto", n_probes="auto", n_candidates="auto", n_cells="auto",
                 n_cell_probes="auto", target_recall=0.9, metric="euclidean",
                 random_state=None, n_jobs=None, verbose=0):
        super().__init__(n_neighbors=n_neighbors, n_hyperplanes=n_hyperplanes,
                         n_tables=n_tables, n_probes=n_probes, n_candidates=n_candidates,
                         n_cells=n_cells, n_cell_probes=n_cell_probes,
                         target_recall=target_recall, metric=metric,
                         random_state=random_state, n_jobs=n_jobs, verbose=verbose)
        self.mode = mode

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the k-nearest neighbors transformer from the training dataset.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : LSHKNeighborsTransformer
            The fitted k-nearest neighbors transformer.
        """
        self._fit(X)
        self._n_features_out = self.n_samples_fit_
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Add samples to the index without rebuilding it.

        The first call on an unfitted estimator is :meth:`fit`. Later calls hash
        the new rows with the fitted hash functions (same centring, projection,
        cells and hyperplanes) and merge their keys into each table's sorted array;
        the new rows get the next sample indices. Once the index holds twice the
        rows its hash functions were fitted on, the call fits the index again on
        all its rows instead, so streaming rows in tiny batches gives an index
        as good as one :meth:`fit`. Invalid input raises and leaves the index
        unchanged; zero rows change nothing.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_new_samples, n_features)
            Rows to add.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : LSHKNeighborsTransformer
            The estimator, with ``n_samples_fit_`` grown by ``n_new_samples``.
        """
        self._partial_fit(X)
        self._n_features_out = self.n_samples_fit_
        return self

    def transform(self, X):
        """Compute the (weighted) graph of neighbors for points in X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
            Samples to transform.

        Returns
        -------
        Xt : sparse matrix of shape (n_queries, n_samples_fit)
            CSR graph; each row's entries are sorted by increasing distance.
        """
        check_is_fitted(self)
        add_one = self.mode == "distance"
        return self.kneighbors_graph(X, mode=self.mode,
                                     n_neighbors=self.n_neighbors + add_one)

    def fit_transform(self, X, y=None):
        """Fit to data, then transform it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training set.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        Xt : sparse matrix of shape (n_samples, n_samples)
            The graph of the training data; in ``"distance"`` mode each sample
            is its own first neighbor, at distance 0.
        """
        return self.fit(X).transform(X)

"""Unsupervised approximate nearest neighbors: :class:`LSHNearestNeighbors`."""

from numbers import Real

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval

from ._base import LSHKNeighborsMixin, LSHNeighborsBase, LSHRadiusNeighborsMixin
from ._docstrings import fill_doc


@fill_doc
class LSHNearestNeighbors(LSHKNeighborsMixin, LSHRadiusNeighborsMixin, LSHNeighborsBase):
    """Approximate nearest neighbors by random-hyperplane locality-sensitive hashing.

    A drop-in replacement for :class:`sklearn.neighbors.NearestNeighbors` when
    exact search is too slow. ``fit`` hashes every sample into ``n_tables``
    tables, each keyed by the signs of ``n_hyperplanes`` random projections and
    stored as a sorted key array; on tightly clustered data the samples are
    first split into k-means cells, each hashed by hyperplanes through its
    centroid (``n_cells``). A query collects the samples of its own bucket
    and of ``n_probes`` nearby buckets in every table (in each of its
    ``n_cell_probes`` nearest cells), pre-ranks them by a cheap projected
    distance and ranks the best ``n_candidates`` by the exact metric.

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
    n_hyperplanes_ : int
        Hyperplanes per table, as resolved at fit (with ``"auto"`` and several
        cells, the largest number any cell uses; with the sketch strategy's
        cross-polytope tables, the bits of a key).
    n_cells_ : int
        Number of k-means cells, as resolved at fit.
    %(tuning_attributes)s
    index_ : LSHIndex
        The fitted index: the training rows, the hash space (principal axes),
        the hash functions (cell centroids, hyperplanes), the sorted tables
        and the projected rows used for pre-ranking.

    See Also
    --------
    sklearn.neighbors.NearestNeighbors : Exact nearest neighbors.
    LSHKNeighborsClassifier : Classifier voting among approximate neighbors.

    Notes
    -----
    Distances are exact; only the neighbor *sets* are approximate. When the
    probed buckets hold fewer than ``n_neighbors`` candidates, the search
    widens to more probes and then to exact search, so every query gets
    ``n_neighbors`` distinct neighbors. Results for a query never depend on the
    other queries of its batch, on ``n_jobs`` or on ``working_memory``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lsh import LSHNearestNeighbors
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [10.0, 10.0]])
    >>> nn = LSHNearestNeighbors(n_neighbors=2, random_state=0).fit(X)
    >>> distances, indices = nn.kneighbors([[0.1, 0.1]])
    >>> indices
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
        super().__init__(n_neighbors=n_neighbors, n_hyperplanes=n_hyperplanes,
                         n_tables=n_tables, n_probes=n_probes, n_candidates=n_candidates,
                         n_cells=n_cells, n_cell_probes=n_cell_probes,
                         target_recall=target_recall, metric=metric,
                         random_state=random_state, n_jobs=n_jobs, verbose=verbose)
        self.radius = radius

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the LSH index from the training dataset.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Dense arrays and CSR matrices are indexed as given
            (float32 stays float32); they are never modified.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : LSHNearestNeighbors
            The fitted nearest neighbors estimator.
        """
        return self._fit(X)

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
        self : LSHNearestNeighbors
            The estimator, with ``n_samples_fit_`` grown by ``n_new_samples``.
        """
        return self._partial_fit(X)

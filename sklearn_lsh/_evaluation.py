"""Measuring an index on your own queries: :func:`measure_recall`."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._lsh_index import QuerySettings


def measure_recall(estimator, X, n_neighbors=None):
    """Recall@k of a fitted estimator's neighbours of ``X``, against exact search.

    A returned neighbour counts when its distance is at most the exact k-th
    distance (plus ``RECALL_TOLERANCE`` of it, for rounding), as ann-benchmarks
    counts, so ties at the k-th distance do not lower the recall.

    Parameters
    ----------
    estimator : fitted LSH estimator
        Any of this package's estimators.
    X : {array-like, sparse matrix} of shape (n_queries, n_features)
        Your queries (for example held-out rows).
    n_neighbors : int, default=None
        ``k``; the estimator's ``n_neighbors`` by default.

    Returns
    -------
    float
        The mean over the queries of the fraction of their ``k`` returned
        neighbours that are among the exact ones.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lsh import LSHNearestNeighbors, measure_recall
    >>> X = np.random.RandomState(0).normal(size=(500, 8))
    >>> nn = LSHNearestNeighbors(n_neighbors=5, random_state=0).fit(X)
    >>> measure_recall(nn, X[:20] + 0.01)
    1.0
    """
    check_is_fitted(estimator)
    n_neighbors = estimator.n_neighbors if n_neighbors is None else n_neighbors
    found, _ = estimator.kneighbors(X, n_neighbors)
    queries = estimator._validate_queries(X)
    exact, _ = estimator.index_.kneighbors(queries, n_neighbors, QuerySettings(exact=True))
    return float(np.mean(found_within(found, exact[:, -1])))


#: Relative slack on the k-th distance when counting a neighbour as found: exact
#: distances from different formulas differ by rounding (float32: about 1e-4).
RECALL_TOLERANCE = 1e-3


def found_within(distances, kth):
    """Which returned ``distances`` (n_queries, k) are within the true ``kth`` (n_queries,)."""
    kth = np.asarray(kth, dtype=np.float64)
    return distances <= (kth * (1.0 + RECALL_TOLERANCE) + 1e-12)[:, None]

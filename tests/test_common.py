"""scikit-learn's estimator checks for every public estimator, and their docstrings."""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_lsh

ESTIMATORS = [
    getattr(sklearn_lsh, name)()
    for name in sklearn_lsh.__all__
    if inspect.isclass(getattr(sklearn_lsh, name))
    and issubclass(getattr(sklearn_lsh, name), BaseEstimator)
]

# The same checks with the k-means cell level switched on.
ESTIMATORS_WITH_CELLS = [estimator.set_params(n_cells=3) for estimator in [
    getattr(sklearn_lsh, name)()
    for name in ("LSHNearestNeighbors", "LSHKNeighborsClassifier")
]]


@parametrize_with_checks(ESTIMATORS + ESTIMATORS_WITH_CELLS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_docstring_documents_every_parameter_once(estimator):
    doc = type(estimator).__doc__
    assert "%(" not in doc
    for name in inspect.signature(type(estimator)).parameters:
        assert doc.count(f"\n    {name} : ") == 1, name

"""scikit-learn's estimator checks, and the family's own k-NN checks, for every estimator."""

import inspect

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits
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


# The Dask estimator, when its extra is installed: scikit-learn's checks (it takes NumPy
# arrays too), not the family's below, whose answers are NumPy arrays.
try:
    from sklearn_lsh.dask import DaskLSHNearestNeighbors
except ImportError:
    SCALE_OUT = []
else:
    SCALE_OUT = [DaskLSHNearestNeighbors()]


@parametrize_with_checks(ESTIMATORS + ESTIMATORS_WITH_CELLS + SCALE_OUT)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS + SCALE_OUT, ids=lambda e: type(e).__name__)
def test_docstring_documents_every_parameter_once(estimator):
    doc = type(estimator).__doc__
    assert "%(" not in doc
    for name in inspect.signature(type(estimator)).parameters:
        assert doc.count(f"\n    {name} : ") == 1, name


# --- the family's own k-NN checks, for every estimator ----------------------------------

FAMILY = [type(estimator) for estimator in ESTIMATORS]


@pytest.fixture(scope="module")
def digits_xy():
    X, y = load_digits(return_X_y=True)
    return X[:1000], y[:1000], X[1000:1300]


def fitted(estimator_class, X, y, **params):
    estimator = estimator_class(n_neighbors=5, random_state=0, **params)
    return estimator.fit(X, y) if is_supervised(estimator) else estimator.fit(X)


def is_supervised(estimator):
    return hasattr(estimator, "predict")


def outputs(estimator, Q):
    """Every answer the estimator gives for queries ``Q`` and for its training rows."""
    distances, indices = estimator.kneighbors(Q)
    graph = estimator.kneighbors_graph(None, mode="distance")
    answers = {"distances": distances, "indices": indices,
               "self_indices": estimator.kneighbors()[1],
               "graph_indices": graph.indices, "graph_data": graph.data}
    if hasattr(estimator, "predict"):
        answers["predict"] = estimator.predict(Q)
        answers["predict_training"] = estimator.predict(None)
    if hasattr(estimator, "transform"):
        answers["transform"] = estimator.transform(Q).toarray()
    if hasattr(estimator, "radius_neighbors"):
        radius_distances, radius_indices = estimator.radius_neighbors(None, radius=20.0)
        answers["radius_indices"] = np.concatenate(radius_indices)
        answers["radius_distances"] = np.concatenate(radius_distances)
    return answers


def assert_same_outputs(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        assert_array_equal(actual[name], expected[name], err_msg=name)


@pytest.mark.parametrize("estimator_class", FAMILY, ids=lambda c: c.__name__)
def test_training_queries_exclude_themselves(estimator_class, digits_xy):
    X, y, _ = digits_xy
    estimator = fitted(estimator_class, X, y)
    indices = estimator.kneighbors(None)[1]
    assert not np.any(indices == np.arange(len(X))[:, None])
    graph = estimator.kneighbors_graph(None)
    assert graph.diagonal().sum() == 0


@pytest.mark.parametrize("estimator_class", FAMILY, ids=lambda c: c.__name__)
def test_distances_are_exact_and_rows_sorted(estimator_class, digits_xy):
    X, y, Q = digits_xy
    distances, indices = fitted(estimator_class, X, y).kneighbors(Q)
    assert_allclose(distances, np.linalg.norm(X[indices] - Q[:, None], axis=2), rtol=1e-6)
    assert np.all(np.diff(distances, axis=1) >= 0)
    assert all(len(set(row)) == row.size for row in indices)


@pytest.mark.parametrize("estimator_class", FAMILY, ids=lambda c: c.__name__)
def test_answers_do_not_depend_on_batch_chunking_jobs_or_backend(estimator_class, digits_xy):
    X, y, Q = digits_xy
    expected = outputs(fitted(estimator_class, X, y), Q)
    with config_context(working_memory=1):  # many small chunks
        assert_same_outputs(outputs(fitted(estimator_class, X, y), Q), expected)
        assert_same_outputs(outputs(fitted(estimator_class, X, y, n_jobs=2), Q), expected)
        for backend in ("threading", "loky", "multiprocessing"):
            with joblib.parallel_config(backend=backend, n_jobs=2):
                for n_jobs in (None, 2):  # None: the context's n_jobs
                    estimator = fitted(estimator_class, X, y, n_jobs=n_jobs)
                    assert_same_outputs(outputs(estimator, Q), expected)
    estimator = fitted(estimator_class, X, y)
    halves = [estimator.kneighbors(Q[:7]), estimator.kneighbors(Q[7:])]
    assert_array_equal(np.vstack([h[1] for h in halves]), expected["indices"])
    assert_array_equal(np.vstack([h[0] for h in halves]), expected["distances"])

"""Input a user can type, tried systematically with hypothesis.

Every case either works -- with the same answer as the equivalent clean
float64 array -- or raises ``ValueError``/``TypeError`` with a message that
names the problem. The caller's arrays are never modified.
"""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from sklearn_lsh import (
    LSHKNeighborsClassifier,
    LSHKNeighborsRegressor,
    LSHKNeighborsTransformer,
    LSHNearestNeighbors,
)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

# Few, reproducible examples: the suite stays fast and CI never flakes.
settings.register_profile("sklearn-lsh", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sklearn-lsh")

ESTIMATORS = [LSHNearestNeighbors, LSHKNeighborsClassifier, LSHKNeighborsRegressor,
              LSHKNeighborsTransformer]
#: The messages scikit-learn's validation gives, one of which must name the problem.
NAMED_PROBLEM = (
    "NaN|infinity|feature|sample|dim|2D array|dtype|convert|Complex|complex|"
    "numeric|string|n_neighbors|radius"
)


def fit(estimator_class, X, **params):
    estimator = estimator_class(n_neighbors=1, random_state=0, **params)
    if estimator_class in (LSHKNeighborsClassifier, LSHKNeighborsRegressor):
        return estimator.fit(X, np.arange(_n_rows(X)) % 2)
    return estimator.fit(X)


def _n_rows(X):
    if hasattr(X, "shape"):
        return X.shape[0] if len(X.shape) else 1
    return len(X)


def answer(estimator, Q):
    """What a query returns: neighbour indices, plus the prediction or graph."""
    _, indices = estimator.kneighbors(Q)
    if hasattr(estimator, "predict"):
        return indices, estimator.predict(Q)
    return indices, None


def assert_same_answer(a, b):
    assert_array_equal(a[0], b[0])
    if a[1] is not None:
        assert_array_equal(a[1], b[1])


def copy_of(X):
    return X.copy() if hasattr(X, "copy") else list(X)


def assert_unchanged(X, before):
    if sp.issparse(X):
        assert X.format == before.format
        assert_array_equal(X.toarray(), before.toarray())
    else:
        assert_array_equal(np.asarray(X), np.asarray(before))


def fails_clearly(call):
    """Run ``call``; if it raises, it must be a clear ValueError/TypeError."""
    try:
        call()
    except (ValueError, TypeError) as error:
        assert re.search(NAMED_PROBLEM, str(error)), str(error)
        return True
    return False


numeric_dtypes = st.sampled_from([
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float16, np.float32, np.float64,
])


@given(dtype=numeric_dtypes, data=st.data(),
       estimator_class=st.sampled_from(ESTIMATORS))
def test_every_numeric_dtype_works_like_the_same_values_in_float(dtype, data, estimator_class):
    X = data.draw(hnp.arrays(dtype, (12, 3), elements=hnp.from_dtype(
        np.dtype(dtype), allow_nan=False, allow_infinity=False, min_value=0, max_value=100)))
    before = X.copy()
    as_float = X.astype(np.float32 if dtype == np.float32 else np.float64)
    got = answer(fit(estimator_class, X), X)
    assert_unchanged(X, before)
    assert_same_answer(got, answer(fit(estimator_class, as_float), as_float))


@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
       estimator_class=st.sampled_from(ESTIMATORS))
def test_any_shape_works_or_names_the_problem(shape, estimator_class):
    X = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    before = X.copy()
    fails = fails_clearly(lambda: fit(estimator_class, X))
    valid = len(shape) == 2 and shape[0] >= 1 and shape[1] >= 1
    assert fails != valid
    assert_unchanged(X, before)


@given(dtype=st.sampled_from([np.complex64, np.complex128, np.str_, np.bytes_, object]),
       estimator_class=st.sampled_from(ESTIMATORS))
def test_non_numeric_values_are_rejected_by_name(dtype, estimator_class):
    if dtype in (np.complex64, np.complex128):
        X = (np.arange(4).reshape(2, 2) + 1j).astype(dtype)
    else:
        X = np.array([["a", "b"], ["c", "d"]]).astype(dtype)
    before = X.copy()
    assert fails_clearly(lambda: fit(estimator_class, X))
    assert_unchanged(X, before)


@given(dtype=st.sampled_from([np.str_, np.bytes_, object]),
       estimator_class=st.sampled_from(ESTIMATORS))
def test_numbers_written_as_text_work_like_the_numbers(dtype, estimator_class):
    # scikit-learn's validation converts numeric text, and so do we.
    X = np.random.RandomState(0).randint(0, 9, size=(12, 3)).astype(np.float64)
    as_text = X.astype(str).astype(dtype)
    assert_same_answer(answer(fit(estimator_class, as_text), as_text),
                       answer(fit(estimator_class, X), X))


@given(value=st.sampled_from([np.nan, np.inf, -np.inf]), sparse=st.booleans(),
       row=st.integers(0, 9), column=st.integers(0, 3), where=st.sampled_from(["fit", "query"]),
       estimator_class=st.sampled_from(ESTIMATORS))
def test_nan_and_inf_are_rejected_in_dense_and_csr(value, sparse, row, column, where,
                                                    estimator_class):
    rng = np.random.RandomState(0)
    clean, dirty = rng.rand(10, 4), rng.rand(10, 4)
    dirty[row, column] = value
    if sparse:
        clean, dirty = sp.csr_matrix(clean), sp.csr_matrix(dirty)
    before = dirty.copy()
    if where == "fit":
        error = pytest.raises(ValueError, match="NaN|infinity")
        with error:
            fit(estimator_class, dirty)
    else:
        estimator = fit(estimator_class, clean)
        expected = answer(estimator, clean)
        with pytest.raises(ValueError, match="NaN|infinity"):
            estimator.kneighbors(dirty)
        assert_same_answer(answer(estimator, clean), expected)
    assert_unchanged(dirty, before)


@given(sparse_format=st.sampled_from(["coo", "csc", "lil", "dok", "bsr", "dia"]),
       metric=st.sampled_from(["euclidean", "cosine"]),
       estimator_class=st.sampled_from(ESTIMATORS))
def test_every_sparse_format_answers_like_csr(sparse_format, metric, estimator_class):
    X = sp.random(40, 6, density=0.5, random_state=0, format="csr")
    X_format = X.asformat(sparse_format)
    before = X_format.copy()
    got = answer(fit(estimator_class, X_format, metric=metric), X_format)
    assert_unchanged(X_format, before)
    assert_same_answer(got, answer(fit(estimator_class, X, metric=metric), X))


@given(layout=st.sampled_from(["list", "read-only", "fortran", "strided", "dataframe"]),
       estimator_class=st.sampled_from(ESTIMATORS))
def test_every_array_layout_answers_like_a_plain_array(layout, estimator_class):
    rng = np.random.RandomState(0)
    X = rng.rand(30, 4)
    if layout == "list":
        variant = X.tolist()
    elif layout == "read-only":
        variant = X.copy()
        variant.flags.writeable = False
    elif layout == "fortran":
        variant = np.asfortranarray(X)
    elif layout == "strided":
        wide = np.zeros((30, 8))
        wide[:, ::2] = X
        variant = wide[:, ::2]
    else:
        pd = pytest.importorskip("pandas")
        variant = pd.DataFrame({"a": X[:, 0], "b": X[:, 1].astype(np.float32),
                                "c": (X[:, 2] * 100).astype(np.int64), "d": X[:, 3] > 0.5})
        X = variant.to_numpy(dtype=np.float64)
    before = copy_of(variant)
    got = answer(fit(estimator_class, variant), variant)
    assert_unchanged(variant, before)
    assert_same_answer(got, answer(fit(estimator_class, X), X))


@given(width=st.integers(0, 9).filter(lambda w: w != 4),
       estimator_class=st.sampled_from(ESTIMATORS))
def test_queries_of_another_width_are_rejected(width, estimator_class):
    estimator = fit(estimator_class, np.random.RandomState(0).rand(10, 4))
    with pytest.raises(ValueError, match="feature"):
        estimator.kneighbors(np.zeros((2, width)))


@given(n_neighbors=st.one_of(st.integers(-5, 0), st.integers(11, 10**12)),
       queries=st.sampled_from(["given", "training"]))
def test_impossible_n_neighbors_is_rejected_not_allocated(n_neighbors, queries):
    X = np.random.RandomState(0).rand(10, 4)
    estimator = LSHNearestNeighbors(random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        estimator.kneighbors(X if queries == "given" else None, n_neighbors=n_neighbors)


@given(n_neighbors=st.sampled_from([2.5, "3", None, np.float64(3.0), 0, -1]))
def test_invalid_n_neighbors_at_fit_is_rejected(n_neighbors):
    X = np.random.RandomState(0).rand(10, 4)
    with pytest.raises((ValueError, TypeError), match="n_neighbors"):
        LSHNearestNeighbors(n_neighbors=n_neighbors).fit(X)


@given(radius=st.one_of(st.floats(max_value=-1e-300, allow_nan=False), st.just(np.nan),
                        st.just("1.0")))
def test_negative_or_nan_radius_is_rejected(radius):
    X = np.random.RandomState(0).rand(10, 4)
    estimator = LSHNearestNeighbors(random_state=0).fit(X)
    with pytest.raises(ValueError, match="radius"):
        estimator.radius_neighbors(X, radius=radius)


def test_zero_radius_finds_exactly_the_duplicates():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [2.0, 0.0]])
    estimator = LSHNearestNeighbors(random_state=0).fit(X)
    distances, indices = estimator.radius_neighbors(X, radius=0.0)
    assert [list(i) for i in indices] == [[0, 2], [1], [0, 2], [3]]
    assert all((d == 0).all() for d in distances)


@given(estimator_class=st.sampled_from(ESTIMATORS))
def test_one_training_row_answers_one_neighbour(estimator_class):
    X = np.array([[1.0, 2.0, 3.0]])
    estimator = fit(estimator_class, X)
    distances, indices = estimator.kneighbors([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    assert_array_equal(indices, [[0], [0]])
    with pytest.raises(ValueError, match="n_neighbors < n_samples_fit"):
        estimator.kneighbors()


@given(method=st.sampled_from(["kneighbors", "kneighbors_graph", "radius_neighbors"]))
def test_every_query_method_needs_fit_first(method):
    with pytest.raises(NotFittedError):
        getattr(LSHNearestNeighbors(), method)(np.zeros((1, 2)))

"""LSHKNeighborsRegressor averages like sklearn's KNeighborsRegressor."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsRegressor

from sklearn_lsh import LSHKNeighborsRegressor


@pytest.fixture(scope="module")
def digits_regression():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y.astype(float), test_size=0.25, random_state=0)


def test_default_r2_within_002_of_exact(digits_regression):
    X_train, X_test, y_train, y_test = digits_regression
    lsh = LSHKNeighborsRegressor(random_state=0).fit(X_train, y_train)
    exact = KNeighborsRegressor().fit(X_train, y_train)
    assert lsh.score(X_test, y_test) >= exact.score(X_test, y_test) - 0.02


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_exhaustive_search_predicts_exactly_like_sklearn(digits_regression, weights):
    X_train, X_test, y_train, _ = digits_regression
    Y = np.column_stack([y_train, y_train**2])
    lsh = LSHKNeighborsRegressor(weights=weights, n_hyperplanes=1, n_tables=1, n_probes=1,
                                 n_candidates=len(X_train), random_state=0)
    exact = KNeighborsRegressor(weights=weights, algorithm="brute")
    for target in (y_train, Y):
        assert_allclose(lsh.fit(X_train, target).predict(X_test),
                        exact.fit(X_train, target).predict(X_test))


def test_zero_distance_neighbors_take_all_the_weight():
    X = np.array([[0.0], [1.0], [2.0]])
    reg = LSHKNeighborsRegressor(n_neighbors=3, weights="distance", random_state=0)
    assert_allclose(reg.fit(X, [5.0, 1.0, 0.0]).predict([[1.0]]), [1.0])

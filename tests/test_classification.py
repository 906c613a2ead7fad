"""LSHKNeighborsClassifier votes like sklearn's KNeighborsClassifier."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from sklearn_lsh import LSHKNeighborsClassifier

EXHAUSTIVE = dict(n_hyperplanes=1, n_tables=1, n_probes=1)  # every sample is a candidate


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def test_default_accuracy_within_one_point_of_exact(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    lsh = LSHKNeighborsClassifier(random_state=0).fit(X_train, y_train)
    exact = KNeighborsClassifier().fit(X_train, y_train)
    assert lsh.score(X_test, y_test) >= exact.score(X_test, y_test) - 0.01


@pytest.mark.parametrize("weights", ["uniform", "distance", lambda d: np.exp(-d / 10)])
def test_exhaustive_search_predicts_exactly_like_sklearn(digits_split, weights):
    X_train, X_test, y_train, _ = digits_split
    n = 2 * X_train.shape[0]
    lsh = LSHKNeighborsClassifier(weights=weights, n_candidates=n, random_state=0,
                                  **EXHAUSTIVE).fit(X_train, y_train)
    exact = KNeighborsClassifier(weights=weights, algorithm="brute").fit(X_train, y_train)
    assert_array_equal(lsh.predict(X_test), exact.predict(X_test))
    assert_allclose(lsh.predict_proba(X_test), exact.predict_proba(X_test))


def test_string_labels_come_back_as_strings(digits_split):
    X_train, X_test, y_train, _ = digits_split
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"])
    clf = LSHKNeighborsClassifier(random_state=0).fit(X_train, names[y_train])
    assert_array_equal(clf.classes_, np.sort(names))
    assert set(clf.predict(X_test)) <= set(names)


def test_multi_output_votes_per_column(digits_split):
    X_train, X_test, y_train, _ = digits_split
    Y = np.column_stack([y_train, y_train % 2])
    n = 2 * X_train.shape[0]
    lsh = LSHKNeighborsClassifier(n_candidates=n, random_state=0, **EXHAUSTIVE).fit(X_train, Y)
    exact = KNeighborsClassifier(algorithm="brute").fit(X_train, Y)
    assert lsh.predict(X_test).shape == (len(X_test), 2)
    assert_array_equal(lsh.predict(X_test), exact.predict(X_test))
    for a, b in zip(lsh.predict_proba(X_test), exact.predict_proba(X_test)):
        assert_allclose(a, b)


def test_distance_weights_give_all_weight_to_zero_distance_neighbors():
    X = np.array([[0.0], [0.0], [1.0], [1.1], [1.2]])
    y = np.array([0, 0, 1, 1, 1])
    clf = LSHKNeighborsClassifier(n_neighbors=5, weights="distance", random_state=0).fit(X, y)
    assert_allclose(clf.predict_proba([[0.0]]), [[1.0, 0.0]])


def test_predict_without_x_leaves_each_sample_out(digits_split):
    X_train, _, y_train, _ = digits_split
    clf = LSHKNeighborsClassifier(n_neighbors=1, random_state=0).fit(X_train, y_train)
    _, neighbor = clf.kneighbors()
    assert_array_equal(clf.predict(None), y_train[neighbor[:, 0]])

"""Degenerate data gets defined, documented answers: duplicates, constants, extreme magnitudes."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics.pairwise import pairwise_distances

from sklearn_lsh import LSHKNeighborsClassifier, LSHNearestNeighbors


def test_cosine_zero_vector_is_at_distance_one_from_everything():
    # As in scikit-learn: a zero vector has no direction, its cosine distance is 1.
    X = np.random.RandomState(0).rand(50, 5)
    X[0] = 0
    nn = LSHNearestNeighbors(n_neighbors=3, metric="cosine", random_state=0).fit(X)
    distances, _ = nn.kneighbors(np.zeros((1, 5)))
    assert_allclose(distances, 1.0)
    assert_allclose(nn.kneighbors(X[1:2], n_neighbors=50)[0][0, -1], 1.0)


def test_identical_points_tie_by_index_every_run():
    X = np.ones((40, 3))
    for seed in (0, 1):
        distances, indices = LSHNearestNeighbors(n_neighbors=5, random_state=seed) \
            .fit(X).kneighbors(X[:2])
        assert_array_equal(indices, [[0, 1, 2, 3, 4]] * 2)
        assert_array_equal(distances, 0.0)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_all_points_identical_still_gives_k_distinct_neighbours(metric):
    X = np.full((30, 4), 2.5)
    nn = LSHNearestNeighbors(n_neighbors=6, metric=metric, random_state=0).fit(X)
    distances, indices = nn.kneighbors()
    assert_array_equal(distances, 0.0)
    expected = [[j for j in range(7) if j != i][:6] for i in range(30)]
    assert_array_equal(indices, expected)


def test_duplicated_points_tie_by_index_whatever_the_seed_or_batch(digits):
    X, Q = digits
    doubled = np.vstack([X, X])  # sample i and i + 1500 are the same point
    answers = [
        LSHNearestNeighbors(n_neighbors=4, random_state=seed).fit(doubled).kneighbors(Q[:batch])
        for seed, batch in [(0, 50), (1, 50), (2, 7)]
    ]
    for distances, indices in answers:
        # every true neighbour arrives with its twin, the lower index first
        assert_array_equal(indices[:, 1], indices[:, 0] + 1500)
        assert_array_equal(distances[:, 0], distances[:, 1])
    assert_array_equal(answers[0][1][:7], answers[2][1])


def test_constant_features_change_nothing(blobs):
    X, Q = blobs
    padded_X = np.hstack([X, np.full((len(X), 3), 7.0)])
    padded_Q = np.hstack([Q, np.full((len(Q), 3), 7.0)])
    plain = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X).kneighbors(Q)
    padded = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(padded_X) \
        .kneighbors(padded_Q)
    exact = pairwise_distances(Q, X)
    assert_allclose(padded[0], np.take_along_axis(exact, padded[1], axis=1), rtol=1e-10)
    overlap = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(plain[1], padded[1])])
    assert overlap >= 0.95


def test_a_single_varying_feature_orders_points_along_it():
    # Every hyperplane then splits the one axis at the mean: points on either
    # side come out in exact order. (Right at the mean, the other side's
    # neighbours are only found by probing.)
    X = np.zeros((200, 5))
    X[:, 2] = np.arange(200)
    _, indices = LSHNearestNeighbors(n_neighbors=3, random_state=0).fit(X) \
        .kneighbors(X[[30, 170]])
    assert_array_equal(indices, [[30, 29, 31], [170, 169, 171]])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("magnitude", [1e-30, 1e30])
def test_float32_far_from_one_gives_finite_exact_distances_in_order(metric, magnitude):
    # Squared, these values leave float32's range; scikit-learn returns inf or 0
    # there. We hash and measure in rescaled units and return finite, exact values.
    rng = np.random.RandomState(0)
    X = (rng.normal(size=(400, 8)) * magnitude).astype(np.float32)
    Q = (rng.normal(size=(30, 8)) * magnitude).astype(np.float32)
    nn = LSHNearestNeighbors(n_neighbors=5, metric=metric, n_tables=30, random_state=0).fit(X)
    distances, indices = nn.kneighbors(Q)
    assert distances.dtype == np.float32 and np.isfinite(distances).all()
    assert np.all(np.diff(distances, axis=1) >= 0)

    unit = np.float64(magnitude)
    exact = pairwise_distances(Q / unit, X / unit, metric=metric)
    if metric == "euclidean":
        exact *= magnitude
    assert_allclose(distances, np.take_along_axis(exact, indices, axis=1), rtol=1e-5,
                    atol=1e-6 if metric == "cosine" else 0)
    exact_top = np.argsort(exact, axis=1, kind="stable")[:, :5]
    assert np.mean([len(np.intersect1d(a, b)) / 5 for a, b in zip(indices, exact_top)]) >= 0.9


def test_extreme_magnitudes_classify_like_moderate_ones(digits):
    X, Q = digits
    y = np.arange(len(X)) % 10
    moderate = LSHKNeighborsClassifier(random_state=0).fit(X.astype(np.float32), y)
    huge = LSHKNeighborsClassifier(random_state=0).fit((X * 1e30).astype(np.float32), y)
    assert_array_equal(moderate.predict(Q.astype(np.float32)),
                       huge.predict((Q * 1e30).astype(np.float32)))


@pytest.mark.parametrize("magnitude", [1e-30, 1e30])
def test_radius_search_works_in_the_data_units_at_any_magnitude(magnitude):
    rng = np.random.RandomState(0)
    X = (rng.normal(size=(300, 4)) * magnitude).astype(np.float32)
    nn = LSHNearestNeighbors(n_tables=40, n_probes=32, random_state=0).fit(X)
    radius = 0.8 * magnitude
    distances, indices = nn.radius_neighbors(X[:20], radius=radius)
    exact = pairwise_distances(X[:20] / np.float64(magnitude), X / np.float64(magnitude))
    for d, i, row in zip(distances, indices, exact):
        assert set(i) <= set(np.flatnonzero(row <= 0.8 + 1e-6))
        assert len(i) >= 0.9 * np.sum(row <= 0.8 - 1e-6)
        assert np.isfinite(d).all() and (d <= radius).all()

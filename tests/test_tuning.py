"""Recall you can ask for: ``target_recall`` tunes the query parameters at ``fit``,
and exact search answers where hashing cannot win."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHKNeighborsClassifier, LSHNearestNeighbors, measure_recall


@pytest.fixture(scope="module")
def clustered():
    """60000 embedding-like rows: 500 clusters of Zipf sizes and their own spreads in a
    24-d latent space, mapped linearly to 96-d, plus noise; and 500 queries like them."""
    rng = np.random.default_rng(0)
    centres = 3.0 * rng.standard_normal((500, 24))
    spreads = rng.uniform(0.3, 1.0, size=(500, 24))
    weights = 1.0 / np.arange(1, 501) ** 0.5
    cluster = rng.choice(500, size=60500, p=weights / weights.sum())
    latent = centres[cluster] + rng.standard_normal((60500, 24)) * spreads[cluster]
    mixing = rng.standard_normal((24, 96)) / np.sqrt(np.arange(1, 25))[:, None]
    X = (latent @ mixing + 0.05 * rng.standard_normal((60500, 96)) + 2.0).astype(np.float32)
    return X[:60000], X[60000:]


def held_out_recall(model, X, Q, k=10):
    exact = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(Q)[0][:, -1]
    found = model.kneighbors(Q, k)[0]
    return np.mean(found <= exact[:, None] * 1.001)


def test_isotropic_gaussian_data_is_answered_exactly():
    X = np.random.default_rng(0).normal(size=(5000, 128))
    model = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X)
    assert model.search_method_ == "exact" and model.operating_point_.exact
    assert model.estimated_recall_ == 1.0 and model.estimated_speedup_ == 1.0
    Q = np.random.default_rng(1).normal(size=(50, 128))
    distances, indices = model.kneighbors(Q)
    expected_distances, expected = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(Q)
    assert_array_equal(indices, expected)
    np.testing.assert_allclose(distances, expected_distances)


def test_clustered_data_is_hashed_and_meets_the_target(clustered):
    X, Q = clustered
    model = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X)
    assert model.search_method_ == "hashing"
    assert model.estimated_speedup_ >= 1.5
    assert model.estimated_recall_ >= 0.9
    assert held_out_recall(model, X, Q) >= 0.9 - 0.03


@pytest.mark.parametrize("target", [0.8, 0.95])
def test_estimated_recall_is_within_its_error_of_the_measured_one(clustered, target):
    X, Q = clustered
    model = LSHNearestNeighbors(n_neighbors=10, target_recall=target, random_state=0).fit(X)
    measured = held_out_recall(model, X, Q)
    error = 0.02  # three standard errors of 200 sample queries, at most
    assert measured >= target - error
    assert abs(measured - model.estimated_recall_) <= error + 0.02


def test_a_higher_target_never_gives_a_lower_estimate(clustered):
    X, _ = clustered
    estimates = [LSHNearestNeighbors(n_neighbors=10, target_recall=t, random_state=0)
                 .fit(X).estimated_recall_ for t in (0.7, 0.9, 0.99)]
    assert estimates == sorted(estimates)


def test_target_one_is_exact_search(clustered):
    X, Q = clustered
    model = LSHNearestNeighbors(n_neighbors=5, target_recall=1.0, random_state=0).fit(X)
    assert model.search_method_ == "exact"
    assert_array_equal(model.kneighbors(Q)[1],
                       NearestNeighbors(n_neighbors=5).fit(X).kneighbors(Q)[1])


@pytest.mark.parametrize("n_queries", [3, 500])  # one matrix product, or scikit-learn's
def test_exact_cosine_search_answers_a_zero_query_like_scikit_learn(clustered, n_queries):
    X, Q = clustered
    Q = Q[:n_queries].copy()
    Q[1] = 0.0  # at cosine distance 1 from every row
    model = LSHNearestNeighbors(n_neighbors=5, metric="cosine", target_recall=1.0,
                                random_state=0).fit(X)
    distances, indices = model.kneighbors(Q)
    exact_d, exact_i = NearestNeighbors(n_neighbors=5, metric="cosine").fit(X).kneighbors(Q)
    np.testing.assert_allclose(distances[1], 1.0)  # every row ties, as in scikit-learn
    assert np.unique(indices[1]).size == 5
    rest = np.arange(n_queries) != 1
    assert_array_equal(indices[rest], exact_i[rest])
    np.testing.assert_allclose(distances[rest], exact_d[rest], atol=1e-5)


def test_explicit_parameters_are_kept_and_only_the_rest_tuned(clustered):
    X, _ = clustered
    model = LSHNearestNeighbors(n_neighbors=10, n_tables=6, n_probes=3,
                                random_state=0).fit(X)
    assert model.index_.n_tables == 6 and model.operating_point_.n_probes == 3
    assert model.search_method_ == "hashing"  # the user fixed the index's shape
    assert model.estimated_recall_ is not None


def test_explicit_hyperplanes_are_the_key_length_in_use(clustered):
    X, _ = clustered
    model = LSHNearestNeighbors(n_neighbors=10, n_hyperplanes=9, random_state=0).fit(X)
    assert model.n_hyperplanes_ == model.index_.n_bits == 9
    assert model.operating_point_.n_dropped_bits == 0


def test_automatic_keys_are_the_index_keys_less_at_most_two_dropped_bits(clustered):
    # The index holds keys one bit longer than the automatic rule's; a query
    # ignores none, one or two of their last bits (a shorter key is a prefix).
    X, _ = clustered
    for target in (0.6, 0.8, 0.9):
        model = LSHNearestNeighbors(n_neighbors=10, target_recall=target,
                                    random_state=0).fit(X)
        assert model.search_method_ == "hashing"
        dropped = model.operating_point_.n_dropped_bits
        assert dropped in (0, 1, 2)
        assert model.n_hyperplanes_ == model.index_.n_bits - dropped


def test_no_target_uses_the_parameters_as_given(clustered):
    X, _ = clustered
    model = LSHNearestNeighbors(n_neighbors=10, target_recall=None, random_state=0).fit(X)
    assert model.index_.n_tables == 10 and model.operating_point_.n_probes == 8
    assert model.estimated_recall_ is None and model.search_method_ == "hashing"


def test_tuning_is_reproducible_and_survives_clone_and_pickle(clustered):
    X, Q = clustered
    first = LSHNearestNeighbors(n_neighbors=10, random_state=3).fit(X)
    second = clone(first).fit(X)
    assert first.operating_point_ == second.operating_point_
    assert first.estimated_recall_ == second.estimated_recall_
    assert_array_equal(first.kneighbors(Q)[1], second.kneighbors(Q)[1])
    loaded = pickle.loads(pickle.dumps(first))
    assert_array_equal(loaded.kneighbors(Q)[1], first.kneighbors(Q)[1])


def test_partial_fit_keeps_the_tuned_operating_point(clustered):
    X, _ = clustered
    model = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X[:40000])
    point = model.operating_point_
    model.partial_fit(X[40000:])  # not yet twice the rows: extended, not refitted
    assert model.operating_point_ == point


def test_verbose_reports_the_tuning(clustered, capsys):
    X, _ = clustered
    LSHNearestNeighbors(n_neighbors=10, verbose=1, random_state=0).fit(X[:5000])
    out = capsys.readouterr().out
    assert "[LSHNearestNeighbors]" in out and "recall" in out


def test_measure_recall_on_your_own_queries(clustered):
    X, Q = clustered
    model = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X)
    assert measure_recall(model, Q) == pytest.approx(held_out_recall(model, X, Q), abs=1e-9)
    exact = LSHNearestNeighbors(n_neighbors=10, target_recall=1.0).fit(X)
    assert measure_recall(exact, Q) == 1.0


def test_supervised_estimators_tune_too(clustered):
    X, Q = clustered
    y = np.arange(len(X)) % 3
    clf = LSHKNeighborsClassifier(n_neighbors=10, random_state=0).fit(X, y)
    assert clf.search_method_ in ("hashing", "exact") and clf.estimated_recall_ >= 0.9


@pytest.mark.parametrize("params", [{}, {"n_tables": 3}, {"n_probes": 2}])
def test_tiny_training_sets_fit_and_answer(params):
    X = np.arange(6.0).reshape(-1, 2)
    for n_rows in (1, 2, 3):
        model = LSHNearestNeighbors(n_neighbors=1, random_state=0, **params).fit(X[:n_rows])
        assert model.kneighbors(X[:1])[1][0, 0] == 0


def test_the_cost_model_counts_a_sparse_row_by_its_stored_values():
    # A CSR row costs a distance by its stored values, not its width: modelled
    # exact search over wide sparse text must not look 50 times dearer than it is.
    import scipy.sparse as sp

    from sklearn_lsh._tuning import SPARSE_COST_PER_VALUE, cost_features, exact_query_cost

    X = sp.random(1000, 20000, density=0.003, format="csr", random_state=0)
    assert cost_features(X) == pytest.approx(SPARSE_COST_PER_VALUE * X.nnz / 1000)
    assert cost_features(X.toarray()) == 20000
    assert exact_query_cost(X) < exact_query_cost(X.toarray()) / 10

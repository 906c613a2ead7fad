"""LSHNearestNeighbors behaves like sklearn's NearestNeighbors, with approximate neighbor sets."""

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import pairwise_distances
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_lsh import LSHNearestNeighbors, QuerySettings


def recall(found, exact):
    """Fraction of the exact neighbors found, averaged over queries."""
    return np.mean([len(np.intersect1d(f, e)) / len(e) for f, e in zip(found, exact)])


def exact_neighbors(X, Q, k, metric="euclidean"):
    return NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(X) \
        .kneighbors(Q)


# --- recall against exact search -------------------------------------------------------

def test_default_recall_on_digits(digits):
    X, Q = digits
    _, found = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X).kneighbors(Q)
    _, exact = exact_neighbors(X, Q, 10)
    assert recall(found, exact) >= 0.9


def test_many_tables_reach_near_exact_recall(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(n_neighbors=10, n_tables=30, n_probes=16, target_recall=None,
                             random_state=0)
    _, found = nn.fit(X).kneighbors(Q)
    assert recall(found, exact_neighbors(X, Q, 10)[1]) >= 0.98


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("sparse", [False, True])
def test_recall_per_metric_dense_and_csr(blobs, metric, sparse):
    X, Q = blobs
    if sparse:  # non-negative sparse rows, like tf-idf
        X, Q = (sp.csr_matrix(np.maximum(A - 2.0, 0)) for A in (X, Q))
    _, found = LSHNearestNeighbors(n_neighbors=10, metric=metric, random_state=0) \
        .fit(X).kneighbors(Q)
    assert recall(found, exact_neighbors(X, Q, 10, metric)[1]) >= 0.9


def test_more_probes_never_lower_recall(digits):
    X, Q = digits
    _, exact = exact_neighbors(X, Q, 10)
    recalls = [
        recall(LSHNearestNeighbors(n_neighbors=10, n_probes=p, n_tables=4, random_state=0)
               .fit(X).kneighbors(Q)[1], exact)
        for p in (0, 4, 32)
    ]
    assert recalls == sorted(recalls) and recalls[-1] > recalls[0]


# --- what kneighbors returns ----------------------------------------------------------

@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_distances_are_exact_sorted_and_indices_distinct(digits, metric):
    X, Q = digits
    distances, indices = LSHNearestNeighbors(n_neighbors=7, metric=metric,
                                             random_state=0).fit(X).kneighbors(Q)
    assert distances.shape == indices.shape == (len(Q), 7)
    assert indices.dtype == np.int64
    true = pairwise_distances(Q, X, metric=metric)
    assert_allclose(distances, np.take_along_axis(true, indices, axis=1), atol=1e-10)
    assert np.all(np.diff(distances, axis=1) >= 0)
    assert all(len(set(row)) == 7 for row in indices.tolist())


def test_return_distance_false_gives_the_same_indices(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(random_state=0).fit(X)
    assert_array_equal(nn.kneighbors(Q, return_distance=False), nn.kneighbors(Q)[1])


def test_query_on_training_data_excludes_each_point_from_its_own_neighbors(digits):
    X, _ = digits
    X = np.vstack([X, X[:5]])  # duplicates: the twin is a neighbor, the point is not
    nn = LSHNearestNeighbors(n_neighbors=3, random_state=0).fit(X)
    distances, indices = nn.kneighbors()
    assert indices.shape == (len(X), 3)
    assert not np.any(indices == np.arange(len(X))[:, None])
    assert_array_equal(indices[:5, 0], np.arange(1500, 1505))
    assert_array_equal(distances[:5, 0], 0)


def test_n_neighbors_argument_overrides_the_constructor(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(n_neighbors=3, random_state=0).fit(X)
    assert nn.kneighbors(Q, n_neighbors=12)[1].shape == (len(Q), 12)
    assert nn.kneighbors(n_neighbors=len(X) - 1)[1].shape == (len(X), len(X) - 1)


def test_tiny_buckets_fall_back_to_k_distinct_exact_neighbors(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(n_neighbors=10, n_hyperplanes=30, n_tables=1, n_probes=0,
                             target_recall=None, random_state=0).fit(X)
    distances, indices = nn.kneighbors(Q)
    assert all(len(set(row)) == 10 for row in indices.tolist())
    exact_distances, _ = exact_neighbors(X, Q, 10)
    assert_allclose(distances, exact_distances, atol=1e-10)


def test_asking_for_every_sample_returns_every_sample(blobs):
    X, Q = blobs
    X = X[:300]
    distances, indices = LSHNearestNeighbors(n_neighbors=300, random_state=0).fit(X) \
        .kneighbors(Q)
    assert_array_equal(np.sort(indices, axis=1), np.tile(np.arange(300), (len(Q), 1)))


@pytest.mark.parametrize("mode", ["connectivity", "distance"])
def test_kneighbors_graph_holds_the_kneighbors(digits, mode):
    X, Q = digits
    nn = LSHNearestNeighbors(n_neighbors=4, random_state=0).fit(X)
    graph = nn.kneighbors_graph(Q, mode=mode)
    distances, indices = nn.kneighbors(Q)
    assert sp.issparse(graph) and graph.format == "csr"
    assert graph.shape == (len(Q), len(X))
    assert_array_equal(graph.indices.reshape(-1, 4), indices)
    expected = distances if mode == "distance" else np.ones_like(distances)
    assert_allclose(graph.data.reshape(-1, 4), expected)


def test_kneighbors_graph_of_training_data_has_no_self_loops(digits):
    X, _ = digits
    graph = LSHNearestNeighbors(n_neighbors=5, random_state=0).fit(X).kneighbors_graph()
    assert graph.shape == (len(X), len(X))
    assert graph.diagonal().sum() == 0 and graph.nnz == 5 * len(X)


def test_kneighbors_graph_rejects_unknown_mode(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="Unsupported mode"):
        LSHNearestNeighbors().fit(X).kneighbors_graph(mode="weights")


# --- radius queries ---------------------------------------------------------------------

@pytest.mark.parametrize("metric,radius", [("euclidean", 25.0), ("cosine", 0.1)])
def test_radius_neighbors_are_a_subset_of_the_exact_ones(digits, metric, radius):
    X, Q = digits
    # Untuned: the recall target is a k-NN one (see the user guide on radius queries).
    nn = LSHNearestNeighbors(metric=metric, n_tables=20, target_recall=None,
                             random_state=0).fit(X)
    distances, indices = nn.radius_neighbors(Q, radius=radius)
    exact_d, exact_i = NearestNeighbors(radius=radius, metric=metric, algorithm="brute") \
        .fit(X).radius_neighbors(Q)
    true = pairwise_distances(Q, X, metric=metric)
    n_found = n_exact = 0
    for q, (d, i, ei) in enumerate(zip(distances, indices, exact_i)):
        assert set(i) <= set(ei)
        assert np.all(d <= radius)
        assert_allclose(d, true[q, i], atol=1e-10)
        n_found, n_exact = n_found + len(i), n_exact + len(ei)
    assert n_found >= 0.9 * n_exact > 0


def test_sorted_radius_results_ascend(digits):
    X, Q = digits
    distances, _ = LSHNearestNeighbors(random_state=0).fit(X) \
        .radius_neighbors(Q, radius=30.0, sort_results=True)
    assert all(np.all(np.diff(d) >= 0) for d in distances)


def test_radius_neighbors_graph_matches_radius_neighbors(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(radius=25.0, random_state=0).fit(X)
    graph = nn.radius_neighbors_graph(Q, mode="distance", sort_results=True)
    distances, indices = nn.radius_neighbors(Q, sort_results=True)
    assert graph.shape == (len(Q), len(X))
    assert_array_equal(graph.indptr, np.concatenate([[0], np.cumsum([len(i) for i in indices])]))
    assert_allclose(graph.data, np.concatenate(distances))
    training = nn.radius_neighbors_graph()
    assert training.diagonal().sum() == 0


def test_negative_radius_is_rejected(digits):
    X, Q = digits
    with pytest.raises(ValueError, match="radius"):
        LSHNearestNeighbors().fit(X).radius_neighbors(Q, radius=-1.0)


# --- input types ------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_csr_input_gives_the_same_results_as_dense(blobs, metric):
    X, Q = blobs
    X, Q = np.maximum(X, 0), np.maximum(Q, 0)
    dense = LSHNearestNeighbors(metric=metric, random_state=0).fit(X).kneighbors(Q)
    sparse = LSHNearestNeighbors(metric=metric, random_state=0).fit(sp.csr_matrix(X)) \
        .kneighbors(sp.csr_matrix(Q))
    assert_array_equal(dense[1], sparse[1])
    assert_allclose(dense[0], sparse[0], atol=1e-8)


def test_float32_stays_float32(blobs):
    X, Q = blobs
    nn = LSHNearestNeighbors(random_state=0).fit(X.astype(np.float32))
    assert nn._fit_X.dtype == np.float32
    distances, _ = nn.kneighbors(Q.astype(np.float32))
    assert distances.dtype == np.float32


def test_caller_arrays_are_never_modified(blobs):
    X, Q = blobs
    X_before, Q_before = X.copy(), Q.copy()
    for metric in ["euclidean", "cosine"]:
        nn = LSHNearestNeighbors(metric=metric, random_state=0).fit(X)
        nn.kneighbors(Q)
        nn.kneighbors()
        nn.radius_neighbors(Q, radius=3.0)
    assert_array_equal(X, X_before)
    assert_array_equal(Q, Q_before)


def test_read_only_input_works(blobs):
    X, Q = blobs
    X, Q = X.copy(), Q.copy()
    X.flags.writeable = Q.flags.writeable = False
    LSHNearestNeighbors(random_state=0).fit(X).kneighbors(Q)


def test_dataframe_input_records_feature_names(blobs):
    pd = pytest.importorskip("pandas")
    X, Q = blobs
    columns = [f"f{i}" for i in range(X.shape[1])]
    nn = LSHNearestNeighbors(random_state=0).fit(pd.DataFrame(X, columns=columns))
    assert_array_equal(nn.feature_names_in_, columns)
    plain = LSHNearestNeighbors(random_state=0).fit(X)
    assert_array_equal(nn.kneighbors(pd.DataFrame(Q, columns=columns))[1],
                       plain.kneighbors(Q)[1])


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (np.array([[0.0, np.nan]]), "NaN"),
    (np.array([[0.0, np.inf]]), "infinity"),
    (np.zeros((0, 2)), "0 sample"),
    (np.zeros(2), "Expected 2D array"),
    (np.array([["a", "b"]]), "could not convert|dtype"),
])
def test_bad_training_data_is_rejected_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        LSHNearestNeighbors().fit(bad)


def test_bad_queries_are_rejected_clearly(blobs):
    X, Q = blobs
    nn = LSHNearestNeighbors(random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        nn.kneighbors(Q[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        nn.kneighbors(np.full((1, X.shape[1]), np.nan))
    with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
        nn.kneighbors(Q, n_neighbors=len(X) + 1)
    with pytest.raises(ValueError, match="Expected n_neighbors < n_samples_fit"):
        nn.kneighbors(n_neighbors=len(X))
    with pytest.raises(ValueError, match="Expected n_neighbors > 0"):
        nn.kneighbors(Q, n_neighbors=0)
    with pytest.raises(TypeError, match="enter integer value"):
        nn.kneighbors(Q, n_neighbors=2.5)


@pytest.mark.parametrize("params, name", [
    ({"metric": "manhattan"}, "metric"),
    ({"n_hyperplanes": 65}, "n_hyperplanes"),
    ({"n_hyperplanes": 0}, "n_hyperplanes"),
    ({"n_tables": 0}, "n_tables"),
    ({"n_probes": -1}, "n_probes"),
    ({"n_candidates": 0}, "n_candidates"),
])
def test_invalid_parameters_name_themselves(blobs, params, name):
    with pytest.raises(InvalidParameterError, match=name):
        LSHNearestNeighbors(**params).fit(blobs[0])


def test_unknown_metric_error_lists_the_supported_ones(blobs):
    with pytest.raises(InvalidParameterError, match="(?=.*cosine)(?=.*euclidean)"):
        LSHNearestNeighbors(metric="minkowski").fit(blobs[0])


def test_querying_before_fit_raises_not_fitted(blobs):
    with pytest.raises(NotFittedError):
        LSHNearestNeighbors().kneighbors(blobs[1])


# --- reproducible, shareable, independent of batching -----------------------------------

def test_same_random_state_same_results(digits):
    X, Q = digits
    a = LSHNearestNeighbors(random_state=3).fit(X).kneighbors(Q)
    b = LSHNearestNeighbors(random_state=3).fit(X).kneighbors(Q)
    assert_array_equal(a[1], b[1])
    assert_array_equal(a[0], b[0])


def test_pickle_round_trip_gives_identical_results(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(nn))
    assert_array_equal(restored.kneighbors(Q)[1], nn.kneighbors(Q)[1])


def test_threads_may_share_one_fitted_index(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(random_state=0).fit(X)
    expected = nn.kneighbors(Q)[1]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: nn.kneighbors(Q)[1], range(8)))
    for result in results:
        assert_array_equal(result, expected)


def test_results_do_not_depend_on_chunking_or_n_jobs(digits):
    X, Q = digits
    expected = LSHNearestNeighbors(random_state=0).fit(X).kneighbors(Q)
    with config_context(working_memory=1):
        for n_jobs in (None, 2):
            nn = LSHNearestNeighbors(random_state=0, n_jobs=n_jobs).fit(X)
            d, i = nn.kneighbors(Q)
            assert_array_equal(i, expected[1])
            assert_array_equal(d, expected[0])
            r = nn.radius_neighbors(Q, radius=25.0)
    r_expected = LSHNearestNeighbors(random_state=0).fit(X).radius_neighbors(Q, radius=25.0)
    for a, b in zip(r[1], r_expected[1]):
        assert_array_equal(a, b)


def test_a_query_answer_does_not_depend_on_its_batch(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(random_state=0).fit(X)
    whole = nn.kneighbors(Q)[1]
    alone = np.vstack([nn.kneighbors(Q[i:i + 1])[1] for i in (0, 17, 200)])
    assert_array_equal(alone, whole[[0, 17, 200]])


def test_fit_returns_self_and_resolves_auto_into_attributes(digits):
    X, _ = digits
    nn = LSHNearestNeighbors(target_recall=None)
    assert nn.fit(X) is nn
    assert nn.n_hyperplanes == "auto" and nn.n_tables == "auto"
    assert nn.n_hyperplanes_ == round(np.log2(len(X) / 16))
    assert nn.n_samples_fit_ == len(X) and nn.n_features_in_ == X.shape[1]
    assert nn.effective_metric_ == "euclidean"
    assert nn.index_.sorted_keys.shape == (10, len(X))  # untuned: 10 tables
    assert np.all(np.diff(nn.index_.sorted_keys.astype(np.float64), axis=1) >= 0)
    assert nn.operating_point_ == QuerySettings(n_probes=8, n_cell_probes=2, n_candidates=50)
    assert nn.search_method_ == "hashing" and nn.estimated_recall_ is None


def test_query_memory_beyond_the_output_does_not_grow_with_the_query_count(blobs):
    import tracemalloc

    X, _ = blobs
    nn = LSHNearestNeighbors(n_neighbors=10, target_recall=None, random_state=0).fit(X)
    rng = np.random.RandomState(1)
    beyond_output = []
    for n_queries in (2_000, 40_000):
        Q = X[rng.randint(len(X), size=n_queries)] + 0.01
        tracemalloc.start()
        distances, indices = nn.kneighbors(Q)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        beyond_output.append(peak - distances.nbytes - indices.nbytes)
    # 40000 queries return 6.4 MB; holding the output twice would show here.
    assert beyond_output[1] < beyond_output[0] + 2**20

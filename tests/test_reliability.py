"""Never a wrong answer, never a blow-up: streaming, extreme values, duplicate-heavy
data, memory bounded by ``working_memory``, wide sparse input, drop-in details."""

import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.neighbors import BallTree, KDTree, KNeighborsClassifier, NearestNeighbors
from threadpoolctl import threadpool_info

import sklearn_lsh._search as search
from sklearn_lsh import (
    LSHKNeighborsClassifier,
    LSHKNeighborsRegressor,
    LSHKNeighborsTransformer,
    LSHNearestNeighbors,
)
from sklearn_lsh._index import cap_bucket_ranges


def recall(found, exact):
    return np.mean([len(np.intersect1d(f, e)) / len(e) for f, e in zip(found, exact)])


def exact_indices(X, Q, k, metric="euclidean"):
    return NearestNeighbors(n_neighbors=k, metric=metric).fit(X).kneighbors(Q)[1]


def peak_bytes(function):
    """Peak memory traced while ``function()`` runs, and its result."""
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


# --- parallel queries leave the process as they found it ------------------------------

def blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.mark.parametrize("target_recall", [0.9, None])  # digits: exact search, hashing
def test_concurrent_parallel_queries_restore_the_blas_thread_limit(digits, target_recall):
    X, Q = digits
    before = blas_threads()
    nn = LSHNearestNeighbors(target_recall=target_recall, random_state=0, n_jobs=2).fit(X)
    with config_context(working_memory=1), ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: nn.kneighbors(Q), range(16)))
    assert blas_threads() == before


def test_n_jobs_zero_is_rejected_whatever_the_number_of_queries(digits):
    X, Q = digits
    nn = LSHNearestNeighbors(random_state=0, n_jobs=0).fit(X)
    for queries in (Q[:1], Q):
        with pytest.raises(ValueError, match="n_jobs == 0"):
            nn.kneighbors(queries)
    with pytest.raises(ValueError, match="n_jobs == 0"):
        nn.radius_neighbors(Q[:1], radius=10.0)


# --- streaming partial_fit ------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 3])
def test_streaming_tiny_batches_is_as_good_as_one_fit(digits, batch):
    X, Q = digits
    X = X[:500]
    streamed = LSHNearestNeighbors(n_neighbors=10, random_state=0)
    for start in range(0, len(X), batch):  # a stream, as a user would feed it
        streamed.partial_fit(X[start:start + batch])
    assert streamed.n_samples_fit_ == len(X)
    fitted = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X)
    # Every stored row is found again, at distance 0.
    assert np.all(streamed.kneighbors(X, 1)[0] == 0)
    exact = exact_indices(X, Q, 10)
    assert recall(streamed.kneighbors(Q)[1], exact) >= \
        recall(fitted.kneighbors(Q)[1], exact) - 0.05


def test_partial_fit_refits_only_when_the_index_has_doubled(blobs):
    X, _ = blobs
    nn = LSHNearestNeighbors(random_state=0).fit(X[:1000])
    functions = nn.index_.functions
    nn.partial_fit(X[1000:1999])
    assert nn.index_.functions is functions  # extended with the fitted functions
    nn.partial_fit(X[1999:2000])
    assert nn.index_.functions is not functions and nn.index_.n_fit_rows == 2000
    refit = LSHNearestNeighbors(random_state=0).fit(X[:2000])
    assert_array_equal(nn.kneighbors(X[2000:])[1], refit.kneighbors(X[2000:])[1])


# --- values at the edges of the floating-point range ----------------------------------

def test_rows_beyond_float32_are_refused_by_a_float32_index(blobs):
    X, Q = blobs
    nn = LSHNearestNeighbors(random_state=0).fit(X.astype(np.float32))
    before = nn.kneighbors(Q)
    bad = X[:3].copy()
    bad[1, 4] = 1e39
    with pytest.raises(ValueError, match="too large for dtype\\('float32'\\)"):
        nn.partial_fit(bad)
    assert nn.n_samples_fit_ == len(X)
    assert_array_equal(nn.kneighbors(Q)[1], before[1])


def test_float64_queries_beyond_float32_get_finite_exact_distances(blobs):
    X, _ = blobs
    X32 = X.astype(np.float32)
    far = np.full((2, X.shape[1]), 1e39)
    far[1] *= -1
    distances, indices = LSHNearestNeighbors(n_neighbors=3, random_state=0).fit(X32) \
        .kneighbors(far)
    assert distances.dtype == np.float64 and np.all(np.isfinite(distances))
    expected = NearestNeighbors(n_neighbors=3).fit(X32).kneighbors(far)[0]
    assert_allclose(distances, expected, rtol=1e-6)
    assert_allclose(distances, np.linalg.norm(X32[indices] - far[:, None], axis=2), rtol=1e-6)


@pytest.mark.parametrize("magnitude", [1e100, 1e-100, 1e300, 1e-300])
def test_any_finite_float64_scale_hashes_like_unit_scale(digits, magnitude):
    X, Q = digits
    exact = exact_indices(X, Q, 10)
    unit = recall(LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X)
                  .kneighbors(Q)[1], exact)
    nn = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X * magnitude)
    distances, found = nn.kneighbors(Q * magnitude)
    assert np.all(np.isfinite(distances))
    assert recall(found, exact) >= unit - 0.02
    _, own = nn.kneighbors(X[:30] * magnitude, 1)
    assert_array_equal(own[:, 0], np.arange(30))


# --- duplicate-heavy data: bounded work, exact ties -----------------------------------

def test_capped_buckets_keep_small_ones_whole_and_cut_the_largest_first():
    lo = np.array([[[0, 100, 200, 1000]]])
    hi = lo + np.array([[[5, 10, 50, 5000]]])
    capped = cap_bucket_ranges(lo, hi, budget=200)
    assert_array_equal(capped - lo, [[[5, 10, 50, 135]]])  # 5 + 10 + 50 + 135 = 200
    capped = cap_bucket_ranges(lo, hi, budget=100)
    assert_array_equal(capped - lo, [[[5, 10, 42, 42]]])
    assert cap_bucket_ranges(lo, hi, budget=10_000) is hi  # within budget: unchanged


def duplicated_rows(n_rows=4000, n_distinct=4, seed=0):
    rng = np.random.RandomState(seed)
    points = rng.normal(size=(n_distinct, 8))
    return points[rng.randint(n_distinct, size=n_rows)]


def test_duplicate_heavy_queries_gather_a_bounded_number_of_rows(monkeypatch):
    X = duplicated_rows()
    gathered = []
    original = search.gather_candidates

    def counting(members, lo, hi, **kwargs):
        gathered.append((hi - lo).reshape(lo.shape[0], -1).sum(axis=1))
        return original(members, lo, hi, **kwargs)

    monkeypatch.setattr(search, "gather_candidates", counting)
    monkeypatch.setattr(search, "GATHERED_PER_KEY", 4)
    nn = LSHNearestNeighbors(n_neighbors=5, n_candidates=20, n_cells=1, random_state=0).fit(X)
    distances, indices = nn.kneighbors()
    # 10 tables x 9 probed buckets x 4 = 360 rows (more than 10 x 20 candidates),
    # not the ~10 x 9 x 1000 rows the buckets hold.
    assert np.concatenate(gathered).max() <= 360
    # Each row's neighbours are its lowest-numbered copies: identical rows tie by index.
    assert np.all(distances == 0)
    for row in range(0, len(X), 97):
        copies = np.flatnonzero(np.all(X == X[row], axis=1))
        assert_array_equal(indices[row], copies[copies != row][:5])


def test_a_cap_never_drops_what_an_exhaustive_setting_asks_to_rank(monkeypatch):
    X = duplicated_rows(n_rows=3000, n_distinct=40)
    X += 1e-3 * np.random.RandomState(1).normal(size=X.shape)  # no ties
    monkeypatch.setattr(search, "GATHERED_PER_KEY", 1)
    nn = LSHNearestNeighbors(n_neighbors=10, n_hyperplanes=1, n_tables=1, n_probes=1,
                             n_candidates=len(X), n_cells=1, random_state=0).fit(X)
    Q = X[:50] + 0.01
    assert_array_equal(nn.kneighbors(Q)[1], exact_indices(X, Q, 10))


# --- memory bounded by working_memory -------------------------------------------------

def test_widened_search_stays_within_working_memory():
    rng = np.random.RandomState(0)
    X, Q = rng.normal(size=(5000, 16)), rng.normal(size=(300, 16))
    nn = LSHNearestNeighbors(n_neighbors=5, n_hyperplanes=30, n_cells=1, n_probes=0,
                             random_state=0).fit(X)
    with config_context(working_memory=16):
        peak, (distances, indices) = peak_bytes(lambda: nn.kneighbors(Q))
    assert peak < 4 * 16 * 2**20  # was ~370 MB: every short query re-probed at once
    assert_array_equal(indices, nn.kneighbors(Q)[1])  # the same answers as in one go


def test_radius_neighbors_with_a_huge_radius_stays_within_working_memory():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20000, 32))
    nn = LSHNearestNeighbors(n_hyperplanes=2, n_tables=1, n_probes=3, n_cells=1,
                             random_state=0).fit(X)
    with config_context(working_memory=8):
        peak, (distances, indices) = peak_bytes(
            lambda: nn.radius_neighbors(X[:20], radius=1e6))
    assert all(len(row) == len(X) for row in indices)  # every point is within the radius
    output = sum(d.nbytes + i.nbytes for d, i in zip(distances, indices))
    assert peak < 2 * output + 4 * 8 * 2**20


def hashed_text(n_rows, n_features, nnz_per_row=5, group_size=5, seed=0):
    """Rows of ``nnz_per_row`` hashed words in ``n_features`` columns; the rows of a group
    share all words but one (near duplicates), so each row has neighbours to find."""
    rng = np.random.RandomState(seed)
    shared = rng.randint(n_features, size=(n_rows // group_size, nnz_per_row - 1))
    columns = np.hstack([np.repeat(shared, group_size, axis=0),
                         rng.randint(n_features, size=(n_rows, 1))]).ravel()
    rows = np.repeat(np.arange(n_rows), nnz_per_row)
    X = sp.csr_matrix((rng.rand(columns.size) + 0.1, (rows, columns)),
                      shape=(n_rows, n_features))
    X.sum_duplicates()
    return X


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_very_wide_sparse_input_costs_memory_by_its_non_zeros(metric):
    X = hashed_text(200, 2**20)
    peak, nn = peak_bytes(lambda: LSHNearestNeighbors(
        n_neighbors=5, metric=metric, random_state=0).fit(X))
    assert peak < 16 * 2**20  # a dense (2**20 x 48) projection alone is 400 MB
    assert nn.index_.nbytes < 4 * 2**20
    peak, (distances, indices) = peak_bytes(lambda: nn.kneighbors(X[:50]))
    assert peak < 16 * 2**20
    assert_array_equal(indices[:, 0], np.arange(50))  # every row finds itself first
    assert recall(indices[:, :4], exact_indices(X, X[:50], 4, metric)) >= 0.9


# --- drop-in details ------------------------------------------------------------------

@pytest.mark.parametrize("estimator_class", [LSHKNeighborsClassifier, LSHKNeighborsRegressor])
def test_weights_none_means_uniform(digits, estimator_class):
    X, Q = digits
    y = np.arange(len(X)) % 4
    none = estimator_class(weights=None, random_state=0).fit(X, y)
    uniform = estimator_class(weights="uniform", random_state=0).fit(X, y)
    assert_array_equal(none.predict(Q), uniform.predict(Q))


def test_all_zero_weights_are_an_error_like_scikit_learn(digits):
    X, Q = digits
    y = np.arange(len(X)) % 4

    def zero_for_the_first_query(distances):
        weights = np.ones_like(distances)
        weights[0] = 0.0
        return weights

    message = "All neighbors of some sample is getting zero weights"
    with pytest.raises(ValueError, match=message):
        KNeighborsClassifier(weights=zero_for_the_first_query).fit(X, y).predict(Q)
    clf = LSHKNeighborsClassifier(weights=zero_for_the_first_query, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=message):
        clf.predict(Q)
    with pytest.raises(ValueError, match=message):
        clf.predict_proba(Q)


@pytest.mark.parametrize("source", ["NearestNeighbors", "BallTree", "KDTree", "ours"])
@pytest.mark.parametrize("estimator_class", [LSHNearestNeighbors, LSHKNeighborsTransformer])
def test_fit_accepts_what_nearest_neighbors_accepts(digits, source, estimator_class):
    X, Q = digits
    fitted = {"NearestNeighbors": lambda: NearestNeighbors().fit(X),
              "BallTree": lambda: BallTree(X), "KDTree": lambda: KDTree(X),
              "ours": lambda: LSHNearestNeighbors(n_tables=3).fit(X)}[source]()
    from_object = estimator_class(random_state=0).fit(fitted)
    from_array = estimator_class(random_state=0).fit(X)
    assert from_object.n_samples_fit_ == len(X) and from_object.n_features_in_ == X.shape[1]
    assert_array_equal(from_object.kneighbors(Q)[1], from_array.kneighbors(Q)[1])

"""Coarse k-means cells: the data-fitted first level of the hash, on its own and in the index."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHKNeighborsClassifier, LSHNearestNeighbors
from sklearn_lsh._cells import bits_per_cell, cell_id_bits, fit_centroids, nearest_cells
from sklearn_lsh._hashing import cell_keys, hash_keys, probe_keys


def recall(found, exact):
    return np.mean([len(np.intersect1d(f, e)) / len(e) for f, e in zip(found, exact)])


def test_one_cell_is_the_centred_origin_and_needs_no_kmeans():
    projected = np.random.RandomState(0).normal(size=(50, 4)).astype(np.float32)
    centroids = fit_centroids(projected, 1, np.random.RandomState(0))
    assert_array_equal(centroids, np.zeros((1, 4)))
    assert_array_equal(nearest_cells(projected, centroids, 1), np.zeros((50, 1)))


def test_nearest_cells_are_sorted_by_distance_then_cell_number():
    rng = np.random.RandomState(0)
    centroids = rng.normal(size=(40, 6)).astype(np.float32)
    centroids[7] = centroids[3]  # a tie: the lower cell number comes first
    rows = rng.normal(size=(300, 6)).astype(np.float32)
    rows[0] = centroids[3]
    found = nearest_cells(rows, centroids, 5)
    distances = ((rows[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    expected = np.lexsort((np.broadcast_to(np.arange(40), distances.shape),
                           distances.round(4)), axis=1)[:, :5]
    assert_array_equal(found, expected)
    assert_array_equal(found[0, :2], [3, 7])
    assert_array_equal(nearest_cells(rows, centroids, 1)[:, 0], distances.argmin(axis=1))


def test_kmeans_centroids_find_well_separated_clusters():
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=20.0, size=(5, 3))
    rows = (centres[np.arange(500) % 5] + rng.normal(size=(500, 3))).astype(np.float32)
    centroids = fit_centroids(rows, 5, np.random.RandomState(0))
    matched = nearest_cells(centres.astype(np.float32), centroids, 1)[:, 0]
    assert sorted(matched) == list(range(5))
    assert np.abs(centroids[matched] - centres).max() < 0.5


def test_each_cell_gets_the_bits_that_make_its_buckets_hold_about_bucket_size_rows():
    bits = bits_per_cell(np.array([0, 10, 16, 64, 1000, 2**40]), 16, max_bits=20)
    assert_array_equal(bits, [1, 1, 1, 2, 6, 20])


def test_cell_number_bits():
    assert [cell_id_bits(n) for n in (1, 2, 3, 4, 5, 1000, 1024, 1025)] == \
        [0, 1, 2, 2, 3, 10, 10, 11]


def test_cell_keys_hold_the_cell_above_the_cells_own_bits():
    rng = np.random.RandomState(0)
    margins = rng.normal(size=(100, 2 * 6))
    cells = rng.randint(3, size=100)
    cell_bits = np.array([6, 2, 0])
    keys = cell_keys(margins, cells, cell_bits, 2, 6)
    plain = hash_keys(margins, 2, 6)
    assert_array_equal(keys >> np.uint64(6), np.broadcast_to(cells, (2, 100)))
    low = keys & np.uint64(63)
    masks = np.array([63, 3, 0], dtype=np.uint64)[cells]
    assert_array_equal(low, plain & masks)


def test_a_single_cell_gives_the_plain_keys():
    margins = np.random.RandomState(0).normal(size=(50, 3 * 64))
    cells = np.zeros(50, dtype=np.int64)
    assert_array_equal(cell_keys(margins, cells, np.array([64]), 3, 64),
                       hash_keys(margins, 3, 64))


def test_probes_flip_bits_outside_the_key_only_after_every_subset_of_the_others():
    rng = np.random.RandomState(0)
    margins = rng.normal(size=(20, 8)).astype(np.float32)
    margins[:, 3:] *= 1e-3  # the unusable bits have the smallest margins
    keys = hash_keys(margins, 1, 8) & np.uint64(7)
    probes = probe_keys(keys, margins, 1, 8, 7, n_usable_bits=np.full(20, 3))
    # The 7 probes are exactly the 7 non-empty flips of the 3 usable bits.
    assert np.all(probes >> np.uint64(3) == 0)
    assert all(len(set(row)) == 8 for row in probes[0])


@pytest.fixture(scope="module")
def separated_clusters():
    """40 tight clusters far apart, 6000 rows and 300 queries (where global hyperplanes fail)."""
    rng = np.random.RandomState(1)
    centres = rng.normal(scale=10.0, size=(40, 24))
    labels = rng.randint(40, size=6300)
    X = centres[labels] + rng.normal(scale=0.5, size=(6300, 24))
    return X[:6000], X[6000:], labels[:6000], labels[6000:]


def test_cells_find_the_neighbours_with_far_fewer_candidates(separated_clusters):
    X, Q, _, _ = separated_clusters
    exact = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(Q)[1]
    plain = LSHNearestNeighbors(n_neighbors=10, n_cells=1, random_state=0).fit(X)
    cells = LSHNearestNeighbors(n_neighbors=10, n_cells=40, n_cell_probes=1,
                                random_state=0).fit(X)
    assert cells.n_cells_ == 40
    assert recall(cells.kneighbors(Q)[1], exact) >= 0.95

    def mean_bucket(model):
        keys = model.index_.sorted_keys[0]
        sizes = np.diff(np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True]))
        return np.sum(sizes**2) / keys.size  # bucket size seen by a random row

    # Global hyperplanes rarely cut a tight far cluster: buckets ~8x the 16 aimed at.
    assert mean_bucket(plain) > 100
    assert mean_bucket(cells) < 32


def test_cells_find_nearly_every_neighbour_of_easy_queries_with_exact_distances(separated_clusters):
    X, Q, y, y_test = separated_clusters
    model = LSHNearestNeighbors(n_neighbors=5, n_cells=40, n_tables=12, target_recall=0.99,
                                random_state=0).fit(X)
    exact_indices = NearestNeighbors(n_neighbors=5).fit(X).kneighbors(Q)[1]
    distances, indices = model.kneighbors(Q)
    assert recall(indices, exact_indices) >= 0.98
    assert np.all(np.diff(distances, axis=1) >= 0)
    np.testing.assert_allclose(distances, np.linalg.norm(X[indices] - Q[:, None], axis=2),
                               rtol=1e-6)
    clf = LSHKNeighborsClassifier(n_cells=40, random_state=0).fit(X, y)
    assert clf.score(Q, y_test) == 1.0


def test_training_queries_exclude_themselves_with_cells(separated_clusters):
    X = separated_clusters[0]
    model = LSHNearestNeighbors(n_neighbors=3, n_cells=20, random_state=0).fit(X)
    indices = model.kneighbors(None)[1]
    assert not np.any(indices == np.arange(len(X))[:, None])
    radius = model.radius_neighbors(None, radius=1.5)[1]
    assert not any(i in row for i, row in enumerate(radius))


def test_radius_neighbors_with_cells_are_truly_within_the_radius(separated_clusters):
    X, Q, _, _ = separated_clusters
    model = LSHNearestNeighbors(n_cells=40, random_state=0).fit(X)
    distances, indices = model.radius_neighbors(Q, radius=2.0)
    exact = NearestNeighbors(radius=2.0).fit(X).radius_neighbors(Q)[1]
    for d, i, e, q in zip(distances, indices, exact, Q):
        assert set(i) <= set(e)
        np.testing.assert_allclose(d, np.linalg.norm(X[i] - q, axis=1), rtol=1e-6)
    assert sum(map(len, indices)) >= 0.95 * sum(map(len, exact))


def test_cells_are_reproducible_and_independent_of_batch_and_threads(separated_clusters):
    X, Q, _, _ = separated_clusters
    first = LSHNearestNeighbors(n_cells=30, random_state=3).fit(X)
    second = LSHNearestNeighbors(n_cells=30, random_state=3, n_jobs=2).fit(X)
    assert_array_equal(first.index_.functions.centroids, second.index_.functions.centroids)
    distances, indices = first.kneighbors(Q)
    assert_array_equal(second.kneighbors(Q)[1], indices)
    assert_array_equal(first.kneighbors(Q[17:18])[1], indices[17:18])


def test_more_cells_than_samples_are_clipped():
    X = np.random.RandomState(0).normal(size=(12, 3))
    model = LSHNearestNeighbors(n_neighbors=2, n_cells=50, random_state=0).fit(X)
    assert model.n_cells_ == 12
    assert model.kneighbors(X[:2])[1][:, 0].tolist() == [0, 1]


def test_hyperplanes_that_leave_no_room_for_the_cell_number_are_rejected():
    X = np.random.RandomState(0).normal(size=(100, 3))
    with pytest.raises(ValueError, match="n_hyperplanes=60 leaves no room.*at most 58"):
        LSHNearestNeighbors(n_hyperplanes=60, n_cells=40).fit(X)
    LSHNearestNeighbors(n_hyperplanes=58, n_cells=40).fit(X)


@pytest.mark.parametrize("n_cells", [1, 16])
def test_stored_rows_of_a_bucket_are_adjacent(separated_clusters, n_cells):
    X = separated_clusters[0]
    index = LSHNearestNeighbors(n_cells=n_cells, random_state=0).fit(X).index_
    # Table 0 is storage order.
    assert_array_equal(index.sorted_positions[0], np.arange(len(X)))
    assert_array_equal(np.sort(index.sample_ids), np.arange(len(X)))
    assert_array_equal(index.positions[index.sample_ids], np.arange(len(X)))


def test_auto_uses_cells_only_where_global_hyperplanes_fail_to_split_the_data():
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=20.0, size=(20, 16))
    tight = centres[rng.randint(20, size=8000)] + rng.normal(scale=0.3, size=(8000, 16))
    # Starts at 8000 / 2000 = 4 cells; 20 clusters in 4 cells leave buckets of ~370
    # rows, so the cells double until their buckets are near the 16 aimed at.
    auto = LSHNearestNeighbors(random_state=0).fit(tight)
    assert auto.n_cells_ == 32
    assert auto.index_.row_bucket_size < 32
    four = LSHNearestNeighbors(n_cells=4, random_state=0).fit(tight)
    assert four.index_.row_bucket_size > 4 * 16
    spread = rng.normal(size=(8000, 16))
    assert LSHNearestNeighbors(random_state=0).fit(spread).n_cells_ == 1
    # Bits chosen by the user are meant for the whole space: no cells.
    assert LSHNearestNeighbors(n_hyperplanes=9, random_state=0).fit(tight).n_cells_ == 1
    # Too few rows for two cells of 2000.
    assert LSHNearestNeighbors(random_state=0).fit(tight[:2900]).n_cells_ == 1


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_cells_give_csr_input_the_same_answers_as_dense(blobs, metric):
    import scipy.sparse as sp

    X, Q = (np.maximum(M, 0) for M in blobs)  # non-negative, like counts
    dense = LSHNearestNeighbors(n_cells=8, metric=metric, random_state=0).fit(X)
    sparse = LSHNearestNeighbors(n_cells=8, metric=metric, random_state=0).fit(
        sp.csr_matrix(X))
    distances, indices = dense.kneighbors(Q)
    sparse_distances, sparse_indices = sparse.kneighbors(sp.csr_matrix(Q))
    assert_array_equal(sparse_indices, indices)
    np.testing.assert_allclose(sparse_distances, distances, rtol=1e-6, atol=1e-9)
    exact = NearestNeighbors(n_neighbors=5, metric=metric).fit(X).kneighbors(Q)[1]
    assert recall(indices, exact) >= 0.9


def test_duplicated_rows_fill_no_more_cells_than_they_have_values():
    import warnings

    X = np.repeat(np.random.RandomState(0).normal(size=(3, 4)), 2000, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no k-means warning about empty clusters
        auto = LSHNearestNeighbors(n_neighbors=3, random_state=0).fit(X)
        fixed = LSHNearestNeighbors(n_neighbors=3, n_cells=10, random_state=0).fit(X)
    assert auto.n_cells_ <= 3 and fixed.n_cells_ == 3
    for model in (auto, fixed):
        distances, indices = model.kneighbors(X[[0, 2000, 4000]])
        assert_array_equal(distances, 0)
        assert_array_equal(indices // 2000, [[0] * 3, [1] * 3, [2] * 3])
    identical = LSHNearestNeighbors(n_cells=5, random_state=0).fit(np.ones((100, 2)))
    assert identical.n_cells_ == 1

"""The fitted index on its own, without an estimator: build, grow, query, and proof
that it is an index (candidates are buckets, not a scan of the data)."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHIndex, QuerySettings
from sklearn_lsh._cells import nearest_cells


def fit_index(X, *, n_bits=None, n_tables=10, n_cells=1, metric="euclidean", seed=0):
    return LSHIndex.fit(X, metric=metric, n_bits=n_bits, n_tables=n_tables, n_cells=n_cells,
                        random_state=np.random.RandomState(seed))


def recall(found, exact):
    return np.mean([len(np.intersect1d(f, e)) / len(e) for f, e in zip(found, exact)])


def candidate_counts(index, Q, settings):
    return (index.candidates(Q, settings) >= 0).sum(axis=1)


@pytest.fixture(scope="module")
def mixture():
    """20000 rows of a 32-d Gaussian mixture, and 200 queries drawn like them."""
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=3.0, size=(50, 32))
    X = centres[rng.randint(50, size=20200)] + rng.normal(size=(20200, 32))
    return X[:20000], X[20000:]


# --- building ------------------------------------------------------------------------

def test_fit_builds_one_sorted_table_per_table_over_every_row(digits):
    X, _ = digits
    index = fit_index(X, n_bits=7, n_tables=6)
    assert (index.n_samples, index.n_features) == X.shape
    assert (index.n_tables, index.n_bits, index.n_cells) == (6, 7, 1)
    assert index.data is X
    assert index.sorted_keys.shape == index.sorted_positions.shape == (6, len(X))
    assert np.all(index.sorted_keys[:, 1:] >= index.sorted_keys[:, :-1])
    for positions in index.sorted_positions:
        assert_array_equal(np.sort(positions), np.arange(len(X)))
    assert_array_equal(index.sample_ids[index.positions], np.arange(len(X)))
    assert index.bucket_sizes.sum() == 6 * len(X)
    assert index.nbytes > index.sorted_keys.nbytes + index.projected.nbytes


def test_keys_of_stored_rows_are_their_hash_keys(digits):
    X, _ = digits
    index = fit_index(X, n_bits=7, n_tables=3, n_cells=5)
    projected = index.space.project(X)
    cells = nearest_cells(projected, index.functions.centroids, 1)[:, 0]
    keys = index.functions.keys(projected, cells)
    stored_ids = index.sample_ids[index.sorted_positions]
    assert_array_equal(np.take_along_axis(keys, stored_ids, axis=1), index.sorted_keys)
    assert_allclose(index.projected, projected[index.sample_ids])


def test_extend_leaves_the_old_index_unchanged_and_numbers_new_rows_next(digits):
    X, Q = digits
    old = fit_index(X[:1000], n_bits=6, n_tables=4)
    keys_before = old.sorted_keys.copy()
    grown = old.extend(X[1000:], X)
    assert_array_equal(old.sorted_keys, keys_before)
    assert old.n_samples == 1000 and grown.n_samples == 1500
    assert grown.functions is old.functions and grown.space is old.space
    # A stored row of the new batch is its own nearest neighbour, by its new sample id.
    _, found = grown.kneighbors(X[1200:1210], 1, QuerySettings(n_probes=2, n_candidates=10))
    assert_array_equal(found[:, 0], np.arange(1200, 1210))


def test_kneighbors_on_the_index_gives_exact_sorted_distances(digits):
    X, Q = digits
    index = fit_index(X)
    distances, indices = index.kneighbors(Q, 5, QuerySettings(n_probes=8, n_candidates=50))
    assert indices.shape == (len(Q), 5) and indices.dtype == np.int64
    assert_allclose(distances, np.linalg.norm(X[indices] - Q[:, None], axis=2), rtol=1e-6)
    assert np.all(np.diff(distances, axis=1) >= 0)
    _, own = index.kneighbors(None, 1, QuerySettings(n_probes=8, n_candidates=50),
                              exclude_self=True)
    assert not np.any(own[:, 0] == np.arange(len(X)))


def test_the_indexed_rows_neighbours_keep_what_either_end_of_a_pair_found(digits):
    X, _ = digits
    index = fit_index(X, n_tables=3)
    settings = QuerySettings(n_probes=1, n_candidates=10)
    as_graph = index.kneighbors(None, 5, settings, exclude_self=True)
    as_queries = index.kneighbors(X, 5, settings, exclude=np.arange(len(X)))
    # never a worse k-th neighbour, often a better one, with exact distances
    assert np.all(as_graph[0] <= as_queries[0])
    assert np.mean(as_graph[0][:, -1] < as_queries[0][:, -1]) > 0.1
    exact = NearestNeighbors(n_neighbors=5).fit(X).kneighbors()[1]
    assert recall(as_graph[1], exact) > recall(as_queries[1], exact)
    assert_allclose(as_graph[0], np.linalg.norm(X[as_graph[1]] - X[:, None], axis=2),
                    rtol=1e-6)
    assert not np.any(as_graph[1] == np.arange(len(X))[:, None])
    assert all(len(set(row)) == 5 for row in as_graph[1])


def test_radius_neighbors_on_the_index_are_within_the_radius(digits):
    X, Q = digits
    index = fit_index(X)
    indptr, indices, distances = index.radius_neighbors(Q, 20.0, QuerySettings(n_probes=8))
    assert indptr.shape == (len(Q) + 1,) and indptr[-1] == len(indices) > 0
    query_of = np.repeat(np.arange(len(Q)), np.diff(indptr))
    assert_allclose(distances, np.linalg.norm(X[indices] - Q[query_of], axis=1), rtol=1e-6)
    assert np.all(distances <= 20.0)


# --- the index is an index -----------------------------------------------------------

def independent_keys(index, rows):
    """One table's keys from the hash functions' hyperplanes, bit by bit (one cell)."""
    margins = index.space.project(rows) @ index.functions.hyperplanes
    return sum((margins[:, b] > 0).astype(np.int64) << b for b in range(index.n_bits))


@pytest.mark.parametrize("sparse", [False, True])
def test_one_table_no_probes_candidates_are_exactly_the_rows_with_the_query_key(digits,
                                                                             sparse):
    X, Q = digits
    if sparse:
        X, Q = sp.csr_matrix(X), sp.csr_matrix(Q)
    index = fit_index(X, n_bits=6, n_tables=1)
    candidates = index.candidates(Q, QuerySettings(n_probes=0))
    row_keys, query_keys = independent_keys(index, X), independent_keys(index, Q)
    for query, found in enumerate(candidates):
        expected = np.flatnonzero(row_keys == query_keys[query])
        assert_array_equal(found[found >= 0], expected)


def test_probe_j_visits_the_bucket_with_the_jth_smallest_flip_score(digits):
    X, Q = digits
    index = fit_index(X, n_bits=6, n_tables=1)
    n_probes = 12
    margins = index.space.project(Q) @ index.functions.hyperplanes
    query_keys = independent_keys(index, Q)
    row_keys = independent_keys(index, X)
    subsets = [s for r in range(1, 7) for s in itertools.combinations(range(6), r)]
    for query in range(0, len(Q), 37):
        scores = [np.sum(margins[query, list(s)] ** 2) for s in subsets]
        masks = [sum(1 << b for b in s) for s in subsets]
        visited = {query_keys[query]}
        for j in range(n_probes + 1):  # after j probes: own bucket + the j best flips
            found = index.candidates(Q[query:query + 1], QuerySettings(n_probes=j))[0]
            expected = np.flatnonzero(np.isin(row_keys, list(visited)))
            assert_array_equal(found[found >= 0], expected)
            if j < n_probes:
                best = np.argsort(scores, kind="stable")[j]
                visited.add(query_keys[query] ^ masks[best])


@pytest.mark.parametrize("n_cells", [1, 8])
@pytest.mark.parametrize("n_dropped_bits", [1, 3])
def test_dropped_bits_visit_every_row_whose_key_shares_the_other_bits(digits, n_cells,
                                                                      n_dropped_bits):
    X, Q = digits
    index = fit_index(X, n_bits=7, n_tables=2, n_cells=n_cells)
    settings = QuerySettings(n_dropped_bits=n_dropped_bits, n_cell_probes=1)
    found = index.candidates(Q, settings)
    query_cells = nearest_cells(index.space.project(Q), index.functions.centroids, 1)[:, 0]
    row_keys = index.functions.keys(index.space.project(X), nearest_cells(
        index.space.project(X), index.functions.centroids, 1)[:, 0]) >> np.uint64(n_dropped_bits)
    query_keys = index.functions.keys(index.space.project(Q), query_cells) >> \
        np.uint64(n_dropped_bits)
    for query in range(0, len(Q), 7):
        expected = np.flatnonzero(np.any(row_keys == query_keys[:, query:query + 1], axis=0))
        assert_array_equal(found[query][found[query] >= 0], expected)


def test_probes_never_flip_a_dropped_bit(digits):
    X, Q = digits
    index = fit_index(X, n_bits=8, n_tables=3)
    projected = index.space.project(Q)
    cells = np.zeros((len(Q), 1), dtype=np.int64)
    keys = index.functions.probe_keys(projected, cells, n_probes=20, n_dropped_bits=3)
    prefixes = keys >> np.uint64(3)
    for table in range(3):  # every probe reaches a new range of sorted keys
        assert all(len(set(row)) == row.size for row in prefixes[table])


def test_candidates_grow_with_tables_and_probes_and_stay_far_below_n_samples(mixture):
    X, Q = mixture
    means = {}
    for n_tables, n_probes in [(2, 0), (10, 0), (10, 8), (20, 8)]:
        index = fit_index(X, n_tables=n_tables)
        means[n_tables, n_probes] = candidate_counts(
            index, Q, QuerySettings(n_probes=n_probes)).mean()
    assert means[2, 0] < means[10, 0] < means[10, 8] < means[20, 8]
    # The default setting (10 tables, 8 probes) looks at a small part of the data.
    assert means[10, 8] < 0.15 * len(X)


def test_cells_gather_a_small_fraction_of_the_plain_candidates_on_clustered_data():
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=20.0, size=(40, 16))
    X = centres[rng.randint(40, size=8200)] + rng.normal(scale=0.5, size=(8200, 16))
    X, Q = X[:8000], X[8000:]
    settings = QuerySettings(n_probes=4, n_cell_probes=1, n_candidates=50)
    plain = fit_index(X, n_tables=8, n_cells=1)
    cells = fit_index(X, n_tables=8, n_cells=40)
    plain_count = candidate_counts(plain, Q, settings).mean()
    cells_count = candidate_counts(cells, Q, settings).mean()
    assert cells_count < 0.2 * plain_count
    exact = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(Q)[1]
    assert recall(cells.kneighbors(Q, 10, settings)[1], exact) >= 0.9


def test_recall_of_four_tables_and_four_probes_on_digits(digits):
    # Measured 0.816; with the probes flipping the highest-margin bits instead, 0.67.
    X, Q = digits
    index = fit_index(X, n_tables=4)
    exact = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(Q)[1]
    found = index.kneighbors(Q, 10, QuerySettings(n_probes=4, n_candidates=50))[1]
    assert 0.79 <= recall(found, exact) <= 0.85


# --- pre-ranking ------------------------------------------------------------------------

def test_prerank_in_fewer_components_changes_only_which_candidates_are_ranked(mixture):
    X, Q = mixture
    index = fit_index(X, n_tables=4)
    assert index.space.n_components > 8
    every = QuerySettings(n_probes=4, n_candidates=10**6)  # every candidate ranked exactly
    coarse = QuerySettings(n_probes=4, n_candidates=10**6, n_prerank_components=8)
    assert_array_equal(index.kneighbors(Q, 10, coarse)[1], index.kneighbors(Q, 10, every)[1])
    # With a shortlist, the coarse pre-ranking still gives exact, sorted distances ...
    distances, indices = index.kneighbors(Q, 10, QuerySettings(
        n_probes=4, n_candidates=30, n_prerank_components=8))
    assert_allclose(distances, np.linalg.norm(X[indices] - Q[:, None], axis=2), rtol=1e-5)
    assert np.all(np.diff(distances, axis=1) >= 0)
    # ... and finds fewer true neighbours than the full one with the same shortlist.
    exact = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(Q)[1]
    full = index.kneighbors(Q, 10, QuerySettings(n_probes=4, n_candidates=30))[1]
    assert recall(indices, exact) < recall(full, exact)


def test_prerank_norms_are_those_of_the_leading_components(digits):
    X, _ = digits
    index = fit_index(X)
    assert_allclose(index.prerank_sq_norms(5), np.sum(index.projected[:, :5] ** 2, axis=1),
                    rtol=1e-5)
    assert "_prerank_sq_norms" not in index.__getstate__()

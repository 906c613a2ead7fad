"""Sign sketches and the sketch strategy: Hamming distances that estimate angles,
pre-ranking by them, and the tuner choosing the strategy where it wins."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHIndex, LSHNearestNeighbors, QuerySettings
from sklearn_lsh._projection import HashSpace
from sklearn_lsh._sketch import SignSketch, _popcount_by_bytes, hamming_distances, popcount
from sklearn_lsh._tuning import WIDE_COMPONENTS


def recall(found, exact):
    return np.mean([len(np.intersect1d(f, e)) / len(e) for f, e in zip(found, exact)])


def spread_embeddings(n_rows, n_features=128, n_topics=None, group_size=20, seed=0):
    """Float32 rows in tight groups of about ``group_size``; the group centres come
    from ``n_topics`` topics (``None``: each group is its own random direction, so
    the variance spreads over every direction, as in text embeddings)."""
    rng = np.random.default_rng(seed)
    n_groups = n_rows // group_size
    centres = rng.standard_normal((n_groups, n_features))
    if n_topics is not None:
        topics = rng.standard_normal((n_topics, n_features))
        centres += 3 * topics[rng.integers(0, n_topics, n_groups)]
    X = centres[rng.integers(0, n_groups, n_rows)] + 0.35 * rng.standard_normal(
        (n_rows, n_features))
    return X.astype(np.float32)


def sketch_index(X, metric, n_tables=16):
    """An index of the sketch strategy: a wide hash space, cross-polytope tables, sign
    sketches."""
    space = HashSpace.fit(X, metric, np.random.RandomState(0), max_components=WIDE_COMPONENTS)
    return LSHIndex.fit(X, metric=metric, n_bits=None, n_tables=n_tables, n_cells=1,
                        random_state=np.random.RandomState(0), space=space,
                        projected=space.project(X), n_sketch_bits=256,
                        family="cross-polytope")


# --- sketches ----------------------------------------------------------------------------

def test_a_sketch_bit_is_the_sign_of_a_margin():
    rng = np.random.RandomState(0)
    rows = rng.standard_normal((50, 8)).astype(np.float32)
    sketch = SignSketch.draw(8, rng, n_bits=128)
    codes = sketch.codes(rows)
    assert codes.shape == (2, 50) and codes.dtype == np.uint64
    bits = np.unpackbits(codes.T.copy().view(np.uint8), axis=1, bitorder="little")
    assert_array_equal(bits.astype(bool), rows @ sketch.planes > 0)


def test_hamming_distance_counts_the_differing_signs_and_blanks_empty_slots():
    rng = np.random.RandomState(1)
    rows = rng.standard_normal((30, 16)).astype(np.float32)
    sketch = SignSketch.draw(16, rng, n_bits=192)
    signs = rows @ sketch.planes > 0
    candidates = np.array([[0, 5, -1], [29, -1, -1]])
    found = hamming_distances(sketch.codes(rows[[3, 7]]), sketch.codes(rows), candidates)
    assert found[0, 0] == np.sum(signs[3] != signs[0])
    assert found[0, 1] == np.sum(signs[3] != signs[5])
    assert found[1, 0] == np.sum(signs[7] != signs[29])
    assert np.isinf(found[candidates < 0]).all()


def test_hamming_distance_estimates_the_angle():
    rng = np.random.RandomState(2)
    a = rng.standard_normal((200, 32))
    b = a + rng.standard_normal((200, 32)) * rng.uniform(0.1, 2.0, (200, 1))
    angle = np.arccos(np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1)
                      / np.linalg.norm(b, axis=1))
    sketch = SignSketch.draw(32, rng, n_bits=1024)
    found = hamming_distances(sketch.codes(a.astype(np.float32)),
                              sketch.codes(b.astype(np.float32)), np.arange(200)[:, None])
    assert np.abs(found[:, 0] / 1024 - angle / np.pi).mean() < 0.02


def test_popcount_without_numpy_2_counts_the_same_bits():
    words = np.random.RandomState(3).randint(0, 2**63, size=(7, 5)).astype(np.uint64)
    words[0, 0] = np.uint64(2**64 - 1)
    expected = [[bin(int(w)).count("1") for w in row] for row in words]
    assert_array_equal(_popcount_by_bytes(words), expected)
    assert_array_equal(popcount(words), expected)


# --- pre-ranking by sketches -------------------------------------------------------------

@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_ranking_every_candidate_does_not_depend_on_the_pre_ranking(metric):
    X = spread_embeddings(3000, 32)
    Q = spread_embeddings(40, 32, seed=1)
    index = sketch_index(X, metric, n_tables=4)
    everything = {"n_probes": 2, "n_candidates": 3000}
    by_sketch = index.kneighbors(Q, 5, QuerySettings(**everything, prerank="sketch"))
    by_projection = index.kneighbors(Q, 5, QuerySettings(**everything))
    assert_array_equal(by_sketch[1], by_projection[1])
    assert_array_equal(by_sketch[0], by_projection[0])


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_the_sketch_strategy_finds_the_true_neighbours(metric, sparse):
    X = spread_embeddings(8000, 64)
    Q = spread_embeddings(200, 64, seed=0)[:200] + 0.1  # near indexed rows
    if sparse:
        X[np.abs(X) < 1.0], Q[np.abs(Q) < 1.0] = 0, 0
        X, Q = sp.csr_matrix(X), sp.csr_matrix(Q)
    index = sketch_index(X, metric)
    _, found = index.kneighbors(Q, 10, QuerySettings(n_probes=4, n_candidates=100,
                                                     prerank="sketch"))
    exact = NearestNeighbors(n_neighbors=10, metric=metric).fit(X).kneighbors(Q)[1]
    assert recall(found, exact) >= 0.9
    assert (index.candidates(Q, QuerySettings(n_probes=4)) >= 0).sum(axis=1).mean() < 0.5 * 8000


def test_a_sketch_index_grows_with_the_sketches_of_its_new_rows():
    X = spread_embeddings(2000, 32)
    index = sketch_index(X[:1500], "cosine", n_tables=4)
    grown = index.extend(X[1500:], X)
    at_once = LSHIndex.from_hash_functions(X, index.space, index.functions, index.sketch)
    order = np.argsort(grown.sample_ids)
    assert_array_equal(grown.codes[:, order], at_once.codes[:, np.argsort(at_once.sample_ids)])
    settings = QuerySettings(n_probes=2, n_candidates=50, prerank="sketch")
    assert_array_equal(grown.kneighbors(X[:50], 5, settings)[1],
                       at_once.kneighbors(X[:50], 5, settings)[1])


def test_a_wide_hash_space_stores_only_the_leading_components():
    X = spread_embeddings(3000, 128)
    index = sketch_index(X, "cosine")
    assert index.space.n_components > 48
    assert index.projected.shape == (3000, 48)
    # queries of the indexed rows are projected again, to the full width
    settings = QuerySettings(n_probes=2, n_candidates=50, prerank="sketch")
    assert_array_equal(index.kneighbors(None, 5, settings, exclude_self=True)[1],
                       index.kneighbors(X, 5, settings, exclude=np.arange(3000))[1])


# --- the tuner's choice ------------------------------------------------------------------

def test_the_tuner_chooses_sketches_where_the_variance_spreads_over_every_direction():
    X = spread_embeddings(30200, 128)
    X, Q = X[:30000], X[30000:]
    nn = LSHNearestNeighbors(n_neighbors=10, metric="cosine", random_state=0).fit(X)
    assert nn.search_method_ == "sketch"
    assert nn.operating_point_.prerank == "sketch"
    exact = NearestNeighbors(n_neighbors=10, metric="cosine").fit(X).kneighbors(Q)[1]
    assert recall(nn.kneighbors(Q)[1], exact) >= 0.9


def test_the_tuner_keeps_the_tables_where_the_projection_holds_the_structure():
    X = spread_embeddings(30200, 128, n_topics=100)
    X, Q = X[:30000], X[30000:]
    nn = LSHNearestNeighbors(n_neighbors=10, metric="cosine", random_state=0).fit(X)
    assert nn.search_method_ == "hashing"
    exact = NearestNeighbors(n_neighbors=10, metric="cosine").fit(X).kneighbors(Q)[1]
    assert recall(nn.kneighbors(Q)[1], exact) >= 0.9


def test_a_first_cut_by_sketches_keeps_what_the_projection_ranks_best_of_it():
    X = spread_embeddings(4000, 32, n_topics=20)
    Q = spread_embeddings(50, 32, n_topics=20, seed=1)
    index = LSHIndex.fit(X, metric="euclidean", n_bits=6, n_tables=6, n_cells=1,
                         random_state=np.random.RandomState(0), n_sketch_bits=256)
    settings = QuerySettings(n_probes=2, n_candidates=20)
    every = index.kneighbors(Q, 5, settings)
    # a cut wider than every query's candidates changes nothing
    assert_array_equal(index.kneighbors(Q, 5, QuerySettings(
        n_probes=2, n_candidates=20, n_sketch_candidates=4000))[1], every[1])
    cut = index.kneighbors(Q, 5, QuerySettings(n_probes=2, n_candidates=20,
                                               n_sketch_candidates=160))
    exact = NearestNeighbors(n_neighbors=5).fit(X).kneighbors(Q)[1]
    assert recall(cut[1], exact) >= recall(every[1], exact) - 0.05


def test_the_tuner_keeps_sketches_only_when_its_choice_uses_them():
    X = spread_embeddings(30000, 128, n_topics=100)
    nn = LSHNearestNeighbors(n_neighbors=10, metric="cosine", random_state=0).fit(X)
    uses = nn.operating_point_.prerank == "sketch" or nn.operating_point_.n_sketch_candidates
    assert (nn.index_.codes is not None) == bool(uses)


def test_a_sketch_strategy_estimator_saves_and_loads_with_skops(tmp_path):
    skops_io = pytest.importorskip("skops.io")
    from sklearn_lsh import SKOPS_TRUSTED_TYPES

    X = spread_embeddings(30050, 128)
    X, Q = X[:30000], X[30000:]
    nn = LSHNearestNeighbors(n_neighbors=10, metric="cosine", random_state=0).fit(X)
    assert nn.search_method_ == "sketch"
    path = tmp_path / "sketch.skops"
    skops_io.dump(nn, path)
    assert set(skops_io.get_untrusted_types(file=path)) <= set(SKOPS_TRUSTED_TYPES)
    loaded = skops_io.load(path, trusted=SKOPS_TRUSTED_TYPES)
    assert_array_equal(loaded.kneighbors(Q)[1], nn.kneighbors(Q)[1])


def test_growing_a_sketch_strategy_estimator_keeps_its_sketches_whole():
    X = spread_embeddings(36000, 128)
    nn = LSHNearestNeighbors(n_neighbors=10, metric="cosine", random_state=0).fit(X[:30000])
    assert nn.search_method_ == "sketch"
    nn.partial_fit(X[30000:])
    assert nn.index_.codes.shape == (4, 36000)
    exact = NearestNeighbors(n_neighbors=10, metric="cosine").fit(X).kneighbors(X[-50:])[1]
    assert recall(nn.kneighbors(X[-50:])[1], exact) >= 0.9


def test_a_first_cut_grows_with_the_neighbours_a_call_asks_for():
    X = spread_embeddings(30000, 128, n_topics=100)
    nn = LSHNearestNeighbors(n_neighbors=5, random_state=0).fit(X)
    cut = nn.operating_point_.n_sketch_candidates
    assert cut  # the tuner chose a first cut on this data
    many = cut + 20
    distances, indices = nn.kneighbors(X[:20], n_neighbors=many)
    assert indices.shape == (20, many)
    assert all(len(set(row)) == many for row in indices)
    exact = NearestNeighbors(n_neighbors=many).fit(X).kneighbors(X[:20])[1]
    assert recall(indices, exact) >= 0.8


def test_an_index_given_a_wide_projection_keeps_the_norms_of_what_it_stores():
    X = spread_embeddings(2000, 128)
    wide = sketch_index(X, "cosine")
    rebuilt = LSHIndex(data=X, space=wide.space, functions=wide.functions,
                       sorted_keys=wide.sorted_keys, sorted_positions=wide.sorted_positions,
                       sample_ids=wide.sample_ids,
                       projected=wide.space.project(X)[wide.sample_ids])
    assert rebuilt.projected.shape[1] == 48
    np.testing.assert_allclose(rebuilt.projected_sq_norms,
                               np.sum(rebuilt.projected.astype(np.float64)**2, axis=1),
                               rtol=1e-4)


@pytest.fixture(scope="module")
def sketch_estimator():
    X = spread_embeddings(30300, 128, seed=3)
    X, Q = X[:30000], X[30000:]
    nn = LSHNearestNeighbors(n_neighbors=10, metric="cosine", random_state=0).fit(X)
    assert nn.search_method_ == "sketch"
    return nn, X, Q


def test_sketch_strategy_answers_do_not_depend_on_batch_n_jobs_or_backend(sketch_estimator):
    from joblib import parallel_config

    nn, X, Q = sketch_estimator
    expected = nn.kneighbors(Q)
    halves = [nn.kneighbors(Q[:150]), nn.kneighbors(Q[150:])]
    assert_array_equal(np.vstack([h[1] for h in halves]), expected[1])
    assert_array_equal(np.vstack([h[0] for h in halves]), expected[0])
    for backend in ("threading", "loky"):
        with parallel_config(backend=backend, n_jobs=2):
            distances, indices = nn.set_params(n_jobs=2).kneighbors(Q)
        assert_array_equal(indices, expected[1])
        assert_array_equal(distances, expected[0])
    nn.set_params(n_jobs=None)


def test_sketch_strategy_graph_is_exact_distances_without_self(sketch_estimator):
    nn, X, _ = sketch_estimator
    distances, indices = nn.kneighbors()
    assert not np.any(indices == np.arange(len(X))[:, None])
    assert all(len(set(row)) == 10 for row in indices[:500])
    rows = X[:500] / np.linalg.norm(X[:500], axis=1, keepdims=True)
    found = X[indices[:500]] / np.linalg.norm(X[indices[:500]], axis=2, keepdims=True)
    np.testing.assert_allclose(distances[:500], 1 - np.einsum("qd,qkd->qk", rows, found),
                               atol=1e-5)

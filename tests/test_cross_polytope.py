"""Cross-polytope hash family: a key is the nearest vertices of random cross-polytopes,
probes swap vertices by least drop in projection, and tables of them find neighbours."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import CrossPolytopeFunctions, LSHIndex, QuerySettings
from sklearn_lsh._cross_polytope import MAX_DIM, MIN_DIM, polytope_dim
from sklearn_lsh._projection import HashSpace


def functions(n_components=12, n_tables=3, n_rows=3000, seed=0):
    return CrossPolytopeFunctions.draw(n_components, n_tables, n_rows,
                                       np.random.RandomState(seed))


def nearest_vertex(projections):
    """Vertex number ``2 * j + (negative)`` of the largest absolute projection."""
    j = np.argmax(np.abs(projections), axis=-1)
    negative = np.take_along_axis(projections, j[..., None], axis=-1)[..., 0] < 0
    return 2 * j + negative


def test_a_key_holds_the_nearest_vertex_of_each_polytope():
    f = functions()
    rows = np.random.RandomState(1).standard_normal((40, 12)).astype(np.float32)
    keys = f.keys(rows)
    assert keys.shape == (3, 40) and keys.dtype == np.uint64
    projections = (rows @ f.directions).reshape(40, 3, 2, f.dim)
    vertices = nearest_vertex(projections)  # (rows, tables, polytopes)
    expected = (vertices[:, :, 0] << f.vertex_bits) | vertices[:, :, 1]
    assert_array_equal(keys, expected.T.astype(np.uint64))


def test_the_directions_per_polytope_aim_at_a_few_rows_per_bucket():
    for n_rows in (100, 10_000, 100_000, 10**6, 10**9):
        dim = polytope_dim(n_rows)
        assert MIN_DIM <= dim <= MAX_DIM and dim & (dim - 1) == 0
    assert polytope_dim(100_000) == 64  # 128**2 buckets for 10^5 rows: 6 rows each
    assert polytope_dim(10_000) < polytope_dim(100_000) <= polytope_dim(10**6)


def test_probes_are_the_keys_of_least_total_drop_own_key_first():
    f = functions(n_components=6, n_rows=200)  # 8 directions: every pair can be scored
    rows = np.random.RandomState(2).standard_normal((25, 6)).astype(np.float32)
    n_probes = 9
    probes = f.probe_keys(rows, n_probes=n_probes)
    assert probes.shape == (3, 25, 1 + n_probes)
    assert_array_equal(probes[:, :, 0], f.keys(rows))
    projections = (rows @ f.directions).reshape(25, 3, 2, f.dim)
    magnitudes = np.abs(projections)
    drops = magnitudes.max(axis=-1, keepdims=True) - magnitudes
    for q, t in itertools.product(range(25), range(3)):
        # every key reachable by swapping vertices, with its total drop
        scored = {}
        for i, j in itertools.product(range(f.dim), repeat=2):
            vi = 2 * i + (projections[q, t, 0, i] < 0)
            vj = 2 * j + (projections[q, t, 1, j] < 0)
            scored[(int(vi) << f.vertex_bits) | int(vj)] = drops[q, t, 0, i] + drops[q, t, 1, j]
        best = sorted(scored.values())[:1 + n_probes]
        got = [scored[int(key)] for key in probes[t, q]]
        assert len(set(probes[t, q].tolist())) == 1 + n_probes
        np.testing.assert_allclose(sorted(got), best, rtol=1e-6)
        assert got == sorted(got)


def test_a_query_s_probes_do_not_depend_on_its_batch():
    f = functions()
    rows = np.random.RandomState(3).standard_normal((30, 12)).astype(np.float32)
    together = f.probe_keys(rows, n_probes=5)
    alone = np.concatenate([f.probe_keys(rows[i:i + 1], n_probes=5) for i in range(30)],
                           axis=1)
    assert_array_equal(together, alone)


def test_probes_stop_at_the_reachable_keys_and_bits_cannot_be_dropped():
    f = functions(n_rows=10)  # MIN_DIM directions: MIN_DIM ** 2 reachable keys
    rows = np.random.RandomState(4).standard_normal((5, 12)).astype(np.float32)
    assert f.max_probes == MIN_DIM**2 - 1
    probes = f.probe_keys(rows, n_probes=10_000)
    assert probes.shape[2] == MIN_DIM**2
    assert all(len(set(probes[t, q].tolist())) == MIN_DIM**2
               for t in range(3) for q in range(5))
    with pytest.raises(ValueError, match="no bits to drop"):
        f.probe_keys(rows, n_probes=2, n_dropped_bits=1)


def test_fewer_tables_are_a_prefix_of_the_functions():
    f = functions(n_tables=5)
    rows = np.random.RandomState(5).standard_normal((20, 12)).astype(np.float32)
    assert_array_equal(f.with_tables(2).keys(rows), f.keys(rows)[:2])
    assert_array_equal(f.with_tables(2).probe_keys(rows, n_probes=3),
                       f.probe_keys(rows, n_probes=3)[:2])


def clustered(n_rows, n_features=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_rows // 10, n_features))
    return (centres[rng.integers(0, len(centres), n_rows)]
            + 0.3 * rng.standard_normal((n_rows, n_features))).astype(np.float32)


def cross_polytope_index(X, metric, n_tables=16):
    space = HashSpace.fit(X, metric, np.random.RandomState(0), max_components=64)
    return LSHIndex.fit(X, metric=metric, n_bits=None, n_tables=n_tables, n_cells=1,
                        random_state=np.random.RandomState(0), space=space,
                        projected=space.project(X), n_sketch_bits=256,
                        family="cross-polytope")


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_cross_polytope_tables_find_the_true_neighbours_in_few_candidates(metric, sparse):
    X, Q = clustered(6000), clustered(6000)[:150] + 0.05
    if sparse:
        X[np.abs(X) < 0.8], Q[np.abs(Q) < 0.8] = 0, 0
        X, Q = sp.csr_matrix(X), sp.csr_matrix(Q)
    index = cross_polytope_index(X, metric)
    settings = QuerySettings(n_probes=4, n_candidates=100, prerank="sketch")
    _, found = index.kneighbors(Q, 10, settings)
    exact = NearestNeighbors(n_neighbors=10, metric=metric).fit(X).kneighbors(Q)[1]
    recall = np.mean([len(np.intersect1d(f, e)) / 10 for f, e in zip(found, exact)])
    assert recall >= 0.9
    assert (index.candidates(Q, settings) >= 0).sum(axis=1).mean() < 0.25 * 6000


def test_a_cross_polytope_index_asked_to_drop_bits_drops_none():
    X = clustered(2000)
    index = cross_polytope_index(X, "euclidean", n_tables=4)
    settings = QuerySettings(n_probes=2, n_candidates=50, prerank="sketch")
    assert_array_equal(index.kneighbors(X[:30], 5, settings)[1],
                       index.kneighbors(X[:30], 5, QuerySettings(
                           n_probes=2, n_candidates=50, prerank="sketch",
                           n_dropped_bits=3))[1])


def test_queries_whose_buckets_hold_too_few_rows_widen_their_probes():
    X = clustered(3000)
    index = cross_polytope_index(X, "euclidean", n_tables=2)
    settings = QuerySettings(n_candidates=60, prerank="sketch")
    assert (index.candidates(X[:20], settings) >= 0).sum(axis=1).min() < 60  # some widen
    distances, ids = index.kneighbors(X[:20], 60, settings)
    assert all(len(set(row)) == 60 for row in ids) and (ids >= 0).all()
    np.testing.assert_allclose(distances, np.linalg.norm(X[ids] - X[:20, None], axis=2),
                               rtol=1e-5, atol=1e-5)
    assert (np.diff(distances, axis=1) >= 0).all()


def test_a_cross_polytope_index_grows_as_if_built_at_once():
    X = clustered(2500)
    index = cross_polytope_index(X[:2000], "cosine", n_tables=4)
    grown = index.extend(X[2000:], X)
    at_once = LSHIndex.from_hash_functions(X, index.space, index.functions, index.sketch)
    settings = QuerySettings(n_probes=3, n_candidates=60, prerank="sketch")
    assert_array_equal(grown.kneighbors(X[:80], 5, settings)[1],
                       at_once.kneighbors(X[:80], 5, settings)[1])


def test_a_bucket_of_copies_is_gathered_within_budget_and_answered_exactly():
    X = clustered(3000)
    X = np.vstack([X, np.repeat(X[:1], 5000, axis=0)])  # 5000 copies of row 0
    index = cross_polytope_index(X, "euclidean", n_tables=8)
    settings = QuerySettings(n_probes=3, n_candidates=50, prerank="sketch")
    distances, indices = index.kneighbors(X[:3], 10, settings)
    assert all(len(set(row)) == 10 for row in indices)
    assert_array_equal(distances[0], 0.0)  # the copies of row 0
    assert np.isin(indices[0], np.r_[0, np.arange(3000, 8000)]).all()
    np.testing.assert_allclose(distances, np.linalg.norm(X[indices] - X[:3, None], axis=2),
                               rtol=1e-5, atol=1e-6)


def test_a_row_at_the_centre_probes_its_own_key_first():
    f = functions()
    rows = np.zeros((4, 12), dtype=np.float32)  # every projection ties at 0
    rows[1:] = np.random.RandomState(6).standard_normal((3, 12))
    assert_array_equal(f.probe_keys(rows, n_probes=6)[:, :, 0], f.keys(rows))

"""DaskLSHNearestNeighbors: a sharded index on a Dask cluster answers as one machine does."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402
import dask.array as da  # noqa: E402
from sklearn.metrics import pairwise_distances  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from sklearn_lsh import LSHNearestNeighbors, measure_recall  # noqa: E402
from sklearn_lsh._evaluation import found_within  # noqa: E402
from sklearn_lsh._shards import (  # noqa: E402
    MAX_SHARD_ROWS,
    merge_neighbors,
    sample_counts,
    shard_sizes,
)
from sklearn_lsh.dask import DaskLSHNearestNeighbors  # noqa: E402

#: Every shard's search is exhaustive: one hyperplane probed both ways, every row ranked.
EXHAUSTIVE = dict(n_hyperplanes=1, n_tables=1, n_probes=1, n_cells=1, n_candidates=10_000,
                  target_recall=None)


def new_cluster(n_workers=2):
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                       processes=False, dashboard_address=":0")
    return cluster, distributed.Client(cluster, set_as_default=False)


@pytest.fixture(scope="module")
def client():
    cluster, client = new_cluster()
    with client.as_current():
        yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    """Clustered 16-d rows (1300 indexed, 60 queries)."""
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=4.0, size=(20, 16))
    X = centres[rng.randint(20, size=1360)] + rng.normal(size=(1360, 16))
    return X[:1300], X[1300:]


def exact(X, Q, n_neighbors):
    """Brute force with ties broken by index: every distance, sorted by (distance, index)."""
    distances = pairwise_distances(Q, X) if Q is not None else pairwise_distances(X)
    if Q is None:
        np.fill_diagonal(distances, np.inf)
    columns = np.broadcast_to(np.arange(X.shape[0]), distances.shape)
    order = np.lexsort((columns, distances), axis=1)[:, :n_neighbors]
    return np.take_along_axis(distances, order, axis=1), order


# --- the shard kernels ------------------------------------------------------------------

def test_large_chunks_are_split_into_near_equal_shards():
    assert shard_sizes([10, 25, 0, 3], max_rows=10) == (10, 9, 8, 8, 3)
    assert sum(shard_sizes([123_457])) == 123_457


def test_the_sample_takes_from_every_shard_in_proportion():
    counts = sample_counts([5000, 5000, 10], 1000, seed=0)
    assert counts.sum() == 1000 and np.all(counts <= [5000, 5000, 10])
    assert abs(counts[0] - counts[1]) < 100
    assert_array_equal(sample_counts([5000, 5000, 10], 1000, seed=0), counts)


def test_merge_keeps_the_best_by_distance_then_global_id():
    left = (np.array([[0.5, 2.0]]), np.array([[7, 3]]))
    right = (np.array([[0.5, 1.0, 9.0]]), np.array([[4, 12, 13]]))
    distances, ids = merge_neighbors(3, left, right)
    assert_array_equal(ids, [[4, 7, 12]])
    assert_array_equal(distances, [[0.5, 0.5, 1.0]])


def test_a_shard_weighs_its_rows_and_index_for_the_scheduler(data):
    X, _ = data
    index = LSHNearestNeighbors(random_state=0, target_recall=None).fit(X).index_
    assert dask.sizeof.sizeof(index) >= index.nbytes + X.nbytes


def test_importing_the_package_does_not_import_dask():
    code = "import sys, sklearn_lsh; assert 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- answers ----------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", [(400, 16), (1300, 16), ((100, 700, 1, 499), (16,))],
                         ids=["even", "single", "uneven"])
def test_exhaustive_shards_answer_exactly_as_brute_force(client, data, chunks):
    X, Q = data
    nn = DaskLSHNearestNeighbors(n_neighbors=7, **EXHAUSTIVE).fit(da.from_array(X, chunks))
    distances, indices = nn.kneighbors(da.from_array(Q, chunks=(25, 16)))
    assert distances.chunks[0] == (25, 25, 10)
    expected_distances, expected_indices = exact(X, Q, 7)
    assert_array_equal(indices.compute(), expected_indices)
    assert_allclose(distances.compute(), expected_distances)


def test_a_chunk_over_the_shard_size_is_split_where_it_is(client):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(MAX_SHARD_ROWS + 1, 2))
    dX = da.concatenate([da.zeros((0, 2), chunks=(0, 2)), da.from_array(X, chunks=(-1, 2))])
    nn = DaskLSHNearestNeighbors(n_neighbors=3, target_recall=1.0).fit(dX)  # exact shards
    assert nn.n_shards_ == 2
    assert_array_equal(nn.kneighbors(X[-20:])[1].compute(), exact(X, X[-20:], 3)[1])


def test_training_queries_exclude_themselves_by_global_id(client, data):
    X, _ = data
    chunks = ((100, 700, 1, 499), (16,))
    nn = DaskLSHNearestNeighbors(n_neighbors=6, **EXHAUSTIVE).fit(da.from_array(X, chunks))
    distances, indices = nn.kneighbors()
    assert indices.chunks[0] == chunks[0]
    expected_distances, expected_indices = exact(X, None, 6)
    assert_array_equal(indices.compute(), expected_indices)
    assert_allclose(distances.compute(), expected_distances)


@pytest.mark.parametrize("queries", ["rows", "others"])
def test_exhaustive_radius_neighbours_are_exact_ones(client, data, queries):
    X, Q = data
    nn = DaskLSHNearestNeighbors(radius=4.5, **EXHAUSTIVE).fit(da.from_array(X, (300, 16)))
    exact_nn = NearestNeighbors(radius=4.5).fit(X)
    query = None if queries == "rows" else Q
    distances, indices = nn.radius_neighbors(query, sort_results=True)
    expected_distances, expected_indices = exact_nn.radius_neighbors(query, sort_results=True)
    assert sum(map(len, indices)) > len(indices)  # some queries find several
    for found, expected in zip(indices, expected_indices):
        assert_array_equal(np.sort(found), np.sort(expected))
    assert_allclose(np.concatenate(distances), np.concatenate(expected_distances))
    graph = nn.radius_neighbors_graph(query, mode="distance")
    assert graph.nnz == sum(map(len, expected_indices))


def test_ties_go_to_the_lowest_global_id_across_shards(client):
    grid = np.array([[x, y] for x in range(6) for y in range(6)], dtype=np.float64)
    X = np.vstack([grid, grid, grid])  # every row thrice, in different shards
    nn = DaskLSHNearestNeighbors(n_neighbors=9, **EXHAUSTIVE).fit(
        da.from_array(X, chunks=(25, 2)))
    distances, indices = da.compute(*nn.kneighbors(grid + 0.25))
    expected_distances, expected_indices = exact(X, grid + 0.25, 9)
    assert_array_equal(indices, expected_indices)
    assert_allclose(distances, expected_distances)


def test_numpy_input_is_chunked_and_answers_the_same(client, data):
    X, Q = data
    nn = DaskLSHNearestNeighbors(n_neighbors=5, **EXHAUSTIVE)
    from_numpy = da.compute(*nn.fit(X).kneighbors(Q))
    from_dask = da.compute(*nn.fit(da.from_array(X, chunks=(300, 16))).kneighbors(
        da.from_array(Q, chunks=(7, 16))))
    assert_array_equal(from_numpy[1], from_dask[1])
    assert_allclose(from_numpy[0], from_dask[0])


def test_float32_rows_give_float32_distances(client, data):
    X, Q = (a.astype(np.float32) for a in data)
    nn = DaskLSHNearestNeighbors(n_neighbors=3, **EXHAUSTIVE).fit(da.from_array(X, (500, 16)))
    assert nn.kneighbors(Q)[0].dtype == np.float32
    assert nn.kneighbors(Q.astype(np.float64))[0].dtype == np.float64


def test_kneighbors_graph_holds_the_neighbours_in_order(client, data):
    X, Q = data
    nn = DaskLSHNearestNeighbors(n_neighbors=4, **EXHAUSTIVE).fit(da.from_array(X, (500, 16)))
    graph = nn.kneighbors_graph(Q, mode="distance")
    expected = NearestNeighbors(n_neighbors=4).fit(X).kneighbors_graph(Q, mode="distance")
    assert graph.shape == (len(Q), len(X))
    assert_array_equal(graph.indices, expected.indices)
    assert_allclose(graph.data, expected.data)
    assert nn.kneighbors_graph(None).diagonal().sum() == 0


@pytest.fixture(scope="module")
def embeddings():
    """Clustered 24-d rows (12000 indexed, 200 queries): large enough for hashing to win."""
    rng = np.random.RandomState(1)
    centres = rng.normal(scale=3.0, size=(40, 24))
    X = centres[rng.randint(40, size=12_200)] + rng.normal(size=(12_200, 24))
    return X[:12_000], X[12_000:]


#: Parameters under which tuning hashes (a fixed number of tables rules exact search out).
HASHING = dict(n_neighbors=10, n_tables=6, random_state=0)


def test_one_chunk_is_one_machine(client, embeddings):
    X, Q = embeddings
    sharded = DaskLSHNearestNeighbors(**HASHING).fit(da.from_array(X, chunks=(12_000, 24)))
    local = LSHNearestNeighbors(**HASHING).fit(X)
    assert sharded.operating_point_ == local.operating_point_
    assert_array_equal(sharded.kneighbors(Q)[1].compute(), local.kneighbors(Q)[1])


@pytest.mark.parametrize("params", [dict(n_neighbors=10, random_state=0), HASHING],
                         ids=["defaults", "hashing"])
def test_recall_is_within_two_points_of_one_machine(client, embeddings, params):
    X, Q = embeddings
    sharded = DaskLSHNearestNeighbors(**params).fit(da.from_array(X, chunks=(5000, 24)))
    if params is HASHING:
        assert sharded.search_method_ == "hashing"
    found = sharded.kneighbors(Q)[0].compute()
    recall = np.mean(found_within(found, exact(X, Q, 10)[0][:, -1]))
    local = LSHNearestNeighbors(**params).fit(X)
    assert recall >= measure_recall(local, Q) - 0.02


def test_shards_share_the_sign_sketches_when_the_sample_chose_them(client):
    rng = np.random.RandomState(0)  # tight groups in random directions of 128 dimensions
    centres = rng.standard_normal((1500, 128))
    X = (centres[rng.randint(1500, size=60_100)]
         + 0.35 * rng.standard_normal((60_100, 128))).astype(np.float32)
    X, Q = X[:60_000], X[60_000:]
    sharded = DaskLSHNearestNeighbors(n_neighbors=10, metric="cosine", random_state=0).fit(
        da.from_array(X, chunks=(30_000, 128)))
    assert sharded.search_method_ == "sketch"
    found = sharded.kneighbors(Q)[0].compute()
    true = NearestNeighbors(n_neighbors=10, metric="cosine").fit(X).kneighbors(Q)[0]
    assert np.mean(found_within(found, true[:, -1])) >= 0.9


def test_answers_do_not_depend_on_the_workers(client, data):
    X, Q = data
    nn = DaskLSHNearestNeighbors(n_neighbors=5, n_tables=4, random_state=0)
    on_cluster = da.compute(*nn.fit(da.from_array(X, (400, 16))).kneighbors(Q))
    graph_on_cluster = nn.kneighbors()[1].compute()
    with dask.config.set(scheduler="synchronous"):  # one thread, no cluster
        alone = da.compute(*nn.fit(da.from_array(X, (400, 16))).kneighbors(Q))
        graph_alone = nn.kneighbors()[1].compute()
    assert_array_equal(on_cluster[1], alone[1])
    assert_array_equal(on_cluster[0], alone[0])
    assert_array_equal(graph_on_cluster, graph_alone)


def test_a_worker_lost_after_fit_loses_no_answer(data):
    X, Q = data
    cluster, client = new_cluster()
    try:
        with client.as_current():
            nn = DaskLSHNearestNeighbors(n_neighbors=5, n_tables=4, random_state=0).fit(
                da.from_array(X, (200, 16)))
            expected = da.compute(*nn.kneighbors(Q))
            shard_keys = {shard.key for shard in nn.index_.shards}
            holders = {address for key, addresses in client.who_has().items()
                       if key in shard_keys for address in addresses}
            assert len(holders) == 2  # both workers hold shards
            lost = next(w for w in cluster.workers.values() if w.address in holders)
            client.sync(lost.close)
            assert len(client.scheduler_info()["workers"]) == 1
            answer = da.compute(*nn.kneighbors(Q))
        assert_array_equal(answer[1], expected[1])
        assert_array_equal(answer[0], expected[0])
    finally:
        client.close()
        cluster.close()


# --- the estimator ----------------------------------------------------------------------

def test_to_local_is_one_machine_over_the_gathered_rows(client, data):
    X, Q = data
    nn = DaskLSHNearestNeighbors(n_neighbors=4, random_state=0, **EXHAUSTIVE).fit(
        da.from_array(X, (500, 16)))
    local = nn.to_local()
    assert type(local) is LSHNearestNeighbors
    assert local.get_params() == nn.get_params()
    assert_array_equal(local._fit_X, X)
    assert_array_equal(local.kneighbors(Q)[1], nn.kneighbors(Q)[1].compute())


def test_a_pickled_fitted_estimator_answers_the_same(client, data):
    X, Q = data
    nn = DaskLSHNearestNeighbors(n_neighbors=5, random_state=0).fit(da.from_array(X, (400, 16)))
    copy = pickle.loads(pickle.dumps(nn))
    assert_array_equal(copy.kneighbors(Q)[1].compute(), nn.kneighbors(Q)[1].compute())


def test_bad_input_raises_as_one_machine_does(client, data):
    X, Q = data
    nn = DaskLSHNearestNeighbors(n_neighbors=3).fit(da.from_array(X, (400, 16)))
    with pytest.raises(ValueError, match="X has 15 features, but DaskLSHNearestNeighbors is "
                                         "expecting 16 features"):
        nn.kneighbors(da.from_array(Q[:, 1:], (20, 15)))
    with pytest.raises(ValueError, match="X has 15 features"):
        nn.kneighbors(Q[:, 1:])
    with pytest.raises(ValueError, match="chunked by rows only"):
        nn.kneighbors(da.from_array(Q, (20, 8)))
    with pytest.raises(ValueError, match="chunked by rows only"):
        DaskLSHNearestNeighbors().fit(da.from_array(X, (400, 8)))
    with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
        nn.kneighbors(Q, n_neighbors=2000)
    with pytest.raises(InvalidParameterError, match="metric"):
        DaskLSHNearestNeighbors(metric="manhattan").fit(da.from_array(X, (400, 16)))
    for bad, message in ((np.nan, "Input X contains NaN"), (np.inf, "Input X contains inf")):
        rows = X.copy()
        rows[1000, 3] = bad  # a row the sample may well miss: the shard's check finds it
        with pytest.raises(ValueError, match=message):
            DaskLSHNearestNeighbors().fit(da.from_array(rows, (400, 16)))
        queries = Q.copy()
        queries[5, 0] = bad
        with pytest.raises(ValueError, match=message):
            nn.kneighbors(queries)
        found = nn.kneighbors(da.from_array(queries, (20, 16)))[1]  # lazy: raises when computed
        with pytest.raises(ValueError, match=message):
            found.compute()

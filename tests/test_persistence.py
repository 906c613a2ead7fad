"""An index people keep: grown with partial_fit, saved with pickle or skops."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from sklearn_lsh import (
    SKOPS_TRUSTED_TYPES,
    LSHKNeighborsClassifier,
    LSHKNeighborsRegressor,
    LSHKNeighborsTransformer,
    LSHNearestNeighbors,
)
from sklearn_lsh._lsh_index import LSHIndex, QuerySettings


def tables_by_sample_id(index):
    """Each table as (sorted keys, sample ids in key order): independent of storage order."""
    return index.sorted_keys, index.sample_ids[index.sorted_positions]


@pytest.mark.parametrize("n_cells", [1, 8])
@pytest.mark.parametrize("sparse", [False, True])
def test_partial_fit_equals_an_index_built_at_once(blobs, sparse, n_cells):
    X, Q = blobs
    A, B = X[:2000], X[2000:]
    if sparse:
        A, B, Q, X = (sp.csr_matrix(np.maximum(M, 0)) for M in (A, B, Q, X))
    grown = LSHNearestNeighbors(n_cells=n_cells, random_state=0).fit(A).partial_fit(B)
    assert grown.n_samples_fit_ == 3000
    # Built from scratch over all rows, with the hash functions fitted on A held fixed.
    at_once = LSHIndex.from_hash_functions(X, grown.index_.space, grown.index_.functions)
    for grown_part, at_once_part in zip(tables_by_sample_id(grown.index_),
                                        tables_by_sample_id(at_once)):
        assert_array_equal(grown_part, at_once_part)
    settings = QuerySettings(n_probes=8, n_cell_probes=2, n_candidates=50)
    assert_array_equal(grown.index_.kneighbors(Q, 5, settings)[1],
                       at_once.kneighbors(Q, 5, settings)[1])
    assert_array_equal(grown.index_.candidates(Q, settings), at_once.candidates(Q, settings))


def test_two_partial_fits_equal_one_on_both_batches(blobs):
    X, Q = blobs
    first = LSHNearestNeighbors(random_state=0).fit(X[:2000])  # 3000 rows: no refit
    twice = clone_fitted(first).partial_fit(X[2000:2400]).partial_fit(X[2400:])
    once = clone_fitted(first).partial_fit(X[2000:])
    for part_twice, part_once in zip(tables_by_sample_id(twice.index_),
                                     tables_by_sample_id(once.index_)):
        assert_array_equal(part_twice, part_once)
    assert_array_equal(twice.kneighbors(Q)[1], once.kneighbors(Q)[1])


def test_partial_fit_with_zero_rows_changes_nothing(blobs):
    X, Q = blobs
    nn = LSHNearestNeighbors(random_state=0).fit(X)
    index = nn.index_
    assert nn.partial_fit(X[:0]).index_ is index


def clone_fitted(model):
    return pickle.loads(pickle.dumps(model))


def test_partial_fit_keeps_recall(blobs):
    from sklearn.neighbors import NearestNeighbors

    X, Q = blobs
    grown = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X[:1500])
    for start in range(1500, 3000, 500):
        grown.partial_fit(X[start:start + 500])
    exact = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(Q)[1]
    found = grown.kneighbors(Q)[1]
    recall = np.mean([len(np.intersect1d(f, e)) / 10 for f, e in zip(found, exact)])
    assert recall >= 0.9


def test_first_partial_fit_is_fit(blobs):
    X, Q = blobs
    a = LSHNearestNeighbors(random_state=0).partial_fit(X)
    b = LSHNearestNeighbors(random_state=0).fit(X)
    assert_array_equal(a.kneighbors(Q)[1], b.kneighbors(Q)[1])


@pytest.mark.parametrize("bad", [
    np.zeros((3, 7)),                      # wrong width
    np.full((3, 32), np.nan),              # NaN
    np.full((3, 32), np.inf),              # inf
    np.array([["a"] * 32] * 3),            # cannot be cast
])
def test_failed_partial_fit_leaves_the_index_unchanged(blobs, bad):
    X, Q = blobs
    nn = LSHNearestNeighbors(random_state=0).fit(X)
    before = nn.kneighbors(Q)
    keys_before = nn.index_.sorted_keys.copy()
    with pytest.raises(ValueError):
        nn.partial_fit(bad)
    assert nn.n_samples_fit_ == len(X)
    assert_array_equal(nn.index_.sorted_keys, keys_before)
    after = nn.kneighbors(Q)
    assert_array_equal(before[1], after[1])
    assert_array_equal(before[0], after[0])


def test_transformer_partial_fit_grows_its_output_width(blobs):
    X, _ = blobs
    t = LSHKNeighborsTransformer(random_state=0).fit(X[:1000]).partial_fit(X[1000:1200])
    assert t.transform(X[:5]).shape == (5, 1200)
    assert len(t.get_feature_names_out()) == 1200


def fitted_estimators(X, y):
    return [LSHNearestNeighbors(random_state=0).fit(X),
            LSHKNeighborsClassifier(random_state=0).fit(X, y),
            LSHKNeighborsRegressor(random_state=0).fit(X, y.astype(float)),
            LSHKNeighborsTransformer(random_state=0).fit(X)]


def test_pickle_size_is_about_the_index_and_the_data(digits):
    X, _ = digits
    nn = LSHNearestNeighbors(random_state=0).fit(X)
    state = X.nbytes + nn.index_.nbytes
    assert len(pickle.dumps(nn)) < 1.05 * state + 10_000


def test_skops_loads_with_the_package_types_trusted(tmp_path, digits):
    skops_io = pytest.importorskip("skops.io")
    X, Q = digits
    y = np.arange(len(X)) % 3
    for model in fitted_estimators(X, y):
        path = tmp_path / f"{type(model).__name__}.skops"
        skops_io.dump(model, path)
        untrusted = skops_io.get_untrusted_types(file=path)
        assert f"{type(model).__module__}.{type(model).__name__}" in untrusted
        assert set(untrusted) <= set(SKOPS_TRUSTED_TYPES)
        loaded = skops_io.load(path, trusted=SKOPS_TRUSTED_TYPES)
        assert_array_equal(loaded.kneighbors(Q)[1], model.kneighbors(Q)[1])


class Payload:
    """A type that is not ours: a file holding it must not load as trusted."""


def test_skops_refuses_a_file_with_a_type_we_do_not_own(tmp_path, digits):
    skops_io = pytest.importorskip("skops.io")
    X, _ = digits
    model = LSHNearestNeighbors(random_state=0).fit(X)
    model.index_.space.__dict__["extra"] = Payload()  # a tampered file
    path = tmp_path / "tampered.skops"
    skops_io.dump(model, path)
    with pytest.raises(skops_io.exceptions.UntrustedTypesFoundException):
        skops_io.load(path, trusted=SKOPS_TRUSTED_TYPES)

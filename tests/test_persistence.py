"""An index people keep: grown with partial_fit, saved with pickle or skops."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from sklearn_lsh import (
    LSHKNeighborsClassifier,
    LSHKNeighborsRegressor,
    LSHKNeighborsTransformer,
    LSHNearestNeighbors,
)
from sklearn_lsh._build import index_keys, project_rows
from sklearn_lsh._cells import nearest_cells
from sklearn_lsh._index import build_tables


def rebuilt_at_once(model, X_all):
    """The tables ``fit`` would build over ``X_all`` with ``model``'s hash functions
    (cells and hyperplanes), with ``order`` as storage positions of ``model``."""
    index = model.index_
    projected = project_rows(index, X_all, model.effective_metric_)
    cells = nearest_cells(projected, index["centroids"], 1)[:, 0]
    sorted_keys, order = build_tables(index_keys(index, projected, cells, model.n_tables))
    return sorted_keys, index["positions"][order]


@pytest.mark.parametrize("n_cells", [1, 8])
@pytest.mark.parametrize("sparse", [False, True])
def test_partial_fit_equals_an_index_built_at_once(blobs, sparse, n_cells):
    X, Q = blobs
    A, B = X[:2000], X[2000:]
    if sparse:
        A, B, Q, X = (sp.csr_matrix(np.maximum(M, 0)) for M in (A, B, Q, X))
    grown = LSHNearestNeighbors(n_cells=n_cells, random_state=0).fit(A).partial_fit(B)
    assert grown.n_samples_fit_ == 3000
    sorted_keys, order = rebuilt_at_once(grown, X)
    assert_array_equal(grown.index_["sorted_keys"], sorted_keys)
    assert_array_equal(grown.index_["order"], order)
    assert_array_equal(grown.index_["sample_ids"][grown.index_["positions"]], np.arange(3000))

    at_once = LSHNearestNeighbors(n_cells=n_cells, random_state=0).fit(A)
    at_once.partial_fit(B[:0] if not sparse else B[:0])  # zero rows: a no-op
    assert at_once.n_samples_fit_ == 2000
    at_once._fit_X = X
    at_once.n_samples_fit_ = 3000
    at_once.index_ = dict(grown.index_, sorted_keys=sorted_keys, order=order)
    assert_array_equal(grown.kneighbors(Q)[1], at_once.kneighbors(Q)[1])


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
    keys_before = nn.index_["sorted_keys"].copy()
    with pytest.raises(ValueError):
        nn.partial_fit(bad)
    assert nn.n_samples_fit_ == len(X)
    assert_array_equal(nn.index_["sorted_keys"], keys_before)
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
    state = X.nbytes + sum(a.nbytes for a in nn.index_.values())
    assert len(pickle.dumps(nn)) < 1.05 * state + 10_000


def test_skops_round_trip_trusts_only_our_classes(tmp_path, digits):
    skops_io = pytest.importorskip("skops.io")
    X, Q = digits
    y = np.arange(len(X)) % 3
    for model in fitted_estimators(X, y):
        path = tmp_path / f"{type(model).__name__}.skops"
        skops_io.dump(model, path)
        untrusted = skops_io.get_untrusted_types(file=path)
        assert untrusted == [f"sklearn_lsh.{model.__module__.split('.')[-1]}."
                             f"{type(model).__name__}"]
        loaded = skops_io.load(path, trusted=untrusted)
        assert_array_equal(loaded.kneighbors(Q)[1], model.kneighbors(Q)[1])

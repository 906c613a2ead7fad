"""LSHKNeighborsTransformer follows KNeighborsTransformer's conventions exactly."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.neighbors import KNeighborsTransformer, sort_graph_by_row_values

from sklearn_lsh import LSHKNeighborsTransformer


def test_distance_mode_holds_n_neighbors_plus_one_sorted_entries(digits):
    X, Q = digits
    t = LSHKNeighborsTransformer(n_neighbors=5, random_state=0)
    graph = t.fit_transform(X)
    assert graph.format == "csr" and graph.shape == (len(X), len(X))
    assert_array_equal(np.diff(graph.indptr), 6)
    rows = graph.data.reshape(-1, 6)
    assert np.all(np.diff(rows, axis=1) >= 0)
    # each training sample is its own first neighbor, stored as an explicit 0.0
    assert_array_equal(graph.indices.reshape(-1, 6)[:, 0], np.arange(len(X)))
    assert_array_equal(rows[:, 0], 0.0)
    sorted_graph = sort_graph_by_row_values(graph.copy(), copy=True)
    assert_array_equal(sorted_graph.indices, graph.indices)
    assert t.transform(Q).shape == (len(Q), len(X))


def test_connectivity_mode_holds_n_neighbors_ones(digits):
    X, _ = digits
    graph = LSHKNeighborsTransformer(mode="connectivity", n_neighbors=4,
                                     random_state=0).fit_transform(X)
    assert_array_equal(np.diff(graph.indptr), 4)
    assert_array_equal(graph.data, 1.0)


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
def test_exhaustive_search_equals_sklearn_transformer(digits, mode):
    X, Q = digits
    jitter = np.random.RandomState(0).uniform(0, 1e-3, size=(400, X.shape[1]))
    X = X[:400] + jitter  # no tied distances: tie-breaking conventions do not matter
    lsh = LSHKNeighborsTransformer(mode=mode, n_hyperplanes=1, n_tables=1, n_probes=1,
                                   n_candidates=400, random_state=0).fit(X)
    exact = KNeighborsTransformer(mode=mode).fit(X)
    for data in (X, Q):
        a, b = lsh.transform(data), exact.transform(data)
        # sklearn's expanded-form self-distances are ~1e-6 where ours are exactly 0
        assert_allclose(a.toarray(), b.toarray(), atol=1e-5)


def test_feature_names_out_and_pandas_output_match_sklearn(digits):
    X, _ = digits
    t = LSHKNeighborsTransformer(random_state=0).fit(X[:50])
    assert_array_equal(t.get_feature_names_out(),
                       [f"lshkneighborstransformer{i}" for i in range(50)])
    # A sparse graph has no pandas form: both transformers say so the same way.
    for transformer in (LSHKNeighborsTransformer(random_state=0), KNeighborsTransformer()):
        transformer.set_output(transform="pandas")
        with pytest.raises(ValueError, match="sparse"):
            transformer.fit_transform(X[:50])

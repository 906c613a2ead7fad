"""The hash space and the hash family on their own: principal axes, keys, probe sequences."""

import numpy as np
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_lsh._hashing import draw_hyperplanes, hash_keys, probe_keys
from sklearn_lsh._projection import fit_principal_axes, prepare_rows, project


def test_principal_axes_match_an_exact_svd_of_the_centred_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(500, 20)) * np.linspace(10, 1, 20)
    mean, axes, scales = fit_principal_axes(X, 5, np.random.RandomState(1))
    _, s, vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    assert_allclose(mean, X.mean(axis=0))
    assert_allclose(np.abs(axes.T @ vt[:5].T), np.eye(5), atol=1e-6)
    assert_allclose(scales, s[:5] / np.sqrt(499), rtol=1e-6)


def test_principal_axes_of_csr_equal_those_of_the_dense_array():
    X = sp.random(300, 40, density=0.2, random_state=0, format="csr")
    dense = fit_principal_axes(X.toarray(), 6, np.random.RandomState(0))
    sparse = fit_principal_axes(X, 6, np.random.RandomState(0))
    for a, b in zip(dense, sparse):
        assert_allclose(a, b, atol=1e-10)


def test_projection_never_lengthens_a_distance():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 30))
    mean, axes, _ = fit_principal_axes(X, 8, rng)
    P = project(X, mean, axes)
    true = np.linalg.norm(X[:100] - X[100:], axis=1)
    projected = np.linalg.norm(P[:100] - P[100:], axis=1)
    assert np.all(projected <= true * (1 + 1e-5))


def test_keys_pack_sign_bits_least_significant_first():
    margins = np.array([[1.0, -1.0, 1.0, -2.0, 3.0, 0.5]])  # 2 tables of 3 bits
    keys = hash_keys(margins, n_tables=2, n_bits=3)
    assert keys.dtype == np.uint64 and keys.shape == (2, 1)
    assert_array_equal(keys[:, 0], [0b101, 0b110])


def test_keys_hold_64_bits():
    margins = np.ones((1, 64))
    margins[0, 63] = -1
    assert hash_keys(margins, 1, 64)[0, 0] == np.uint64(2**63 - 1)


def test_probes_flip_the_lowest_margin_bits_first():
    margins = np.array([[0.1, -3.0, 0.2, 5.0]])  # one table, 4 bits, key 0b1101
    keys = hash_keys(margins, 1, 4)
    probes = probe_keys(keys, margins, 1, 4, n_probes=3)
    # own key, flip bit 0 (0.01), flip bit 2 (0.04), flip bits 0 and 2 (0.05)
    assert_array_equal(probes[0, 0], [0b1101, 0b1100, 0b1001, 0b1000])


def test_zero_probes_is_the_query_bucket_alone():
    margins = np.random.RandomState(0).normal(size=(7, 2 * 5))
    keys = hash_keys(margins, 2, 5)
    assert_array_equal(probe_keys(keys, margins, 2, 5, 0)[:, :, 0], keys)


def test_probes_are_distinct_buckets():
    margins = np.random.RandomState(0).normal(size=(50, 3 * 12))
    keys = hash_keys(margins, 3, 12)
    probes = probe_keys(keys, margins, 3, 12, n_probes=40)
    assert probes.shape == (3, 50, 41)
    for table in probes:
        assert all(len(set(row)) == 41 for row in table.tolist())


def test_hyperplanes_are_whitened_and_reproducible():
    scales = np.array([4.0, 1.0, 0.0])
    a = draw_hyperplanes(scales, 2, 3, np.random.RandomState(0))
    b = draw_hyperplanes(scales, 2, 3, np.random.RandomState(0))
    assert a.shape == (3, 6) and a.dtype == np.float32
    assert_array_equal(a, b)
    raw = np.random.RandomState(0).standard_normal((3, 6))
    assert_allclose(a, raw / np.array([[2.0], [1.0], [1.0]]), rtol=1e-6)  # sqrt(4) = 2


def test_cosine_rows_are_normalised_without_touching_the_input():
    X = np.array([[3.0, 4.0], [0.0, 0.0]])
    before = X.copy()
    assert_allclose(prepare_rows(X, "cosine"), [[0.6, 0.8], [0.0, 0.0]])
    assert_array_equal(X, before)
    assert prepare_rows(X, "euclidean") is X


def test_noise_axes_are_dropped_from_the_hash_space():
    from sklearn_lsh import LSHNearestNeighbors

    rng = np.random.RandomState(0)
    signal = rng.normal(size=(2000, 5)) @ rng.normal(size=(5, 40))  # rank 5
    X = signal + 1e-4 * rng.normal(size=(2000, 40))
    space = LSHNearestNeighbors(random_state=0).fit(X).index_.space
    assert space.axes.shape == (40, 5)
    full_rank = rng.normal(size=(2000, 40))
    assert LSHNearestNeighbors(random_state=0).fit(full_rank).index_.space.n_components == 40


def test_informative_components_count_the_explained_variance():
    from sklearn_lsh._projection import informative_components, total_variance

    scales = np.sqrt(np.array([50.0, 30.0, 15.0, 4.0, 1.0]))
    assert informative_components(scales, 100.0, 0.95) == 3
    assert informative_components(scales, 100.0, 0.999) == 5
    assert informative_components(scales, 1000.0, 0.999) == 5  # never more than computed
    X = np.random.RandomState(0).normal(size=(300, 7)) * np.arange(1, 8)
    assert np.isclose(total_variance(X), X.var(axis=0, ddof=1).sum())
    assert np.isclose(total_variance(sp.csr_matrix(X)), X.var(axis=0, ddof=1).sum())

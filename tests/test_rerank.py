"""Ranking on its own: projected lower bounds, shortlists, exact distances, top-k."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics.pairwise import pairwise_distances

from sklearn_lsh._projection import data_scale
from sklearn_lsh._rerank import (
    candidate_distances,
    merge_reverse_pairs,
    pair_distances,
    projected_sq_distances,
    shortlist,
    top_k,
)


def test_projected_distances_are_squared_euclidean_with_inf_for_empty_slots():
    rng = np.random.RandomState(0)
    samples = rng.normal(size=(10, 4)).astype(np.float32)
    queries = rng.normal(size=(2, 4)).astype(np.float32)
    candidates = np.array([[3, 7, -1], [0, -1, -1]])
    sq = projected_sq_distances(queries, samples, (samples**2).sum(axis=1), candidates)
    assert_allclose(sq[0, :2], ((samples[[3, 7]] - queries[0]) ** 2).sum(axis=1), rtol=1e-5)
    assert np.isinf(sq[0, 2]) and np.isinf(sq[1, 1:]).all()


def test_shortlist_keeps_the_closest_and_breaks_ties_by_index():
    candidates = np.array([[9, 4, 6, 2, -1]])
    sq = np.array([[1.0, 0.5, 0.5, 3.0, np.inf]], dtype=np.float32)
    assert_array_equal(np.sort(shortlist(candidates, sq, 2)), [[4, 6]])
    tied = np.array([[0.5, 0.5, 0.5, 3.0, np.inf]], dtype=np.float32)
    assert_array_equal(np.sort(shortlist(candidates, tied, 2)), [[4, 6]])


def test_shortlist_excludes_the_query_itself_and_pads_with_minus_one():
    candidates = np.array([[1, 2, 3], [0, 2, -1]])
    sq = np.zeros((2, 3), dtype=np.float32)
    kept = shortlist(candidates, sq, 5, exclude=np.array([2, 0]))
    assert_array_equal(np.sort(kept, axis=1), [[-1, 1, 3], [-1, -1, 2]])


def test_pair_distances_equal_scikit_learn_for_dense_and_csr():
    rng = np.random.RandomState(0)
    samples = rng.normal(size=(30, 6))
    samples[4] = 0
    queries = rng.normal(size=(5, 6))
    query_of = np.repeat(np.arange(5), 30)
    candidates = np.tile(np.arange(30), 5)
    for metric in ["euclidean", "cosine"]:
        expected = pairwise_distances(queries, samples, metric=metric).ravel()
        dense = pair_distances(queries, samples, query_of, candidates, metric)
        csr = pair_distances(sp.csr_matrix(queries), sp.csr_matrix(samples), query_of,
                             candidates, metric)
        assert_allclose(dense, expected, atol=1e-12)
        assert_allclose(csr, expected, atol=1e-7)


def test_top_k_sorts_by_distance_then_index_and_skips_empty_slots():
    indices = np.array([[5, 2, -1, 7]])
    distances = np.array([[1.0, 1.0, np.inf, 0.5]])
    d, i = top_k(indices, distances, 3)
    assert_array_equal(i, [[7, 2, 5]])
    assert_array_equal(d, [[0.5, 1.0, 1.0]])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("magnitude", [1e-30, 1e30, 1e36])
@pytest.mark.parametrize("sparse", [False, True])
def test_pair_distances_stay_finite_and_exact_for_float32_far_from_one(metric, magnitude,
                                                                       sparse):
    # Squares of 1e30 overflow float32 and squares of 1e-30 underflow it; the
    # distances themselves fit, and must come out finite and right.
    rng = np.random.RandomState(0)
    samples = (rng.normal(size=(20, 5)) * magnitude).astype(np.float32)
    queries = (rng.normal(size=(3, 5)) * magnitude).astype(np.float32)
    query_of, candidates = np.repeat(np.arange(3), 20), np.tile(np.arange(20), 3)
    # Reference in float64 on rescaled data (scikit-learn's cosine takes norms
    # below 1e-15 for zero, which would make every tiny vector orthogonal).
    expected = pairwise_distances(queries / np.float64(magnitude),
                                  samples / np.float64(magnitude), metric=metric).ravel()
    if metric == "euclidean":
        expected *= magnitude
    if sparse:
        queries, samples = sp.csr_matrix(queries), sp.csr_matrix(samples)
    for scale in [1.0, data_scale(samples)]:
        found = pair_distances(queries, samples, query_of, candidates, metric, scale)
        assert found.dtype == np.float32
        assert np.isfinite(found).all()
        assert_allclose(found, expected, rtol=1e-4, atol=1e-6 if metric == "cosine" else 0)


def test_pair_distances_beyond_float32_are_inf_not_nan():
    samples = np.array([[3e38, 0.0]], dtype=np.float32)
    queries = np.array([[-3e38, 0.0]], dtype=np.float32)
    found = pair_distances(queries, samples, np.array([0]), np.array([0]), "euclidean",
                           data_scale(samples))
    assert_array_equal(found, [np.inf])


def test_a_row_found_by_another_row_becomes_its_neighbour():
    # row 0 found only row 2 (far); row 1 found row 0 (near): 0 gets 1, at no new distance
    distances = np.array([[5.0, np.inf], [1.0, 4.0], [4.0, 5.0]])
    indices = np.array([[2, -1], [0, 2], [1, 0]])
    merged_distances, merged_indices = merge_reverse_pairs(distances, indices)
    assert_array_equal(merged_indices, [[1, 2], [0, 2], [1, 0]])
    assert_array_equal(merged_distances, [[1.0, 5.0], [1.0, 4.0], [4.0, 5.0]])


def test_merged_lists_are_the_best_distinct_pairs_found_from_either_end():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    full = pairwise_distances(X)
    np.fill_diagonal(full, np.inf)
    k = 4
    # each row "found" a random handful of rows, and kept its k best of them
    indices = np.array([np.sort(rng.choice(np.delete(np.arange(60), i), 8, replace=False))
                        for i in range(60)])
    found_distances = np.take_along_axis(full, indices, axis=1)
    distances, indices = top_k(indices, found_distances, k)
    merged_distances, merged_indices = merge_reverse_pairs(distances, indices)
    for i in range(60):
        pool = set(indices[i]) | {j for j in range(60) if i in indices[j]}
        best = sorted(pool, key=lambda j: (full[i, j], j))[:k]
        assert_array_equal(merged_indices[i], best)
        assert_allclose(merged_distances[i], full[i, best])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_copies_of_a_row_are_at_equal_distances_wherever_they_stand(metric):
    rng = np.random.default_rng(0)
    for _ in range(10):
        X = np.repeat(rng.standard_normal((1, 50)).astype(np.float32), 64, axis=0)
        queries = rng.standard_normal((3, 50)).astype(np.float32)
        for width in range(3, 65):
            candidates = np.tile(np.arange(64)[::-1][:width], (3, 1))
            distances = candidate_distances(queries, X, candidates, metric)
            assert (distances == distances[:, :1]).all()
            _, best = top_k(candidates, distances, 3)  # ties by index
            assert_array_equal(best, np.tile(np.sort(candidates[0])[:3], (3, 1)))

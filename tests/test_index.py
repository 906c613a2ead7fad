"""Sorted-key tables on their own: build, lookup, candidates, merge."""

import numpy as np
from numpy.testing import assert_array_equal

from sklearn_lsh._index import (
    bucket_bounds,
    bucket_directory,
    build_tables,
    gather_candidates,
    merge_tables,
    split_by_budget,
)


def test_tables_sort_keys_and_keep_sample_order_within_a_bucket():
    keys = np.array([[5, 1, 5, 3, 1]], dtype=np.uint64)
    sorted_keys, order = build_tables(keys)
    assert_array_equal(sorted_keys, [[1, 1, 3, 5, 5]])
    assert_array_equal(order, [[1, 4, 3, 0, 2]])


def test_bucket_bounds_find_every_sample_with_the_key():
    rng = np.random.RandomState(0)
    keys = rng.randint(0, 8, size=(3, 100)).astype(np.uint64)
    sorted_keys, order = build_tables(keys)
    probes = rng.randint(0, 10, size=(3, 20, 2)).astype(np.uint64)
    lo, hi = bucket_bounds(bucket_directory(sorted_keys), probes)
    assert lo.shape == (20, 3, 2)
    for q in range(20):
        for t in range(3):
            for p in range(2):
                members = order[t, lo[q, t, p]:hi[q, t, p]]
                assert_array_equal(np.sort(members),
                                   np.flatnonzero(keys[t] == probes[t, q, p]))


def test_bucket_directory_lists_each_tables_distinct_keys_and_bucket_starts():
    sorted_keys = np.array([[1, 1, 3, 5, 5], [2, 2, 2, 2, 9]], dtype=np.uint64)
    keys, starts, offsets = bucket_directory(sorted_keys)
    assert_array_equal(offsets, [0, 3, 5])
    assert_array_equal(keys, [1, 3, 5, 2, 9])
    assert_array_equal(starts, [0, 2, 3, 5, 0, 4, 5])


def test_keys_outside_every_bucket_give_empty_bounds():
    sorted_keys, _ = build_tables(np.array([[4, 8, 8]], dtype=np.uint64))
    probes = np.array([[[0, 4, 5, 8, 9, 2**64 - 1]]], dtype=np.uint64)
    lo, hi = bucket_bounds(bucket_directory(sorted_keys), probes)
    assert_array_equal(hi - lo, [[[0, 1, 0, 2, 0, 0]]])
    assert_array_equal(lo, [[[0, 0, 1, 1, 3, 3]]])


def test_candidates_are_the_distinct_union_of_probed_buckets():
    rng = np.random.RandomState(1)
    keys = rng.randint(0, 6, size=(4, 60)).astype(np.uint64)
    sorted_keys, order = build_tables(keys)
    probes = rng.randint(0, 6, size=(4, 15, 2)).astype(np.uint64)
    lo, hi = bucket_bounds(bucket_directory(sorted_keys), probes)
    candidates = gather_candidates(order, lo, hi)
    for q in range(15):
        expected = np.flatnonzero((keys[:, None, :] == probes[:, q, :, None]).any(axis=(0, 1)))
        row = candidates[q]
        assert_array_equal(row[row >= 0], expected)
        assert np.all(row[len(expected):] == -1)


def test_a_query_with_no_candidates_gets_an_empty_row():
    sorted_keys, order = build_tables(np.array([[1, 2]], dtype=np.uint64))
    lo, hi = bucket_bounds(bucket_directory(sorted_keys), np.array([[[7]]], dtype=np.uint64))
    assert gather_candidates(order, lo, hi).shape == (1, 0)


def test_merging_equals_building_over_all_samples():
    rng = np.random.RandomState(0)
    old = rng.randint(0, 20, size=(3, 500)).astype(np.uint64)
    new = rng.randint(0, 20, size=(3, 37)).astype(np.uint64)
    merged = merge_tables(*build_tables(old), new)
    rebuilt = build_tables(np.hstack([old, new]))
    assert_array_equal(merged[0], rebuilt[0])
    assert_array_equal(merged[1], rebuilt[1])


def test_budget_batches_cover_every_query_once():
    counts = np.array([5, 1, 100, 2, 2, 2, 0, 50])
    batches = split_by_budget(counts, max_entries=60)
    covered = np.concatenate([np.arange(len(counts))[b] for b in batches])
    assert_array_equal(covered, np.arange(len(counts)))
    for b in batches:
        rows = counts[b]
        assert len(rows) == 1 or len(rows) * rows.max() <= 60

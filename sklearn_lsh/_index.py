"""Hash tables stored as sorted key arrays, looked up with ``np.searchsorted``.

A table is a pair ``(sorted_keys, members)``: ``sorted_keys[t]`` holds table
``t``'s keys in ascending order and ``members[t]`` the rows that carry them, as
row numbers of the ``keys`` the table was built from (the fitted index numbers
its rows by storage position, see :class:`sklearn_lsh._lsh_index.LSHIndex`).
The rows in a bucket ``key`` are ``members[t, lo:hi]`` with
``lo, hi = searchsorted(sorted_keys[t], key, left/right)``; queries find the
same bounds with one ``searchsorted`` among the table's distinct keys
(:func:`bucket_directory`), a much shorter sorted array.
Nothing here knows about scikit-learn estimators.
"""

import numpy as np


def index_dtype(n_samples):
    """Smallest signed integer type that numbers ``n_samples`` rows."""
    return np.int32 if n_samples < 2**31 else np.int64


def build_tables(keys):
    """Sort each table's keys.

    Parameters
    ----------
    keys : ndarray of shape (n_tables, n_rows), uint64
        Column ``j`` holds row ``j``'s keys.

    Returns
    -------
    sorted_keys : ndarray of shape (n_tables, n_rows), uint64
    members : ndarray of shape (n_tables, n_rows), int32 or int64
        Row numbers in key order; equal keys keep ascending row number.
    """
    members = np.argsort(keys, axis=1, kind="stable").astype(index_dtype(keys.shape[1]))
    sorted_keys = np.take_along_axis(keys, members, axis=1)
    return sorted_keys, members


def merge_tables(sorted_keys, members, new_keys):
    """Insert new rows into sorted tables without re-sorting the old ones.

    The new rows get the numbers ``n_old, n_old + 1, ...``. Each new key is
    placed after every equal old key, so when ``members`` came from
    :func:`build_tables`, the result equals
    ``build_tables(np.hstack([old_keys, new_keys]))``.

    Parameters
    ----------
    sorted_keys, members : ndarray of shape (n_tables, n_old)
    new_keys : ndarray of shape (n_tables, n_new), uint64

    Returns
    -------
    sorted_keys, members : ndarray of shape (n_tables, n_old + n_new)
    """
    n_tables, n_old = sorted_keys.shape
    n_new = new_keys.shape[1]
    new_sorted, new_members = build_tables(new_keys)
    merged_keys = np.empty((n_tables, n_old + n_new), dtype=sorted_keys.dtype)
    merged_members = np.empty((n_tables, n_old + n_new), dtype=index_dtype(n_old + n_new))
    is_new = np.empty(n_old + n_new, dtype=bool)
    for t in range(n_tables):  # one vectorised merge per table, never per sample
        # The i-th new key (in sorted order) lands after the `at[i]` old keys
        # not greater than it and after the i new keys before it.
        at = np.searchsorted(sorted_keys[t], new_sorted[t], side="right")
        new_slots = at + np.arange(n_new)
        is_new[:] = False
        is_new[new_slots] = True
        merged_keys[t, new_slots] = new_sorted[t]
        merged_keys[t, ~is_new] = sorted_keys[t]
        merged_members[t, new_slots] = new_members[t] + n_old
        merged_members[t, ~is_new] = members[t]
    return merged_keys, merged_members


def bucket_directory(sorted_keys):
    """Each table's distinct keys, and where each of their buckets starts.

    A query looks its key up among the distinct keys (far fewer than the
    samples, so the binary search stays in cache) instead of searching the
    full sorted array twice.

    Parameters
    ----------
    sorted_keys : ndarray of shape (n_tables, n_samples), uint64

    Returns
    -------
    keys : ndarray of shape (n_buckets,), uint64
        Table ``t``'s distinct keys, ascending, are ``keys[offsets[t]:offsets[t + 1]]``.
    starts : ndarray of shape (n_buckets + n_tables,)
        Table ``t``'s bucket starts are ``starts[offsets[t] + t:offsets[t + 1] + t + 1]``:
        one per distinct key, then ``n_samples``.
    offsets : ndarray of shape (n_tables + 1,), int64
    """
    n_tables, n_samples = sorted_keys.shape
    new_bucket = np.ones(sorted_keys.shape, dtype=bool)
    new_bucket[:, 1:] = sorted_keys[:, 1:] != sorted_keys[:, :-1]
    table, start = np.nonzero(new_bucket)
    counts = np.bincount(table, minlength=n_tables)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    # Each table's starts, followed by its end (n_samples).
    starts = np.insert(start, offsets[1:], n_samples).astype(index_dtype(n_samples + 1))
    return sorted_keys[table, start], starts, offsets


def row_bucket_size(bucket_starts):
    """Size of the bucket a random row falls in, averaged over the tables.

    ``sum(size**2) / sum(size)`` over every bucket of every table: what a query
    drawn like the rows gathers per table it visits.

    Parameters
    ----------
    bucket_starts : ndarray
        ``starts`` from :func:`bucket_directory`.

    Returns
    -------
    float
    """
    sizes = np.diff(bucket_starts).astype(np.float64)
    sizes = sizes[sizes > 0]  # drops the steps back to 0 between tables
    return float(np.sum(sizes**2) / max(np.sum(sizes), 1.0))


def bucket_bounds(directory, probe_keys, n_dropped_bits=0):
    """``[lo, hi)`` positions of every probed bucket in the sorted tables.

    Parameters
    ----------
    directory : tuple of ndarray
        ``(keys, starts, offsets)`` from :func:`bucket_directory`.
    probe_keys : ndarray of shape (n_tables, n_queries, n_probe_keys), uint64
    n_dropped_bits : int
        Lowest key bits to ignore: the bucket of a key is then every sorted key
        that agrees with it on the other bits, one contiguous range (keys sort
        by their high bits first).

    Returns
    -------
    lo, hi : ndarray of shape (n_queries, n_tables, n_probe_keys), int64
        ``lo == hi`` for a key no sample has.
    """
    keys, starts, offsets = directory
    n_tables, n_queries, n_keys = probe_keys.shape
    lo = np.empty((n_tables, n_queries * n_keys), dtype=np.int64)
    hi = np.empty_like(lo)
    for t in range(n_tables):  # one vectorised search per table, never per query
        table_keys = keys[offsets[t]:offsets[t + 1]]
        table_starts = starts[offsets[t] + t:offsets[t + 1] + t + 1]
        flat = probe_keys[t].ravel()
        if n_dropped_bits:
            low_bits = np.uint64(2**n_dropped_bits - 1)
            first = np.searchsorted(table_keys, flat & ~low_bits, side="left")
            last = np.searchsorted(table_keys, flat | low_bits, side="right")
            lo[t], hi[t] = table_starts[first], table_starts[last]
            continue
        bucket = np.searchsorted(table_keys, flat)
        found = table_keys[np.minimum(bucket, table_keys.shape[0] - 1)] == flat
        lo[t] = table_starts[bucket]
        hi[t] = np.where(found, table_starts[np.minimum(bucket + 1, table_keys.shape[0])],
                         lo[t])
    shape = (n_tables, n_queries, n_keys)
    return (
        lo.reshape(shape).transpose(1, 0, 2),
        hi.reshape(shape).transpose(1, 0, 2),
    )


def gather_candidates(members, lo, hi, packed=True):
    """Distinct rows in each query's probed buckets, one padded row per query.

    Parameters
    ----------
    members : ndarray of shape (n_tables, n_rows)
        From :func:`build_tables`.
    lo, hi : ndarray of shape (n_queries, n_tables, n_probe_keys)
    packed : bool
        Pack each row's distinct rows first (one more row-wise sort); without
        it, repeats are blanked with ``-1`` where they stand.

    Returns
    -------
    ndarray of shape (n_queries, width), same dtype as ``members``
        Packed: row ``i`` holds query ``i``'s candidates in ascending order,
        then ``-1`` up to ``width`` (the most distinct candidates of a query).
        Unpacked: the same candidates in ascending order with ``-1`` between
        them, ``width`` the most rows a query gathered.
    """
    n_queries = lo.shape[0]
    lengths = (hi - lo).ravel()
    counts = lengths.reshape(n_queries, -1).sum(axis=1)
    width = int(counts.max(initial=0))
    # Bucket r's rows are members.ravel()[base[r]:base[r] + lengths[r]]; they go to
    # padded.ravel()[target[r]:target[r] + lengths[r]] (its query's row, after the
    # buckets before it).
    base = (lo + (np.arange(lo.shape[1]) * members.shape[1])[None, :, None]).ravel()
    ends = np.cumsum(lengths)
    query_starts = np.arange(n_queries) * width - (np.cumsum(counts) - counts)
    target_shift = np.repeat(query_starts, lengths.size // max(n_queries, 1))
    flat = np.arange(int(ends[-1]) if ends.size else 0, dtype=np.int64)
    source = flat + np.repeat(base - (ends - lengths), lengths)
    flat += np.repeat(target_shift, lengths)

    empty = np.iinfo(members.dtype).max  # sorts after every row number
    padded = np.full((n_queries, width), empty, dtype=members.dtype)
    padded.ravel()[flat] = members.ravel()[source]
    # Row-wise sorts are cheap (SIMD) and de-duplicate without hashing: sort,
    # blank the repeats (and, packed, sort again to put each row's distinct values first).
    padded.sort(axis=1)
    padded[:, 1:][padded[:, 1:] == padded[:, :-1]] = empty
    if packed:
        padded.sort(axis=1)
        padded = padded[:, :int((padded != empty).sum(axis=1).max(initial=0))]
    padded[padded == empty] = -1
    return padded


def cap_bucket_ranges(lo, hi, budget):
    """Shorten the largest probed buckets so no query gathers more than ``budget`` rows.

    Each query gets its own cap ``c`` (water-filling): buckets of at most ``c``
    rows are kept whole, larger ones keep the first ``c`` rows the table lists
    for them (in the fitted index, their lowest sample ids), and ``c``
    is the largest cap whose total stays within ``budget`` (at least 1 row per
    bucket). A query already within budget is unchanged.

    Parameters
    ----------
    lo, hi : ndarray of shape (n_queries, n_tables, n_probe_keys)
    budget : int

    Returns
    -------
    ndarray of shape (n_queries, n_tables, n_probe_keys)
        The new ``hi``; ``hi`` itself is not modified.
    """
    n_queries = lo.shape[0]
    lengths = (hi - lo).reshape(n_queries, -1)
    over = np.flatnonzero(lengths.sum(axis=1) > budget)
    if over.size == 0:
        return hi
    ascending = np.sort(lengths[over], axis=1)
    n_buckets = ascending.shape[1]
    taken_below = np.cumsum(ascending, axis=1) - ascending  # rows of the smaller buckets
    # Total when the cap is the j-th smallest length; it never decreases with j.
    total_at = taken_below + ascending * (n_buckets - np.arange(n_buckets))
    whole = (total_at <= budget).sum(axis=1)  # buckets kept whole; < n_buckets here
    left = budget - taken_below[np.arange(over.size), whole]
    caps = np.maximum(left // (n_buckets - whole), 1)
    capped = hi.copy()
    capped[over] = lo[over] + np.minimum(hi[over] - lo[over], caps[:, None, None])
    return capped


def raw_candidate_counts(lo, hi):
    """Candidates of each query before de-duplication.

    Parameters
    ----------
    lo, hi : ndarray of shape (n_queries, n_tables, n_probe_keys)

    Returns
    -------
    ndarray of shape (n_queries,), int64
    """
    return (hi - lo).reshape(lo.shape[0], -1).sum(axis=1)


def split_by_budget(counts, max_entries):
    """Consecutive query batches whose padded ``(queries, max count)`` stays within budget.

    Parameters
    ----------
    counts : ndarray of shape (n_queries,)
    max_entries : int
        Largest ``n_queries * max(counts of those queries)`` of a batch; a
        single query larger than that forms a batch of its own.

    Returns
    -------
    list of slice
    """
    batches, start, n_queries = [], 0, counts.shape[0]
    while start < n_queries:
        running_max = np.maximum.accumulate(np.maximum(counts[start:], 1))
        entries = running_max * np.arange(1, n_queries - start + 1)
        stop = start + max(1, int(np.searchsorted(entries, max_entries, side="right")))
        batches.append(slice(start, stop))
        start = stop
    return batches

"""The textbook notebook's method, kept as the baseline the library starts from.

For each query it draws ``h = log2(n / bucket_size)`` Gaussian hyperplanes per table
over ``repeat`` tables, builds dict buckets of the whole training set, takes the union
of the query's buckets and ranks the candidates by Euclidean distance: tables are
rebuilt per query, in a Python loop. Run it on a few queries only.
"""

import numpy as np


def notebook_kneighbors(train, query, k=10, bucket_size=16, repeat=10, seed=0):
    """Indices of the (approximate) ``k`` nearest training rows of one query."""
    rng = np.random.default_rng(seed)
    n, d = train.shape
    h = max(int(np.log2(n / bucket_size)), 1)
    candidates = set()
    for _ in range(repeat):
        planes = rng.standard_normal((d, h))
        codes = (train @ planes > 0) @ (1 << np.arange(h))
        buckets = {}
        for i, code in enumerate(codes):
            buckets.setdefault(int(code), []).append(i)
        query_code = int((query @ planes > 0) @ (1 << np.arange(h)))
        candidates.update(buckets.get(query_code, []))
    candidates = np.fromiter(candidates, dtype=np.int64)
    distances = np.linalg.norm(train[candidates] - query, axis=1)
    return candidates[np.argsort(distances)[:k]]

"""Fit the query-cost model the recall tuner uses (``sklearn_lsh._tuning``).

    python benchmarks/calibrate_cost.py [--data FILE.hdf5 ...]

Times ``kneighbors`` (one thread, k = 10) over a grid of settings on several data
sets, records what each query does on average (probed buckets, gathered rows,
distinct candidates, candidates ranked exactly), fits the per-item costs by
non-negative least squares, and times scikit-learn's brute force to fit its cost
per (row x feature). Prints the constants to copy into ``_tuning.py``.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets  # noqa: E402

from sklearn_lsh import LSHIndex, QuerySettings  # noqa: E402
from sklearn_lsh._tuning import cost_features, query_work  # noqa: E402


def median_seconds(function, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", default=[])
    args = parser.parse_args()
    sets = [datasets.load_ann_benchmarks(p, 1000) for p in args.data]
    sets += [datasets.embeddings(n_train=100_000, n_test=1000),
             datasets.embeddings(n_train=50_000, n_test=1000, metric="cosine"),
             datasets.gaussian(), datasets.digits()]
    features, seconds, exact_rows = [], [], []
    for data in sets:
        queries = data.test[:1000]
        for n_cells in (1, max(1, len(data.train) // 1000)):
            index = LSHIndex.fit(data.train, metric=data.metric, n_bits=None, n_tables=16,
                                 n_cells=n_cells, random_state=np.random.RandomState(0))
            for n_tables, n_probes, n_candidates in [(4, 2, 30), (8, 4, 50), (8, 16, 100),
                                                     (16, 8, 50), (16, 32, 200)]:
                view = index.with_tables(n_tables)
                settings = QuerySettings(n_probes=n_probes, n_cell_probes=min(2, n_cells),
                                         n_candidates=n_candidates)
                work = query_work(view, queries, settings)
                t = median_seconds(lambda v=view, s=settings, q=queries: v.kneighbors(q, 10, s))
                features.append(work)
                seconds.append(t / len(queries))
                print(f"{data.name} cells={n_cells} {n_tables}/{n_probes}/{n_candidates}: "
                      f"{1e6 * seconds[-1]:.1f} us/query  work={np.round(work, 1)}", flush=True)
        exact = NearestNeighbors(n_neighbors=10, algorithm="brute", metric=data.metric)
        exact.fit(data.train)
        t = median_seconds(lambda e=exact, q=queries: e.kneighbors(q))
        exact_rows.append((data.train.shape[0] * cost_features(data.train), t / len(queries)))
        print(f"{data.name} exact: {1e6 * exact_rows[-1][1]:.1f} us/query", flush=True)
    # The grid holds hyperplane tables only: the first six features (the two of
    # cross-polytope tables are zero here and keep their constants in _tuning.py).
    costs, _ = nnls(np.array(features)[:, :6], np.array(seconds))
    print("per-item costs (seconds), first six:", costs.tolist())
    sizes, times = np.array(exact_rows).T
    per_entry = float(np.sum(sizes * times) / np.sum(sizes**2))
    print("exact seconds per (row x feature):", per_entry)
    predicted = np.array(features)[:, :6] @ costs
    print("model / measured, per setting:", np.round(predicted / np.array(seconds), 2).tolist())


if __name__ == "__main__":
    main()

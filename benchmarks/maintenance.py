"""Keeping an index: the cost of growing it with partial_fit, and the memory a query batch needs.

    python benchmarks/maintenance.py --grow              # append 1% to a 10^6-point index
    python benchmarks/maintenance.py --memory            # peak memory for 10^4..10^6 queries

``--grow`` fits ``LSHNearestNeighbors`` on 99% of ``--n-train`` generated embeddings,
then times ``partial_fit`` of the last 1% against a refit on all of them (medians of
``--repeats``), and compares recall@10 of the grown and the refitted index.

``--memory`` indexes ``--n-train`` points and measures, with ``tracemalloc`` (numpy
reports its allocations to it), the peak memory of ``kneighbors`` on 10^4, 10^5 and
10^6 queries, beside the size of the returned arrays. Queries are generated in
blocks outside the measurement. Results go to ``--out`` as CSV.
"""

import argparse
import csv
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets  # noqa: E402
from run import describe_machine, median_time, recall_at_k  # noqa: E402

from sklearn_lsh import LSHNearestNeighbors  # noqa: E402

K = 10


def grow_rows(args):
    data = datasets.embeddings(n_train=args.n_train, n_test=1000)
    n_old = int(round(0.99 * args.n_train))
    old, new = data.train[:n_old], data.train[n_old:]
    true_kth = NearestNeighbors(n_neighbors=K).fit(data.train).kneighbors(data.test)[0][:, -1]

    def grown():
        model = LSHNearestNeighbors(n_neighbors=K, random_state=0).fit(old)
        start = time.perf_counter()
        model.partial_fit(new)
        return time.perf_counter() - start, model

    timings = [grown() for _ in range(args.repeats)]
    grow_time = float(np.median([t for t, _ in timings]))
    grown_model = timings[-1][1]
    refit_time, refit_model = median_time(
        lambda: LSHNearestNeighbors(n_neighbors=K, random_state=0).fit(data.train),
        args.repeats)
    row = dict(
        n_indexed=n_old, n_added=len(new), partial_fit_s=round(grow_time, 3),
        refit_s=round(refit_time, 3), speedup=round(refit_time / grow_time, 1),
        recall_grown=round(recall_at_k(grown_model.kneighbors(data.test)[0], true_kth), 4),
        recall_refit=round(recall_at_k(refit_model.kneighbors(data.test)[0], true_kth), 4),
    )
    print(row, flush=True)
    return [row]


def memory_rows(args):
    data = datasets.embeddings(n_train=args.n_train, n_test=0)
    model = LSHNearestNeighbors(n_neighbors=K, random_state=0).fit(data.train)
    index_mb = model.index_.nbytes / 2**20
    rows = []
    for n_queries in args.query_counts:
        queries = datasets.embeddings(n_train=n_queries, n_test=0, seed=1).train
        tracemalloc.start()
        start = time.perf_counter()
        distances, indices = model.kneighbors(queries)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        output_mb = (distances.nbytes + indices.nbytes) / 2**20
        rows.append(dict(
            n_indexed=args.n_train, n_queries=n_queries, index_mb=round(index_mb, 1),
            queries_mb=round(queries.nbytes / 2**20, 1), output_mb=round(output_mb, 1),
            peak_mb=round(peak / 2**20, 1), peak_beyond_output_mb=round(peak / 2**20 -
                                                                         output_mb, 1),
            seconds=round(elapsed, 1),
        ))
        print(rows[-1], flush=True)
        del queries, distances, indices
    return rows


def write_csv(rows, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grow", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--n-train", type=int, default=1_000_000)
    parser.add_argument("--query-counts", type=int, nargs="*",
                        default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output")
    args = parser.parse_args(argv)
    print(describe_machine(), flush=True)
    if args.grow:
        write_csv(grow_rows(args), args.out / "partial-fit.csv")
    if args.memory:
        write_csv(memory_rows(args), args.out / "memory.csv")


if __name__ == "__main__":
    main()

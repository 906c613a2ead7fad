"""Recall@k and queries/second of sklearn-lsh against scikit-learn's exact brute force.

    python benchmarks/run.py                         # embedded data sets, < 2 minutes
    python benchmarks/run.py --data fashion-mnist-784-euclidean.hdf5 --sweep full
    python benchmarks/run.py --scale                 # 10^4 .. 10^6 generated points
    python benchmarks/run.py --data FILE --graph      # fit + kneighbors_graph() end to end

Every ratio is against ``NearestNeighbors(algorithm="brute")`` timed in the same
process, on the same data and dtype; times are medians of ``--repeats`` runs.
Recall@k follows ann-benchmarks: a returned neighbour counts when its distance is
at most the true k-th distance + 1e-3. Results go to ``--out`` as CSV and PNG.
"""

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets  # noqa: E402
from notebook import notebook_kneighbors  # noqa: E402

from sklearn_lsh import LSHNearestNeighbors  # noqa: E402

K = 10


#: Calls of a few milliseconds are repeated until they add up to this many seconds.
MIN_TIMED_SECONDS = 0.5


def median_time(function, repeats):
    """Median wall time of at least ``repeats`` calls (more for short calls, up to
    100, until they add up to ``MIN_TIMED_SECONDS``), and the last result."""
    times = []
    while len(times) < repeats or (sum(times) < MIN_TIMED_SECONDS and len(times) < 100):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def recall_at_k(found_distances, true_kth):
    return float(np.mean(found_distances <= true_kth[:, None] + 1e-3))


def index_bytes(estimator):
    return estimator.index_.nbytes


def sweep_configs(kind, n_train):
    """Parameter settings of a sweep: global hyperplanes, then k-means cells."""
    auto = int(round(np.log2(max(n_train / 16, 1))))
    if kind == "none":
        return []
    if kind == "quick":
        plain = [dict(n_hyperplanes=b, n_tables=t, n_probes=p, n_candidates=c)
                 for b, t, p, c in [(auto, 10, 8, 50), (auto, 8, 8, 50), (auto + 1, 10, 8, 50),
                                    (auto + 1, 8, 8, 50), (auto - 1, 10, 8, 80),
                                    (auto, 12, 16, 80), (auto, 16, 16, 100)]]
        # Cells of ~1000 or ~2000 rows, bits per cell "auto" (buckets of ~16 rows).
        small, large = max(1, round(n_train / 1000)), max(1, round(n_train / 2000))
        cells = [dict(n_cells=c, n_tables=t, n_probes=p, n_cell_probes=cp)
                 for c, t, p, cp in [(small, 8, 4, 1), (small, 10, 8, 1), (small, 8, 4, 2),
                                     (large, 10, 8, 2), (large, 10, 8, 3)]]
        return plain + cells
    return [dict(n_hyperplanes=b, n_tables=t, n_probes=p, n_candidates=c)
            for b in (auto, auto + 2, auto + 4)
            for t in (5, 10, 20)
            for p in (0, 8, 32)
            for c in (50,)]


def nbytes(X):
    """Bytes of ``X`` as float32 (dense or sparse)."""
    return X.data.astype(np.float32).nbytes if hasattr(X, "tocsr") else \
        X.astype(np.float32).nbytes


def benchmark_dataset(data, args):
    """Rows of the results table for one data set."""
    rows = []
    exact = NearestNeighbors(n_neighbors=K, algorithm="brute", metric=data.metric,
                             n_jobs=args.n_jobs)
    exact_fit, _ = median_time(lambda: exact.fit(data.train), 1)
    exact_time, (true_distances, _) = median_time(lambda: exact.kneighbors(data.test),
                                                  args.repeats)
    true_kth = true_distances[:, K - 1]
    exact_qps = data.test.shape[0] / exact_time
    baselines = [("sklearn brute", exact_qps, exact_fit)]
    if data.metric == "cosine":
        # The same neighbours by euclidean distance between L2-normalised rows, which
        # scikit-learn computes faster than its cosine path: the faster is the baseline.
        from sklearn.preprocessing import normalize

        train, test = normalize(data.train), normalize(data.test)
        normalised = NearestNeighbors(n_neighbors=K, algorithm="brute", n_jobs=args.n_jobs)
        fit_time, _ = median_time(lambda: normalised.fit(train), 1)
        seconds, _ = median_time(lambda: normalised.kneighbors(test), args.repeats)
        baselines.append(("sklearn brute (normalised euclidean)", test.shape[0] / seconds,
                          fit_time))
        exact_qps = max(exact_qps, baselines[-1][1])
    base = dict(dataset=data.name, n_train=data.train.shape[0], n_test=data.test.shape[0],
                metric=data.metric, brute_qps=round(exact_qps, 1))
    for method, qps, fit_time in baselines:
        rows.append(dict(base, method=method, params="", recall=1.0, qps=round(qps, 1),
                         speedup=round(qps / exact_qps, 2), fit_s=round(fit_time, 3),
                         index_mb=0.0, index_ratio=0.0, search="exact", est_recall=""))
        print_row(rows[-1])

    configs = [("defaults (n_jobs=None)", {}, None), ("defaults", {}, args.n_jobs)]
    configs += [(f"target_recall={t}", dict(target_recall=t), None) for t in args.targets]
    if args.targets_parallel:
        configs += [(f"target_recall={t}", dict(target_recall=t), args.n_jobs)
                    for t in args.targets]
    configs += [(" ".join(f"{k}={v}" for k, v in c.items()), c, args.n_jobs)
                for c in sweep_configs(args.sweep, data.train.shape[0])]
    for label, params, n_jobs in configs:
        # Sweep settings mean what they say: no tuning of the parameters they leave out.
        untuned = {} if not params or "target_recall" in params else {"target_recall": None}
        model = LSHNearestNeighbors(n_neighbors=K, metric=data.metric, random_state=0,
                                    n_jobs=n_jobs, **params, **untuned)
        fit_time, _ = median_time(lambda m=model: m.fit(data.train), 1)
        query_time, (found, _) = median_time(lambda m=model: m.kneighbors(data.test),
                                             args.repeats)
        qps = data.test.shape[0] / query_time
        memory = index_bytes(model)
        estimated = model.estimated_recall_
        rows.append(dict(base, method="sklearn-lsh",
                         params=f"{label} n_jobs={n_jobs}" if n_jobs else label,
                         recall=round(recall_at_k(found, true_kth), 4), qps=round(qps, 1),
                         speedup=round(qps / exact_qps, 2), fit_s=round(fit_time, 3),
                         index_mb=round(memory / 2**20, 1),
                         index_ratio=round(memory / nbytes(data.train), 3),
                         search=model.search_method_,
                         est_recall="" if estimated is None else round(estimated, 4)))
        print_row(rows[-1])

    if data.metric == "euclidean" and args.notebook_queries and not hasattr(data.train, "tocsr"):
        n_queries = min(args.notebook_queries, len(data.test))
        start = time.perf_counter()
        found = [notebook_kneighbors(data.train, q, K) for q in data.test[:n_queries]]
        per_query = (time.perf_counter() - start) / n_queries
        found_d = np.array([np.sort(np.linalg.norm(data.train[f] - q, axis=1))
                            for f, q in zip(found, data.test[:n_queries])], dtype=object)
        hits = np.mean([np.mean(d <= t + 1e-3) * len(d) / K
                        for d, t in zip(found_d, true_kth[:n_queries])])
        rows.append(dict(base, method="notebook (per query)",
                         params=f"{n_queries} queries, {per_query * 1e3:.0f} ms each",
                         recall=round(float(hits), 4), qps=round(1 / per_query, 1),
                         speedup=round(1 / per_query / exact_qps, 4), fit_s=0.0,
                         index_mb=0.0, index_ratio=0.0))
        print_row(rows[-1])
    rows += peer_rows(data, base, true_kth, exact_qps, args)
    return rows


def peer_rows(data, base, true_kth, exact_qps, args):
    """hnswlib and pynndescent rows, when installed (``pip install -e ".[bench,peers]"``);
    none on sparse rows, which hnswlib does not take."""
    rows = []
    if hasattr(data.train, "tocsr"):
        return rows
    n_threads = args.n_jobs or 1

    def add(method, params, fit_time, query_time, labels):
        qps = len(data.test) / query_time
        found = exact_distances(data.train, data.test, labels, data.metric)
        rows.append(dict(base, method=method, params=params,
                         recall=round(recall_at_k(found, true_kth), 4), qps=round(qps, 1),
                         speedup=round(qps / exact_qps, 2), fit_s=round(fit_time, 3),
                         index_mb=0.0, index_ratio=0.0))
        print_row(rows[-1])

    hnswlib, pynndescent = optional_import("hnswlib"), optional_import("pynndescent")
    if hnswlib is not None:
        fit_time, index = median_time(lambda: hnsw_index(hnswlib, data, n_threads), 1)
        for ef in (20, 50, 100):
            index.set_ef(ef)
            query_time, (labels, _) = median_time(
                lambda: index.knn_query(data.test, k=K, num_threads=n_threads), args.repeats)
            add("hnswlib", f"M=16 ef_construction=100 ef={ef}", fit_time, query_time, labels)
    if pynndescent is not None:
        warm_up_pynndescent(pynndescent, data.metric)
        fit_time, index = median_time(
            lambda: nndescent(pynndescent, data, n_threads, prepare=True), 1)
        for epsilon in (0.0, 0.1, 0.2):
            query_time, (labels, _) = median_time(
                lambda e=epsilon: index.query(data.test, k=K, epsilon=e), args.repeats)
            add("pynndescent", f"n_neighbors=30 epsilon={epsilon}", fit_time, query_time,
                labels)
    return rows


def optional_import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def hnsw_index(hnswlib, data, n_threads):
    index = hnswlib.Index(space="l2" if data.metric == "euclidean" else "cosine",
                          dim=data.train.shape[1])
    index.init_index(max_elements=len(data.train), ef_construction=100, M=16, random_seed=0)
    index.add_items(data.train, num_threads=n_threads)
    return index


def nndescent(pynndescent, data, n_threads, prepare, n_neighbors=30):
    index = pynndescent.NNDescent(data.train, metric=data.metric, n_neighbors=n_neighbors,
                                  random_state=0, n_jobs=n_threads)
    if prepare:
        index.prepare()  # builds the search graph that query() uses
    return index


def warm_up_pynndescent(pynndescent, metric):
    """Compile pynndescent's numba kernels outside the timed runs."""
    X = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    index = pynndescent.NNDescent(X, metric=metric, n_neighbors=10, random_state=0)
    index.prepare()
    index.query(X[:5], k=K)


def exact_distances(train, queries, labels, metric):
    """Exact distances from each query to its returned ``labels`` (rows of ``train``)."""
    found = train[labels.astype(np.int64)]
    if metric == "euclidean":
        return np.sqrt(((found - queries[:, None, :]) ** 2).sum(axis=2))
    found = found / np.maximum(np.linalg.norm(found, axis=2, keepdims=True), 1e-30)
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    return 1 - np.einsum("qkd,qd->qk", found, q)


def without_self(labels, n_neighbors):
    """Each row's first ``n_neighbors`` labels other than the row's own index."""
    is_self = labels == np.arange(labels.shape[0])[:, None]
    order = np.argsort(is_self, axis=1, kind="stable")  # self, if present, moves last
    return np.take_along_axis(labels, order, axis=1)[:, :n_neighbors]


def graph_rows(data, args):
    """fit + kneighbors_graph() of the whole training set, against brute force."""
    n_check = min(1000, len(data.train))
    rows = []
    exact = NearestNeighbors(n_neighbors=K, algorithm="brute", metric=data.metric,
                             n_jobs=args.n_jobs)
    exact_time, _ = median_time(lambda: exact.fit(data.train).kneighbors_graph(
        mode="distance"), 1)
    true_kth = exact.kneighbors(data.train[:n_check], K + 1)[0][:, K]
    # The defaults, then the query-sweep settings nearest recall 0.9 on fashion-mnist
    # (two with global hyperplanes, one with cells of ~2000 rows).
    quick = sweep_configs("quick", len(data.train))
    for params in [dict(), quick[1], quick[2], quick[10]]:
        untuned = {"target_recall": None} if params else {}
        model = LSHNearestNeighbors(n_neighbors=K, metric=data.metric, random_state=0,
                                    n_jobs=args.n_jobs, **params, **untuned)
        lsh_time, graph = median_time(lambda m=model: m.fit(data.train).kneighbors_graph(
            mode="distance"), 1)
        found = graph.data.reshape(-1, K)[:n_check]
        rows.append(dict(dataset=data.name, task="fit + kneighbors_graph()",
                         params=str(params or "defaults"),
                         recall=round(recall_at_k(found, true_kth), 4),
                         seconds=round(lsh_time, 2), brute_s=round(exact_time, 2),
                         speedup=round(exact_time / lsh_time, 2)))
        print(rows[-1], flush=True)
    rows += peer_graph_rows(data, args, exact_time, true_kth, n_check)
    return rows


def peer_graph_rows(data, args, exact_time, true_kth, n_check):
    """The same graph built by hnswlib (build + query every point) and pynndescent."""
    rows = []
    n_threads = args.n_jobs or 1
    check = data.train[:n_check]

    def add(method, params, seconds, labels):
        found = exact_distances(data.train, check, without_self(labels[:n_check], K),
                                data.metric)
        rows.append(dict(dataset=data.name, task=f"{method}: build + 10-NN of every point",
                         params=params, recall=round(recall_at_k(found, true_kth), 4),
                         seconds=round(seconds, 2), brute_s=round(exact_time, 2),
                         speedup=round(exact_time / seconds, 2)))
        print(rows[-1], flush=True)

    hnswlib, pynndescent = optional_import("hnswlib"), optional_import("pynndescent")
    if hnswlib is not None:
        for ef in (20, 50):
            def build_and_query(ef=ef):
                index = hnsw_index(hnswlib, data, n_threads)
                index.set_ef(ef)
                return index.knn_query(data.train, k=K + 1, num_threads=n_threads)[0]
            seconds, labels = median_time(build_and_query, 1)
            add("hnswlib", f"M=16 ef_construction=100 ef={ef}", seconds, labels)
    if pynndescent is not None:
        warm_up_pynndescent(pynndescent, data.metric)
        for n_neighbors in (K + 1, 30):
            seconds, index = median_time(
                lambda n=n_neighbors: nndescent(pynndescent, data, n_threads, prepare=False,
                                                n_neighbors=n), 1)
            add("pynndescent", f"n_neighbors={n_neighbors} (neighbor_graph)", seconds,
                index.neighbor_graph[0])
    return rows


def scale_rows(args):
    """Queries/second at 10^4, 10^5 and 10^6 generated points, fixed parameters."""
    rows = []
    for n in args.scale_sizes:
        make = datasets.mixture if args.scale_data == "mixture" else datasets.embeddings
        data = make(n_train=n, n_test=1000)
        args_copy = argparse.Namespace(**vars(args))
        for row in benchmark_dataset(data, args_copy):
            rows.append(row)
    return rows


def print_row(row):
    print(f"  {row['dataset']:<34} {row['method']:<22} {row['params']:<55} "
          f"recall={row['recall']:<7} qps={row['qps']:<9} x{row['speedup']:<6} "
          f"fit={row['fit_s']}s index={row['index_mb']}MB ({row['index_ratio']})", flush=True)


def write_outputs(rows, out, stem):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if "qps" not in rows[0]:
        return  # end-to-end timings (--graph): a table, no recall-vs-QPS plot
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    for name in dict.fromkeys(r["dataset"] for r in rows):
        these = [r for r in rows if r["dataset"] == name]
        fig, ax = plt.subplots(figsize=(6, 4))
        for method, marker in [("sklearn-lsh", "o"), ("hnswlib", "s")]:
            points = [(r["recall"], r["qps"]) for r in these if r["method"] == method]
            if points:
                ax.scatter(*zip(*points), marker=marker, label=method)
        ax.axhline(these[0]["brute_qps"], color="k", ls="--", label="sklearn brute force")
        ax.set_yscale("log")
        ax.set_xlabel(f"recall@{K}")
        ax.set_ylabel("queries / second")
        ax.set_title(name)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"{stem}-{name}.png", dpi=100)
        plt.close(fig)


def describe_machine():
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
                     for i in threadpool_info() if i["user_api"] == "blas")
    return (f"{platform.platform()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, numpy {np.__version__}, BLAS: {blas}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="*", default=[],
                        help="ann-benchmarks HDF5 files (default: embedded data sets)")
    parser.add_argument("--queries", type=int, default=None, help="use the first N queries")
    parser.add_argument("--sweep", choices=["none", "quick", "full"], default="quick")
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--notebook-queries", type=int, default=5)
    parser.add_argument("--scale", action="store_true", help="10^4..10^6 scaling rows")
    parser.add_argument("--scale-sizes", type=int, nargs="*",
                        default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--scale-data", choices=["embeddings", "mixture"],
                        default="embeddings",
                        help="generator of the --scale rows: datasets.embeddings (96-d, "
                             "24-d latent) or datasets.mixture (64-d, Zipf, anisotropic)")
    parser.add_argument("--graph", action="store_true",
                        help="time fit + kneighbors_graph() instead of test queries")
    parser.add_argument("--targets", type=float, nargs="*", default=[0.8, 0.95, 0.99],
                        help="target_recall values to fit (beside the defaults, 0.9)")
    parser.add_argument("--targets-parallel", action="store_true",
                        help="also time every target_recall row with --n-jobs")
    parser.add_argument("--text", action="store_true",
                        help="add generated sparse TF-IDF text (cosine) to the data sets")
    parser.add_argument("--words", nargs="*", default=None, metavar="LANGUAGE",
                        help="real word embeddings (cosine) of these languages' most "
                             "frequent words (default: en); needs the 'words' extra")
    parser.add_argument("--trigrams", nargs="*", default=None, metavar="LANGUAGE",
                        help="real sparse text (cosine): character-trigram TF-IDF of these "
                             "languages' most frequent words (default: en); 'words' extra")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output")
    args = parser.parse_args(argv)
    print(describe_machine(), flush=True)

    if args.scale:
        rows = scale_rows(args)
        write_outputs(rows, args.out, "scale")
        return
    if args.data:
        sets = [datasets.load_ann_benchmarks(p, args.queries) for p in args.data]
    else:
        sets = [datasets.gaussian(), datasets.embeddings(), datasets.digits(),
                datasets.embeddings(n_train=50_000, metric="cosine")]
    if args.text:
        sets.append(datasets.tfidf_text())
    if args.words is not None or args.trigrams is not None:
        if not args.data and not args.text:
            sets = []  # --words or --trigrams alone: only the real word sets
        sets += [datasets.word_embeddings(language) for language in
                 ([] if args.words is None else args.words or ["en"])]
        sets += [datasets.word_trigrams(language) for language in
                 ([] if args.trigrams is None else args.trigrams or ["en"])]
    if args.graph:
        rows = [r for data in sets for r in graph_rows(data, args)]
        write_outputs(rows, args.out, "graph")
        return
    rows = [r for data in sets for r in benchmark_dataset(data, args)]
    write_outputs(rows, args.out, "results")
    print(f"\nwrote {args.out}/results.csv and one PNG per data set")


if __name__ == "__main__":
    main()

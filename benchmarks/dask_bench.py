"""DaskLSHNearestNeighbors on a LocalCluster beside LSHNearestNeighbors on one machine.

    python benchmarks/dask_bench.py --rows 2000000 --features 64 --workers 2 --queries 1000
    python benchmarks/dask_bench.py --rows 20000 --queries 100     # a check that it runs

The clustered rows (``datasets.EmbeddingShape``) are generated on the workers, a
chunk per task with its own seed, and never pass through this process until the
one-machine comparison gathers them (skipped above ``--local-max-gb``). The
script measures, for the sharded index and for one machine: fit seconds,
queries/second over ``--queries`` generated queries (median of ``--repeats``)
and recall@10 against exact search (a sharded exact search: every shard
answers by brute force, the answers merged). It also measures the figures one
shard gives (its bytes, the seconds it takes to search a batch of queries, the
bytes of its answer) and turns them into the sizing table of the user guide
(:func:`sizing_table`): 10^8 rows x 768 features on 8, 32 and 128 workers.

Writes ``--out`` (the measured rows) and, beside it, ``*-shards.csv`` and
``*-sizing.csv``.
"""

import argparse
import csv
import sys
import time
from pathlib import Path

import cloudpickle
import dask
import dask.array as da
import numpy as np
from dask import delayed
from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets  # noqa: E402
import run  # noqa: E402
from run import describe_machine, median_time, recall_at_k  # noqa: E402

from sklearn_lsh import LSHNearestNeighbors  # noqa: E402
from sklearn_lsh._shards import MAX_SHARD_ROWS, shard_kneighbors  # noqa: E402
from sklearn_lsh.dask import DaskLSHNearestNeighbors  # noqa: E402

K = 10
#: The sizing table's data and cluster sizes.
SIZING_ROWS, SIZING_FEATURES, SIZING_WORKERS = 10**8, 768, (8, 32, 128)
#: Bytes per value of the sized data (float32 embeddings).
SIZING_ITEMSIZE = 4


def generated_rows(shape, n_rows, n_features, chunk_rows, seed):
    """A lazy Dask array of ``n_rows`` clustered float32 rows, each chunk drawn on a
    worker by a generator seeded by ``seed`` and the chunk's number."""
    sizes = [min(chunk_rows, n_rows - start) for start in range(0, n_rows, chunk_rows)]
    blocks = [da.from_delayed(delayed(_block, pure=True)(shape, size, seed, number),
                              (size, n_features), dtype=np.float32)
              for number, size in enumerate(sizes)]
    return da.concatenate(blocks)


def _block(shape, n_rows, seed, number):
    return shape.rows(np.random.default_rng([seed, number]), n_rows)


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def measure_cluster(args, shape, queries):
    """Rows of fit time, QPS and recall for the sharded index (and its exact search),
    and the sharded estimator itself."""
    X = generated_rows(shape, args.rows, args.features, args.chunk_rows, args.seed)
    generate_seconds, X = timed(lambda: dask.persist(X)[0])
    dask.compute(X.sum())  # the rows exist on the workers before fit is timed
    exact = DaskLSHNearestNeighbors(n_neighbors=K, target_recall=1.0).fit(X)
    true_kth = exact.kneighbors(queries)[0].compute()[:, -1]
    fit_seconds, sharded = timed(
        lambda: DaskLSHNearestNeighbors(n_neighbors=K, random_state=0).fit(X))
    query_seconds, found = median_time(lambda: sharded.kneighbors(queries)[0].compute(),
                                       args.repeats)
    exact_seconds, _ = median_time(lambda: exact.kneighbors(queries)[0].compute(),
                                   args.repeats)
    rows = [
        dict(method="dask-exact", fit_s=np.nan, qps=len(queries) / exact_seconds, recall=1.0),
        dict(method="dask-lsh", fit_s=fit_seconds, qps=len(queries) / query_seconds,
             recall=recall_at_k(found, true_kth), search_method=sharded.search_method_,
             shards=sharded.n_shards_),
    ]
    print(f"generated {args.rows} rows on the workers in {generate_seconds:.1f} s", flush=True)
    return rows, sharded, true_kth


def measure_local(sharded, queries, true_kth, args):
    """The same rows gathered here and fitted by LSHNearestNeighbors."""
    gather_seconds, X = timed(lambda: sharded.index_.rows().compute())
    fit_seconds, local = timed(
        lambda: LSHNearestNeighbors(n_neighbors=K, random_state=0).fit(X))
    query_seconds, (found, _) = median_time(lambda: local.kneighbors(queries), args.repeats)
    print(f"gathered the rows in {gather_seconds:.1f} s", flush=True)
    return dict(method="local-lsh", fit_s=fit_seconds, qps=len(queries) / query_seconds,
                recall=recall_at_k(found, true_kth), search_method=local.search_method_,
                shards=1)


def shard_figures(sharded, queries, args):
    """What one shard costs, for each of the first ``--shards-timed`` shards: its bytes,
    rows, the seconds it takes to search the query batch (on its worker), and the
    bytes of its answer per query."""
    index = sharded.index_
    settings = sharded.operating_point_
    timed_shards = range(min(args.shards_timed, index.n_shards))
    batch = delayed(np.asarray)(queries)
    times = dask.compute(*[delayed(_shard_search_seconds, pure=False)(
        index.shards[i], batch, K, settings, args.repeats) for i in timed_shards])
    rows = []
    for i, (seconds, answer_bytes) in zip(timed_shards, times):
        rows.append(dict(shard=i, rows=int(index.offsets[i + 1] - index.offsets[i]),
                         nbytes=int(index.nbytes[i]), features=index.n_features,
                         queries=len(queries), batch_s=seconds,
                         answer_bytes_per_query=answer_bytes / len(queries),
                         query_bytes_per_query=queries.shape[1] * queries.itemsize))
    return rows


def _shard_search_seconds(shard, queries, n_neighbors, settings, repeats):
    """Median seconds of one shard's search of the batch, and its answer's bytes."""
    seconds, (distances, ids) = median_time(
        lambda: shard_kneighbors(shard, queries, 0, n_neighbors, settings), repeats)
    return seconds, distances.nbytes + ids.nbytes


def sizing_table(shards, rows=SIZING_ROWS, features=SIZING_FEATURES, workers=SIZING_WORKERS,
                 itemsize=SIZING_ITEMSIZE, shard_rows=MAX_SHARD_ROWS):
    """Memory per worker, seconds per query batch and bytes moved per query for
    ``rows`` x ``features`` on each number of workers, from measured shard figures.

    The assumptions, each a scaling of the measured shard:

    * the data is cut into shards of ``shard_rows`` rows, spread evenly over the
      workers, each worker searching its shards one after the other on one thread;
    * a shard's bytes are its rows (``features * itemsize`` each) plus its index,
      whose bytes per row are the measured shard's (tables, keys and projected
      rows do not grow with the features: the projection keeps at most 48 axes);
    * a shard's search time per batch grows with its rows and its features in
      proportion to the measured shard's (hashing, pre-ranking and the exact
      distances of the candidates: the last is linear in the features and
      dominates on wide rows; projecting the queries is too);
    * every query travels to every shard and every shard's answer travels once
      to be merged (an upper bound: the shards on the query's worker need no
      transfer), so the bytes moved per query are
      ``n_shards * (features * itemsize + answer bytes)``;
    * the merge tree costs nothing beside the searches (its work per query is
      ``n_shards * n_neighbors`` comparisons).

    Parameters
    ----------
    shards : list of dict
        Rows of :func:`shard_figures`.
    rows, features, itemsize, shard_rows : int
    workers : sequence of int

    Returns
    -------
    list of dict
        One row per number of workers.
    """
    measured_rows = np.array([s["rows"] for s in shards], dtype=float)
    index_bytes_per_row = np.mean([(s["nbytes"] - s["rows"] * s["features"] * itemsize)
                                   / s["rows"] for s in shards])
    seconds_per_row_feature = np.mean([s["batch_s"] / (s["rows"] * s["features"])
                                       for s in shards])
    answer_bytes = float(np.mean([s["answer_bytes_per_query"] for s in shards]))
    n_queries = shards[0]["queries"]
    n_shards = -(-rows // shard_rows)
    table = []
    for n_workers in workers:
        rows_per_worker = rows / n_workers
        table.append(dict(
            rows=rows, features=features, workers=n_workers, shards=n_shards,
            shards_per_worker=n_shards / n_workers,
            memory_per_worker_gb=rows_per_worker * (features * itemsize + index_bytes_per_row)
            / 1e9,
            batch_queries=n_queries,
            seconds_per_batch=rows_per_worker * features * seconds_per_row_feature,
            queries_per_second=n_queries / (rows_per_worker * features
                                            * seconds_per_row_feature),
            mb_moved_per_query=n_shards * (features * itemsize + answer_bytes) / 1e6,
            measured_shard_rows=int(measured_rows.mean())))
    return table


def write_csv(rows, path):
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}", flush=True)


def print_rows(rows):
    for row in rows:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--chunk-rows", type=int, default=MAX_SHARD_ROWS,
                        help="rows per generated chunk (one shard each, at most "
                             f"{MAX_SHARD_ROWS})")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shards-timed", type=int, default=4,
                        help="shards whose search of the query batch is timed alone")
    parser.add_argument("--local-max-gb", type=float, default=4.0,
                        help="gather the rows for the one-machine run only up to this size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "output" / "dask-results.csv")
    args = parser.parse_args(argv)
    print(describe_machine(), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    # The workers cannot import the benchmarks' modules: their code travels with the tasks.
    cloudpickle.register_pickle_by_value(datasets)
    cloudpickle.register_pickle_by_value(run)
    shape = datasets.EmbeddingShape.draw(np.random.default_rng(args.seed), args.features)
    # The queries' own stream: chunks are seeded by two numbers, the queries by three.
    queries = shape.rows(np.random.default_rng([args.seed, 0, 0]), args.queries)
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                           dashboard_address=":0")
    with cluster, Client(cluster):
        rows, sharded, true_kth = measure_cluster(args, shape, queries)
        if args.rows * args.features * 4 <= args.local_max_gb * 1e9:
            rows.append(measure_local(sharded, queries, true_kth, args))
        shards = shard_figures(sharded, queries, args)
    for row in rows:
        row.update(rows_total=args.rows, features=args.features, workers=args.workers,
                   queries=args.queries)
    print_rows(rows)
    write_csv(rows, args.out)
    print_rows(shards)
    write_csv(shards, args.out.with_name(args.out.stem + "-shards.csv"))
    sizing = sizing_table(shards)
    print_rows(sizing)
    write_csv(sizing, args.out.with_name(args.out.stem + "-sizing.csv"))


if __name__ == "__main__":
    main()

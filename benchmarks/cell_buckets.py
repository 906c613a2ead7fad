"""How full are the buckets? Global hyperplanes against k-means cells.

    python benchmarks/cell_buckets.py                    # generated embeddings, 10^4..10^6 rows
    python benchmarks/cell_buckets.py --data FILE.hdf5   # ann-benchmarks files

For each data set, fits the index with one cell (hyperplanes through the
data's mean), with ``n_cells="auto"`` (the default) and with cells of ~1000 rows,
all with ``n_hyperplanes="auto"`` (buckets of ~16 rows aimed at), and prints the size of
the bucket a random training row falls in (``sum(size**2) / n``, averaged over
the tables). This is what a query pays for: it gathers its buckets' rows.
"""

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets  # noqa: E402

from sklearn_lsh import LSHNearestNeighbors  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="*", default=[])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output")
    args = parser.parse_args(argv)
    rows = []
    if args.data:
        sets = [datasets.load_ann_benchmarks(p, 1) for p in args.data]
    else:
        sets = [datasets.embeddings(n_train=n, n_test=1) for n in args.sizes]
    print("| dataset | n_cells | n_hyperplanes_ | bucket a row falls in (rows) |")
    print("|---|---|---|---|")
    for data in sets:
        for n_cells in (1, "auto", max(1, round(len(data.train) / 1000))):
            model = LSHNearestNeighbors(n_cells=n_cells, metric=data.metric,
                                        random_state=0).fit(data.train)
            rows.append(dict(dataset=data.name, n_cells=f"{n_cells} → {model.n_cells_}",
                             n_hyperplanes_=model.n_hyperplanes_,
                             row_bucket_size=round(model.index_.row_bucket_size, 1)))
            print("| " + " | ".join(str(v) for v in rows[-1].values()) + " |", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("cell-buckets-" + ("data" if args.data else "generated") + ".csv")
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()

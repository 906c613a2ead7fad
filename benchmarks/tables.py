"""Print a benchmark CSV as a Markdown table (how RESULTS.md's tables are made).

    python benchmarks/tables.py benchmarks/fashion-mnist-results.csv [--columns a b c]
    python benchmarks/tables.py benchmarks/embedded-results.csv --targets

``--targets`` keeps the rows of the defaults and of the ``target_recall`` fits, with
the columns that compare requested, estimated and measured recall.
"""

import argparse
import csv

TARGET_COLUMNS = ["dataset", "params", "search", "est_recall", "recall", "speedup", "fit_s"]


def markdown(path, columns=None, targets=False):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if targets:
        rows = [r for r in rows if r["params"].startswith(("defaults", "target_recall"))]
        columns = columns or TARGET_COLUMNS
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--columns", nargs="*")
    parser.add_argument("--targets", action="store_true")
    args = parser.parse_args()
    print(markdown(args.csv, args.columns, args.targets))

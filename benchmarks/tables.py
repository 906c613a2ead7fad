"""Print a benchmark CSV as a Markdown table (how RESULTS.md's tables are made).

    python benchmarks/tables.py benchmarks/fashion-mnist-results.csv [--columns a b c]
"""

import argparse
import csv


def markdown(path, columns=None):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--columns", nargs="*")
    args = parser.parse_args()
    print(markdown(args.csv, args.columns))

"""Print a benchmark CSV as a Markdown table (how RESULTS.md's tables are made).

    python benchmarks/tables.py benchmarks/fashion-mnist-results.csv [--columns a b c]
    python benchmarks/tables.py benchmarks/embedded-results.csv --targets

``--targets`` keeps the rows of the defaults and of the ``target_recall`` fits, with
the columns that compare requested, estimated and measured recall. ``--versus-best``
sets, per data set, the defaults (at the sweep's ``n_jobs``) beside the fastest
hand-set row of the sweep that reaches recall 0.9.
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


def versus_best(path, min_recall=0.9):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    lines = ["| dataset | defaults (n_jobs=2): recall, speedup | best by hand at recall >= "
             f"{min_recall}: params, recall, speedup | defaults / best |", "|---|---|---|---|"]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == name]
        defaults = [r for r in mine if r["params"] == "defaults n_jobs=2"]
        by_hand = [r for r in mine if r["method"] == "sklearn-lsh" and "n_jobs=2" in r["params"]
                   and not r["params"].startswith("defaults")
                   and float(r["recall"]) >= min_recall]
        if not defaults:
            continue
        d = defaults[0]
        if by_hand:
            b = max(by_hand, key=lambda r: float(r["qps"]))
            best = f"{b['params'].replace(' n_jobs=2', '')}: {b['recall']}, {b['speedup']}x"
            ratio = f"{float(d['qps']) / float(b['qps']):.2f}"
        else:
            best, ratio = "none reaches it", "-"
        lines.append(f"| {name} | {d['recall']}, {d['speedup']}x ({d['search']}) | {best} | "
                     f"{ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--columns", nargs="*")
    parser.add_argument("--targets", action="store_true")
    parser.add_argument("--versus-best", action="store_true")
    args = parser.parse_args()
    if args.versus_best:
        print(versus_best(args.csv))
    else:
        print(markdown(args.csv, args.columns, args.targets))

"""Print a benchmark CSV as a Markdown table (how RESULTS.md's tables are made).

    python benchmarks/tables.py benchmarks/fashion-mnist-results.csv [--columns a b c]
    python benchmarks/tables.py benchmarks/embedded-results.csv --targets

``--targets`` keeps the rows of the defaults and of the ``target_recall`` fits, with
the columns that compare requested, estimated and measured recall. ``--versus-best``
sets, per data set, the defaults (at the sweep's ``n_jobs``) beside the fastest
hand-set row of the sweep that reaches recall 0.9. ``--defaults`` and ``--requested``
summarise several files: one line per data set.
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


def _rows(paths):
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def defaults(paths):
    """One line per data set: what the defaults chose and what they measured."""
    rows = _rows(paths)
    lines = ["| dataset | search | est_recall | recall | speedup (n_jobs=None) | "
             "speedup (n_jobs=2) | fit_s |", "|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        mine = {r["params"]: r for r in rows if r["dataset"] == name}
        one, two = mine.get("defaults (n_jobs=None)"), mine.get("defaults n_jobs=2")
        if one is None:
            continue
        lines.append(f"| {name} | {one['search']} | {one['est_recall']} | {one['recall']} | "
                     f"{one['speedup']} | {two['speedup'] if two else ''} | {one['fit_s']} |")
    return "\n".join(lines)


def requested(paths):
    """Requested against estimated and measured recall, one line per data set."""
    rows = _rows(paths)
    targets = ["0.8", "0.9", "0.95", "0.99"]
    lines = ["| dataset | " + " | ".join(f"{t}: est / measured (search)" for t in targets)
             + " |", "|---|" + "---|" * len(targets)]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        mine = {r["params"]: r for r in rows if r["dataset"] == name}
        cells = []
        for t in targets:
            r = mine.get("defaults (n_jobs=None)" if t == "0.9" else f"target_recall={t}")
            cells.append("" if r is None else
                         f"{r['est_recall']} / {r['recall']} ({r['search']})")
        if any(cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
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
    parser.add_argument("csv", nargs="+")
    parser.add_argument("--columns", nargs="*")
    parser.add_argument("--targets", action="store_true")
    parser.add_argument("--versus-best", action="store_true")
    parser.add_argument("--defaults", action="store_true",
                        help="one line per data set of every file: the defaults")
    parser.add_argument("--requested", action="store_true",
                        help="one line per data set of every file: requested recall against "
                             "estimated and measured")
    args = parser.parse_args()
    if args.defaults:
        print(defaults(args.csv))
    elif args.requested:
        print(requested(args.csv))
    elif args.versus_best:
        print("\n".join(versus_best(path) for path in args.csv))
    else:
        print("\n".join(markdown(path, args.columns, args.targets) for path in args.csv))

"""Time and peak memory of the inputs that used to blow up (issue 13, items 5-8).

    python benchmarks/adversarial.py [--skip-slow]

Each case prints wall time and the peak of ``tracemalloc`` during the call, and
the size of its output; results go to ``--out`` as CSV. The cases:

* ``duplicates``: ``kneighbors()`` on 20000 rows that are copies of 4 points
  (scikit-learn's exact search beside it);
* ``widened``: 600 and 1024 queries on 5000 rows with ``n_hyperplanes=30``
  (tiny buckets: every query takes the widened search), ``working_memory=64``;
* ``radius``: ``radius_neighbors`` of 20 queries on 50000 points with a radius
  every point satisfies, ``working_memory=64``;
* ``wide-sparse``: ``fit`` on 200 rows with 5 non-zeros in 2**17, 2**18 and 2**20
  columns, and ``kneighbors`` of 50 of them.
"""

import argparse
import csv
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn import config_context
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHNearestNeighbors


def measure(function):
    """Wall seconds and peak traced bytes of ``function()``, and its result."""
    tracemalloc.start()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, result


def nbytes(result):
    if isinstance(result, tuple):
        return sum(nbytes(part) for part in result)
    if isinstance(result, np.ndarray) and result.dtype == object:
        return sum(part.nbytes for part in result)
    return getattr(result, "nbytes", 0)


def cases(skip_slow):
    rng = np.random.RandomState(0)
    duplicates = rng.normal(size=(4, 16))[rng.randint(4, size=20000)]
    yield "duplicates", "sklearn brute kneighbors()", lambda: NearestNeighbors(
        n_neighbors=5).fit(duplicates).kneighbors()
    if not skip_slow:
        yield "duplicates", "kneighbors()", lambda: LSHNearestNeighbors(
            n_neighbors=5, random_state=0).fit(duplicates).kneighbors()

    X, Q = rng.normal(size=(5000, 16)), rng.normal(size=(1024, 16))
    tiny = LSHNearestNeighbors(n_neighbors=5, n_hyperplanes=30, n_cells=1,
                               random_state=0).fit(X)
    for n_queries in (600, 1024):
        yield "widened", f"{n_queries} queries", lambda n=n_queries: tiny.kneighbors(Q[:n])

    points = rng.normal(size=(50000, 16))
    everything = LSHNearestNeighbors(n_hyperplanes=2, n_tables=1, n_probes=3, n_cells=1,
                                     random_state=0).fit(points)
    yield "radius", "20 queries, every point within", lambda: everything.radius_neighbors(
        points[:20], radius=1e6)

    for log_width in (17, 18, 20):
        width = 2**log_width
        columns = rng.randint(width, size=1000)
        text = sp.csr_matrix((rng.rand(1000) + 0.1, (np.repeat(np.arange(200), 5), columns)),
                             shape=(200, width))
        model = LSHNearestNeighbors(n_neighbors=5, metric="cosine", random_state=0)
        yield "wide-sparse", f"fit 200 x 2**{log_width}", lambda m=model, t=text: m.fit(t)
        yield "wide-sparse", f"kneighbors 50 of 200 x 2**{log_width}", \
            lambda m=model, t=text: m.kneighbors(t[:50])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-slow", action="store_true",
                        help="skip the duplicates case (90 s before the fix)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output")
    args = parser.parse_args()
    rows = []
    with config_context(working_memory=64):
        for case, call, function in cases(args.skip_slow):
            seconds, peak, result = measure(function)
            rows.append(dict(case=case, call=call, seconds=round(seconds, 3),
                             peak_mb=round(peak / 2**20, 1),
                             output_mb=round(nbytes(result) / 2**20, 1)))
            print(f"{case:12s} {call:40s} {seconds:8.2f} s  peak {peak / 2**20:8.1f} MB  "
                  f"output {rows[-1]['output_mb']:6.1f} MB", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "adversarial.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()

"""Exact search against scikit-learn's brute force, call by call.

Where the tuner chooses exact search, the estimator should be as fast as brute
force. One median of three calls is too noisy to tell (sparse products vary
several-fold from call to call on a small machine), so this script alternates
the two, call after call, and prints the medians and their ratio:

    python benchmarks/exact_ab.py --repeats 9 [--text] [--words]

The baseline is the faster of scikit-learn's paths for the metric (for cosine,
also euclidean distance between L2-normalised rows), with ``n_jobs=2``; the
estimator runs with ``target_recall=1.0`` and ``--n-jobs`` (default: None).
"""

import argparse
import time

import datasets
import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from sklearn_lsh import LSHNearestNeighbors


def medians(calls, repeats):
    """Median seconds of each call, the calls alternating ``repeats`` times."""
    times = [[] for _ in calls]
    for _ in range(repeats):
        for call, spent in zip(calls, times):
            start = time.perf_counter()
            call()
            spent.append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def compare(data, repeats, n_jobs):
    brute = NearestNeighbors(n_neighbors=10, algorithm="brute", metric=data.metric,
                             n_jobs=2).fit(data.train)
    calls = [lambda: brute.kneighbors(data.test)]
    if data.metric == "cosine":
        normalised = NearestNeighbors(n_neighbors=10, algorithm="brute", n_jobs=2).fit(
            normalize(data.train))
        queries = normalize(data.test)
        calls.append(lambda: normalised.kneighbors(queries))
    exact = LSHNearestNeighbors(n_neighbors=10, metric=data.metric, target_recall=1.0,
                                random_state=0, n_jobs=n_jobs).fit(data.train)
    calls.append(lambda: exact.kneighbors(data.test))
    *baselines, ours = medians(calls, repeats)
    best = min(baselines)
    print(f"{data.name:<36} brute {1e3 * best:8.1f} ms  sklearn-lsh exact {1e3 * ours:8.1f} ms"
          f"  ratio {best / ours:.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--text", action="store_true", help="the generated TF-IDF set")
    parser.add_argument("--words", action="store_true",
                        help="real word embeddings and trigrams ('words' extra)")
    args = parser.parse_args()
    sets = [datasets.digits(), datasets.gaussian()]
    if args.text:
        sets.append(datasets.tfidf_text())
    if args.words:
        sets += [datasets.word_embeddings(), datasets.word_trigrams()]
    for data in sets:
        compare(data, args.repeats, args.n_jobs)


if __name__ == "__main__":
    main()

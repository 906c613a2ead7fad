"""
Recall against speed: what the knobs trade
==========================================

``n_hyperplanes`` sets the bucket size, ``n_tables`` and ``n_probes`` how many
buckets a query visits. Each setting is one point of recall@10 against
queries/second; scikit-learn's exact brute force, timed on the same data in the
same run, is the horizontal line. ``benchmarks/run.py`` draws the same plot for
ann-benchmarks data sets such as fashion-mnist.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHNearestNeighbors

# Like real embeddings, the points vary along fewer directions than they have
# coordinates: clusters in a 16-dimensional space, mapped into 128 dimensions.
latent, _ = make_blobs(n_samples=42_000, n_features=16, centers=200, cluster_std=2.0,
                       center_box=(-10, 10), random_state=0)
mixing = np.random.default_rng(0).normal(size=(16, 128))
X = (latent @ mixing).astype(np.float32)
X_train, X_query = X[:40_000], X[40_000:]


def queries_per_second(model):
    start = time.perf_counter()
    result = model.kneighbors(X_query)
    return len(X_query) / (time.perf_counter() - start), result


exact_qps, (true_dist, _) = queries_per_second(
    NearestNeighbors(n_neighbors=10, algorithm="brute").fit(X_train))

points = []
for n_hyperplanes in [10, 12, 14]:
    for n_tables, n_probes in [(2, 2), (4, 4), (8, 8), (16, 16)]:
        model = LSHNearestNeighbors(n_neighbors=10, n_hyperplanes=n_hyperplanes,
                                    n_tables=n_tables, n_probes=n_probes,
                                    random_state=0).fit(X_train)
        qps, (dist, _) = queries_per_second(model)
        recall = np.mean(dist <= true_dist[:, -1:] + 1e-3)
        points.append((n_hyperplanes, recall, qps))
        print(f"n_hyperplanes={n_hyperplanes:2d} n_tables={n_tables:2d} "
              f"n_probes={n_probes:2d}: recall@10 {recall:.3f}, {qps:7.0f} queries/s")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for bits in sorted({p[0] for p in points}):
    these = [(r, q) for b, r, q in points if b == bits]
    ax.plot(*zip(*these), "o-", label=f"n_hyperplanes={bits}")
ax.axhline(exact_qps, color="k", ls="--", label="exact brute force")
ax.set(yscale="log", xlabel="recall@10", ylabel="queries / second",
       title="more tables and probes: higher recall, fewer queries/s")
ax.legend(fontsize=8)
plt.show()

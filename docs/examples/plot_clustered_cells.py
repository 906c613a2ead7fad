"""
Clustered data: k-means cells before the hyperplanes
====================================================

Hyperplanes through the data's mean rarely cut a tight cluster far from the
mean, so on clustered data (real embeddings) whole clusters end up sharing a
bucket, however many bits a key has. ``n_cells`` splits the data into k-means
cells first and hashes each row by hyperplanes through its cell's centroid.

This example measures, on 300 generated clusters, the bucket a random row falls
in (what a query gathers per table) and recall@10 against queries per second,
with and without cells, next to scikit-learn's exact brute force. Three regimes
show up:

* fewer cells than clusters: a cell holds several clusters, and hyperplanes
  through its centroid (between the clusters) again cut none of them -- the
  buckets stay large;
* about one cell per cluster: each cluster is cut evenly, the buckets hold
  about the 16 rows aimed at, and queries are fastest at full recall;
* more cells than clusters: clusters are split across cells, so a query needs
  ``n_cell_probes=2`` or more to find the neighbours over the border.

``n_cells="auto"`` (the default) switches cells on when global hyperplanes fail
badly, starting from ``round(n_samples / 2000)`` cells and doubling them while
their buckets stay too large (see the user guide); the last row shows where it
lands here. ``n_cells`` is also worth tuning like ``n_hyperplanes``.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHNearestNeighbors

# 300 tight clusters spread far apart in 32 dimensions.
X, _ = make_blobs(n_samples=151_000, n_features=32, centers=300, cluster_std=1.0,
                  center_box=(-40, 40), random_state=0)
X = X.astype(np.float32)
X_train, X_query = X[:150_000], X[150_000:]


def queries_per_second(model):
    start = time.perf_counter()
    result = model.kneighbors(X_query)
    return len(X_query) / (time.perf_counter() - start), result


exact_qps, (true_dist, _) = queries_per_second(
    NearestNeighbors(n_neighbors=10, algorithm="brute").fit(X_train))

settings = {
    "one cell (global hyperplanes)": dict(n_cells=1),
    "n_cells=150, n_cell_probes=1": dict(n_cells=150, n_cell_probes=1),
    "n_cells=300, n_cell_probes=1": dict(n_cells=300, n_cell_probes=1),
    "n_cells=600, n_cell_probes=1": dict(n_cells=600, n_cell_probes=1),
    "n_cells=600, n_cell_probes=2": dict(n_cells=600, n_cell_probes=2),
    'n_cells="auto" (the default)': dict(),
}
results = {}
for label, params in settings.items():
    model = LSHNearestNeighbors(n_neighbors=10, random_state=0, **params).fit(X_train)
    qps, (dist, _) = queries_per_second(model)
    recall = np.mean(dist <= true_dist[:, -1:] + 1e-3)
    bucket = model.index_.row_bucket_size
    results[label] = (bucket, recall, qps)
    print(f"{label:32s} {model.n_cells_:4d} cells; bucket a row falls in: {bucket:6.1f} "
          f"rows (aimed at 16); recall@10 {recall:.3f}; {qps:6.0f} queries/s")
print(f"{'exact brute force':32s} {exact_qps:6.0f} queries/s")

# %%
# Left: the buckets. Right: what they cost and what they find.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
labels = list(results)
left.barh(labels, [results[k][0] for k in labels])
left.axvline(16, color="k", ls=":", label="16 rows aimed at")
left.set(xlabel="rows in the bucket a random row falls in", title="bucket sizes")
left.legend(fontsize=8)
for label in labels:
    _, recall, qps = results[label]
    right.scatter(recall, qps, s=60, label=label)
right.axhline(exact_qps, color="k", ls="--", label="exact brute force")
right.set(yscale="log", xlabel="recall@10", ylabel="queries / second",
          title="recall against speed")
right.legend(fontsize=7, loc="center left")
fig.tight_layout()
plt.show()

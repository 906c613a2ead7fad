"""
Quick start: approximate neighbours against exact search
========================================================

:class:`~sklearn_lsh.LSHNearestNeighbors` answers the same questions as
:class:`sklearn.neighbors.NearestNeighbors`. Its distances are exact; its
neighbour *sets* are approximate. Here both index the same 20000 clustered
points and answer the same 2000 queries; we compare the answers and the time.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHNearestNeighbors

X, _ = make_blobs(n_samples=22_000, n_features=64, centers=50, cluster_std=4.0,
                  random_state=0)
X = X.astype(np.float32)
X_train, X_query = X[:20_000], X[20_000:]

# %%
# Fit both and query both.
exact = NearestNeighbors(n_neighbors=10, algorithm="brute").fit(X_train)
start = time.perf_counter()
exact_dist, exact_ind = exact.kneighbors(X_query)
exact_seconds = time.perf_counter() - start

lsh = LSHNearestNeighbors(n_neighbors=10, random_state=0).fit(X_train)
start = time.perf_counter()
lsh_dist, lsh_ind = lsh.kneighbors(X_query)
lsh_seconds = time.perf_counter() - start

recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(lsh_ind, exact_ind)])
# ``fit`` tuned the query parameters for the default ``target_recall=0.9`` (or chose
# exact search, where hashing is not expected to win): what it chose, and why.
print(f"search_method_ = {lsh.search_method_!r}, operating_point_ = {lsh.operating_point_}")
print(f"estimated recall@10 {lsh.estimated_recall_:.3f}, "
      f"modelled speed-up {lsh.estimated_speedup_:.1f}x")
print(f"measured recall@10 = {recall:.3f}")
print(f"exact search {exact_seconds:.3f} s, sklearn-lsh {lsh_seconds:.3f} s")

# %%
# The distances the index returns are the exact distances of the neighbours it
# found, so a missed neighbour shows as a slightly larger k-th distance.
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(exact_dist[:, -1], lsh_dist[:, -1], s=6)
lim = [exact_dist[:, -1].min(), lsh_dist[:, -1].max()]
ax.plot(lim, lim, "k--", lw=1, label="found the true 10th neighbour")
ax.set(xlabel="exact 10th-neighbour distance", ylabel="LSH 10th-neighbour distance",
       title=f"recall@10 = {recall:.3f}")
ax.legend()
plt.show()

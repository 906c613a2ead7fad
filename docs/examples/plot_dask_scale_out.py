"""
Scaling out with Dask: a sharded index on a small LocalCluster
==============================================================

:class:`~sklearn_lsh.dask.DaskLSHNearestNeighbors` builds one LSH shard per row
chunk of a Dask array, on the worker that holds the chunk, and merges the
shards' answers by distance. Here a two-worker ``LocalCluster`` (threads in
this process, so the example runs in seconds) indexes 20000 clustered rows in
four chunks; we compare its answers with one machine's and with exact search.
On a real cluster only the ``Client`` line changes.
"""

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

from sklearn_lsh import LSHNearestNeighbors
from sklearn_lsh.dask import DaskLSHNearestNeighbors

cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                       dashboard_address=":0")
client = Client(cluster)

X, _ = make_blobs(n_samples=20_500, n_features=32, centers=60, cluster_std=3.0,
                  random_state=0)
X = X.astype(np.float32)
X_train, X_query = X[:20_000], X[20_000:]

# %%
# The rows as a Dask array of four row chunks (a real one would come from
# ``da.from_zarr`` or similar, its chunks already on the workers). ``fit`` draws
# a sample of one shard's size from every chunk, tunes the shared settings on
# it (``n_tables=6`` fixes the tables, so the tuning hashes rather than choosing
# exact search on shards this small), and builds the four shards on the workers.
dX = da.from_array(X_train, chunks=(5_000, 32))
sharded = DaskLSHNearestNeighbors(n_neighbors=10, n_tables=6, random_state=0).fit(dX)
print(f"{sharded.n_shards_} shards, search_method_ = {sharded.search_method_!r}, "
      f"estimated recall@10 on the sample {sharded.estimated_recall_:.3f}")
print("bytes held per shard (rows and index):", sharded.index_.nbytes)

# %%
# Queries are lazy: each query chunk goes to every shard, and the shards'
# answers are merged in a tree of tasks by (distance, row index).
dQ = da.from_array(X_query, chunks=(250, 32))
distances, indices = sharded.kneighbors(dQ)
print(indices)  # a Dask array, row chunks like dQ's
distances, indices = da.compute(distances, indices)

# %%
# The same rows on one machine, and exact search, for comparison.
local = LSHNearestNeighbors(n_neighbors=10, n_tables=6, random_state=0).fit(X_train)
local_distances, _ = local.kneighbors(X_query)
exact_distances, _ = NearestNeighbors(n_neighbors=10).fit(X_train).kneighbors(X_query)
true_kth = exact_distances[:, -1:] * (1 + 1e-3)
recalls = {"sharded (4 shards)": np.mean(distances <= true_kth),
           "one machine": np.mean(local_distances <= true_kth)}
for name, recall in recalls.items():
    print(f"{name}: recall@10 = {recall:.3f}")

# %%
# Every row's own neighbours, each row left out of its own list: one row chunk
# per shard.
_, self_indices = sharded.kneighbors()
print("row chunks:", self_indices.chunks[0])
print("any row its own neighbour?",
      bool((self_indices == da.arange(len(X_train))[:, None]).any().compute()))

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(list(recalls), list(recalls.values()))
ax.set_ylim(0, 1)
ax.set_ylabel("recall@10")
ax.set_title("The same search, sharded or not")
fig.tight_layout()

# %%
# Close the client and the cluster.
client.close()
cluster.close()

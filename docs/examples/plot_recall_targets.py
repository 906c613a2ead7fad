"""
Recall you can ask for: requested against measured recall
=========================================================

``target_recall`` makes ``fit`` tune the query parameters on sample queries
drawn from the training rows, and answer by exact search where hashing is not
expected to win. Here we ask for 0.8, 0.9, 0.95 and 0.99 on two generated data
sets and measure recall@10 on held-out queries with
:func:`~sklearn_lsh.measure_recall`.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_lsh import LSHNearestNeighbors, measure_recall


def embeddings(n_rows, seed):
    """Embedding-like rows: Zipf-sized clusters in a 16-d latent space, mapped to 64-d."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((300, 16))
    weights = 1.0 / np.arange(1, 301) ** 0.5
    cluster = rng.choice(300, size=n_rows, p=weights / weights.sum())
    latent = centres[cluster] + rng.standard_normal((n_rows, 16)) * rng.uniform(0.3, 1.0)
    mixing = rng.standard_normal((16, 64))
    return (latent @ mixing + 0.05 * rng.standard_normal((n_rows, 64))).astype(np.float32)


data_sets = {"embeddings, euclidean": (embeddings(40_500, 0), "euclidean"),
             "embeddings, cosine": (embeddings(40_500, 1), "cosine")}
targets = [0.8, 0.9, 0.95, 0.99]

# %%
# Fit once per target and data set; print what ``fit`` chose.
measured = {}
for name, (X, metric) in data_sets.items():
    X_train, X_query = X[:40_000], X[40_000:]
    measured[name] = []
    for target in targets:
        model = LSHNearestNeighbors(n_neighbors=10, metric=metric, target_recall=target,
                                    random_state=0).fit(X_train)
        measured[name].append(measure_recall(model, X_query))
        print(f"{name}, target {target}: {model.search_method_}, estimated "
              f"{model.estimated_recall_:.3f}, measured {measured[name][-1]:.3f}")

# %%
# Measured recall sits at or above the request (less the sampling error of the
# 200 sample queries the estimate comes from).
fig, ax = plt.subplots(figsize=(5, 4))
for name, values in measured.items():
    ax.plot(targets, values, "o-", label=name)
ax.plot([0.78, 1.0], [0.78, 1.0], "k--", lw=1, label="measured = requested")
ax.set(xlabel="target_recall", ylabel="measured recall@10 on held-out queries")
ax.legend()
plt.show()

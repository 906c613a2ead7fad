"""
TSNE on an approximate k-NN graph
=================================

TSNE, UMAP, Isomap and spectral methods start from a k-nearest-neighbour graph.
:class:`~sklearn_lsh.LSHKNeighborsTransformer` builds it approximately and hands
it to any estimator that accepts ``metric="precomputed"``, exactly as
:class:`sklearn.neighbors.KNeighborsTransformer` does for exact graphs.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.manifold import TSNE
from sklearn.neighbors import KNeighborsTransformer
from sklearn.pipeline import make_pipeline

from sklearn_lsh import LSHKNeighborsTransformer

X, y = load_digits(return_X_y=True)
perplexity = 30
n_neighbors = int(3 * perplexity + 1)  # what TSNE uses from the graph

embeddings = {}
for name, graph in [
    ("exact KNeighborsTransformer", KNeighborsTransformer(n_neighbors=n_neighbors,
                                                          mode="distance")),
    ("LSHKNeighborsTransformer", LSHKNeighborsTransformer(n_neighbors=n_neighbors,
                                                          random_state=0)),
]:
    pipeline = make_pipeline(graph, TSNE(metric="precomputed", perplexity=perplexity,
                                         init="random", random_state=0))
    embeddings[name] = pipeline.fit_transform(X)

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
for ax, (name, embedding) in zip(axes, embeddings.items()):
    ax.scatter(*embedding.T, c=y, cmap="tab10", s=4)
    ax.set(title=name, xticks=[], yticks=[])
plt.show()

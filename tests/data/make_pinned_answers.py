"""Writes ``pinned_answers.npz``: answers of the estimators on ``load_digits``.

``tests/test_pinned_answers.py`` checks that refactoring never changes them.
Regenerate only when a change of answers is intended, and say so in the commit:

    python tests/data/make_pinned_answers.py
"""

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits

from sklearn_lsh import (
    LSHKNeighborsClassifier,
    LSHKNeighborsRegressor,
    LSHKNeighborsTransformer,
    LSHNearestNeighbors,
)

PATH = Path(__file__).with_name("pinned_answers.npz")

#: Explicit settings (no "auto" search parameter), so the pins outlive changes of defaults.
SETTINGS = {
    "plain": dict(n_hyperplanes=7, n_tables=6, n_probes=4, n_candidates=30, n_cells=1,
                  n_cell_probes=1),
    "cells": dict(n_hyperplanes=4, n_tables=5, n_probes=3, n_candidates=40, n_cells=12,
                  n_cell_probes=2),
    "cosine": dict(n_hyperplanes=6, n_tables=4, n_probes=8, n_candidates=25, n_cells=1,
                   n_cell_probes=1, metric="cosine"),
}


def digits():
    X, y = load_digits(return_X_y=True)
    return X[:1500], X[1500:], y[:1500]


def answers():
    """Every pinned array, by name."""
    X, Q, y = digits()
    pinned = {}
    for name, settings in SETTINGS.items():
        for sparse in (False, True):
            tag = f"{name}_{'csr' if sparse else 'dense'}"
            Xs, Qs = (sp.csr_matrix(X), sp.csr_matrix(Q)) if sparse else (X, Q)
            nn = LSHNearestNeighbors(n_neighbors=10, random_state=0, **settings).fit(Xs)
            pinned[f"{tag}_dist"], pinned[f"{tag}_ind"] = nn.kneighbors(Qs)
            pinned[f"{tag}_self_ind"] = nn.kneighbors(n_neighbors=3, return_distance=False)
            radius = 20.0 if settings.get("metric", "euclidean") == "euclidean" else 0.05
            graph = nn.radius_neighbors_graph(Qs[:50], radius, mode="distance")
            pinned[f"{tag}_radius_indptr"] = graph.indptr
            pinned[f"{tag}_radius_indices"] = graph.indices
            pinned[f"{tag}_radius_data"] = graph.data
    settings = SETTINGS["cells"]
    grown = LSHNearestNeighbors(n_neighbors=10, random_state=0, **settings).fit(X[:1000])
    pinned["grown_ind"] = grown.partial_fit(X[1000:]).kneighbors(Q, return_distance=False)
    pinned["classifier_proba"] = LSHKNeighborsClassifier(
        random_state=0, weights="distance", **settings).fit(X, y).predict_proba(Q)
    pinned["regressor_predict"] = LSHKNeighborsRegressor(
        random_state=0, **settings).fit(X, y).predict(Q)
    graph = LSHKNeighborsTransformer(random_state=0, **settings).fit_transform(X)
    pinned["transformer_indices"], pinned["transformer_data"] = graph.indices, graph.data
    return pinned


if __name__ == "__main__":
    np.savez_compressed(PATH, **answers())
    print(f"wrote {PATH}")

"""The estimators in scikit-learn's workflows: model selection, pipelines, precomputed graphs."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.cluster import DBSCAN, SpectralClustering
from sklearn.datasets import load_digits
from sklearn.manifold import TSNE, Isomap
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_lsh import LSHKNeighborsClassifier, LSHKNeighborsTransformer

GRID = {"n_hyperplanes": [4, 8], "n_tables": [2, 8], "n_probes": [0, 4]}


@pytest.fixture(scope="module")
def digits_xy():
    """600 digits, jittered by at most 1e-3 so that no two distances tie: exact
    equivalence with scikit-learn is then free of tie-breaking conventions."""
    X, y = load_digits(return_X_y=True)
    X = X[:600] + np.random.RandomState(0).uniform(0, 1e-3, size=(600, 64))
    return X, y[:600]


def test_grid_search_over_hyperplanes_tables_and_probes(digits_xy):
    X, y = digits_xy
    grid = GridSearchCV(LSHKNeighborsClassifier(random_state=0), GRID, cv=3).fit(X, y)
    assert len(grid.cv_results_["params"]) == 8
    exact = cross_val_score(KNeighborsClassifier(), X, y, cv=3).mean()
    assert grid.best_score_ >= exact - 0.02
    assert set(grid.best_params_) == set(GRID)


def test_randomized_search_and_cross_val_score(digits_xy):
    X, y = digits_xy
    search = RandomizedSearchCV(LSHKNeighborsClassifier(random_state=0), GRID, n_iter=3,
                                cv=3, random_state=0).fit(X, y)
    assert len(search.cv_results_["params"]) == 3
    scores = cross_val_score(LSHKNeighborsClassifier(random_state=0), X, y, cv=3)
    exact = cross_val_score(KNeighborsClassifier(), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() >= exact.mean() - 0.02


def test_clone_keeps_parameters_and_drops_the_index(digits_xy):
    X, y = digits_xy
    clf = LSHKNeighborsClassifier(n_tables=3, random_state=1).fit(X, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "index_")


def test_pipeline_with_scaler(digits_xy):
    X, y = digits_xy
    lsh = make_pipeline(StandardScaler(), LSHKNeighborsClassifier(random_state=0))
    exact = make_pipeline(StandardScaler(), KNeighborsClassifier())
    score = lsh.fit(X[:450], y[:450]).score(X[450:], y[450:])
    assert score >= exact.fit(X[:450], y[:450]).score(X[450:], y[450:]) - 0.02


def exhaustive_transformer(n_neighbors, mode="distance"):
    return LSHKNeighborsTransformer(n_neighbors=n_neighbors, mode=mode, n_hyperplanes=1,
                                    n_tables=1, n_probes=1, n_candidates=1000,
                                    random_state=0)


def test_tsne_through_the_transformer_equals_tsne(digits_xy):
    X, _ = digits_xy
    X = X[:300]
    params = dict(init="random", perplexity=10, max_iter=250, random_state=0)
    n_neighbors = int(3.0 * 10 + 1)
    through = make_pipeline(exhaustive_transformer(n_neighbors),
                            TSNE(metric="precomputed", **params)).fit_transform(X)
    direct = TSNE(**params).fit_transform(X)
    assert_allclose(through, direct, atol=1e-3)


def test_default_transformer_feeds_tsne(digits_xy):
    X, _ = digits_xy
    emb = make_pipeline(LSHKNeighborsTransformer(n_neighbors=31, random_state=0),
                        TSNE(metric="precomputed", init="random", perplexity=10,
                             max_iter=250, random_state=0)).fit_transform(X)
    assert emb.shape == (len(X), 2) and np.isfinite(emb).all()


def test_isomap_through_the_transformer_equals_isomap_on_the_exact_graph(digits_xy):
    X, _ = digits_xy
    lsh = make_pipeline(exhaustive_transformer(10), Isomap(n_neighbors=10,
                                                           metric="precomputed"))
    exact = make_pipeline(KNeighborsTransformer(n_neighbors=10),
                          Isomap(n_neighbors=10, metric="precomputed"))
    assert_allclose(np.abs(lsh.fit_transform(X)), np.abs(exact.fit_transform(X)), atol=1e-6)


def test_dbscan_on_the_transformer_graph(digits_xy):
    X, _ = digits_xy
    lsh = make_pipeline(LSHKNeighborsTransformer(n_neighbors=10, random_state=0),
                        DBSCAN(eps=22.0, min_samples=5, metric="precomputed"))
    exact = DBSCAN(eps=22.0, min_samples=5)
    labels_lsh, labels_exact = lsh.fit_predict(X), exact.fit_predict(X)
    assert len(set(labels_exact)) > 2
    assert adjusted_rand_score(labels_exact, labels_lsh) > 0.8


def test_spectral_clustering_on_the_transformer_graph(digits_xy):
    X, y = digits_xy
    graph = LSHKNeighborsTransformer(n_neighbors=10, mode="connectivity",
                                     random_state=0).fit_transform(X)
    model = SpectralClustering(n_clusters=10, affinity="precomputed_nearest_neighbors",
                               n_neighbors=10, random_state=0)
    labels = model.fit_predict(graph)
    assert adjusted_rand_score(y, labels) > 0.5

"""Approximate nearest neighbors by locality-sensitive hashing, as scikit-learn estimators."""

from ._classification import LSHKNeighborsClassifier
from ._graph import LSHKNeighborsTransformer
from ._regression import LSHKNeighborsRegressor
from ._unsupervised import LSHNearestNeighbors

__version__ = "0.1.0"

__all__ = [
    "LSHKNeighborsClassifier",
    "LSHKNeighborsRegressor",
    "LSHKNeighborsTransformer",
    "LSHNearestNeighbors",
    "__version__",
]

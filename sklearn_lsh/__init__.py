"""Approximate nearest neighbors by locality-sensitive hashing, as scikit-learn estimators."""

from ._unsupervised import LSHNearestNeighbors

__version__ = "0.1.0"

__all__ = ["LSHNearestNeighbors", "__version__"]

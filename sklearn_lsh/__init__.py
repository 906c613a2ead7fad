"""Approximate nearest neighbors by locality-sensitive hashing, as scikit-learn estimators."""

from ._classification import LSHKNeighborsClassifier
from ._cross_polytope import CrossPolytopeFunctions
from ._evaluation import measure_recall
from ._graph import LSHKNeighborsTransformer
from ._hashing import HashFunctions
from ._lsh_index import LSHIndex, QuerySettings
from ._projection import HashSpace
from ._regression import LSHKNeighborsRegressor
from ._sketch import SignSketch
from ._unsupervised import LSHNearestNeighbors

__version__ = "0.2.0"

#: The names of this package's types, to trust when loading a file of it with skops:
#: ``skops.io.load(path, trusted=sklearn_lsh.SKOPS_TRUSTED_TYPES)``. Any other type
#: in the file is still refused.
SKOPS_TRUSTED_TYPES = [
    f"{cls.__module__}.{cls.__qualname__}"
    for cls in (LSHNearestNeighbors, LSHKNeighborsClassifier, LSHKNeighborsRegressor,
                LSHKNeighborsTransformer, LSHIndex, HashSpace, HashFunctions,
                CrossPolytopeFunctions, QuerySettings, SignSketch)
]

__all__ = [
    "LSHKNeighborsClassifier",
    "LSHKNeighborsRegressor",
    "LSHKNeighborsTransformer",
    "LSHNearestNeighbors",
    "HashFunctions",
    "CrossPolytopeFunctions",
    "HashSpace",
    "SignSketch",
    "LSHIndex",
    "QuerySettings",
    "SKOPS_TRUSTED_TYPES",
    "measure_recall",
    "__version__",
]

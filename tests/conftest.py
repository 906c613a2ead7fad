import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture(scope="session")
def digits():
    """``load_digits`` as float64, split into 1500 indexed rows and 297 queries."""
    X = load_digits().data.astype(np.float64)
    return X[:1500], X[1500:]


@pytest.fixture(scope="session")
def blobs():
    """Clustered 32-d float64 data (like embeddings), 3000 indexed rows and 200 queries."""
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=4.0, size=(30, 32))
    X = centres[rng.randint(30, size=3200)] + rng.normal(size=(3200, 32))
    return X[:3000], X[3000:]

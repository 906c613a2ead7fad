"""Benchmark data: the ann-benchmarks HDF5 layout, and embedded sets that need no download.

Every loader returns a :class:`Dataset` with float32 ``train`` and ``test`` arrays
and the metric; exact neighbours are computed in the benchmark run itself.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Dataset:
    name: str
    train: np.ndarray  # (n_train, n_features), float32
    test: np.ndarray  # (n_test, n_features), float32
    metric: str  # "euclidean" or "cosine"


def load_ann_benchmarks(path, n_test=None):
    """An ann-benchmarks HDF5 file: datasets ``train``, ``test``, attribute ``distance``.

    ``distance="angular"`` maps to ``metric="cosine"``. The stored ``neighbors``
    are not used: ground truth is recomputed with scikit-learn in the same run.
    """
    import h5py

    with h5py.File(path, "r") as f:
        distance = f.attrs.get("distance", "euclidean")
        distance = distance.decode() if isinstance(distance, bytes) else distance
        train = np.asarray(f["train"], dtype=np.float32)
        test = np.asarray(f["test"][:n_test], dtype=np.float32)
    metric = "cosine" if distance == "angular" else "euclidean"
    name = str(path).rsplit("/", 1)[-1].removesuffix(".hdf5")
    return Dataset(name, train, test, metric)


def gaussian(n_train=10_000, n_features=128, n_test=1000, seed=0):
    """The classic notebook's set: i.i.d. standard normal points (no structure at all)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_test, n_features), dtype=np.float32)
    return Dataset(f"gaussian-{n_train}x{n_features}", X[:n_train], X[n_train:], "euclidean")


def embeddings(n_train=100_000, n_features=96, n_test=1000, metric="euclidean", seed=0,
               n_clusters=1000, intrinsic_dim=24, separation=3.0):
    """Structured synthetic embeddings, built like real ones are shaped.

    Points are drawn from a mixture of ``n_clusters`` Gaussian clusters in an
    ``intrinsic_dim``-dimensional latent space (cluster sizes Zipf-distributed,
    each cluster with its own anisotropic spread), mapped to ``n_features``
    dimensions by one random linear map with a decaying spectrum, plus small
    isotropic noise, then shifted off the origin. Queries come from the same
    distribution. Generated in blocks, so 10^6 points need ~0.4 GB.
    """
    rng = np.random.default_rng(seed)
    shape = EmbeddingShape.draw(rng, n_features, n_clusters, intrinsic_dim, separation)
    n_total = n_train + n_test
    out = np.empty((n_total, n_features), dtype=np.float32)
    for start in range(0, n_total, 100_000):
        stop = min(start + 100_000, n_total)
        out[start:stop] = shape.rows(rng, stop - start)
    perm = rng.permutation(n_total)
    X = out[perm]
    return Dataset(f"embeddings-{n_train}x{n_features}-{metric}", X[:n_train], X[n_train:],
                   metric)


@dataclass(frozen=True)
class EmbeddingShape:
    """The mixture :func:`embeddings` draws from: fixed once, then sampled in blocks
    anywhere (``benchmarks/dask_bench.py`` draws each block on a Dask worker).

    Attributes
    ----------
    centres, spreads : ndarray of shape (n_clusters, intrinsic_dim)
    weights : ndarray of shape (n_clusters,)
        Zipf-like cluster probabilities.
    mixing : ndarray of shape (intrinsic_dim, n_features)
    offset : ndarray of shape (n_features,)
    """

    centres: np.ndarray
    spreads: np.ndarray
    weights: np.ndarray
    mixing: np.ndarray
    offset: np.ndarray

    @classmethod
    def draw(cls, rng, n_features, n_clusters=1000, intrinsic_dim=24, separation=3.0):
        centres = rng.standard_normal((n_clusters, intrinsic_dim)) * separation
        spreads = rng.uniform(0.3, 1.0, size=(n_clusters, intrinsic_dim))
        weights = 1.0 / np.arange(1, n_clusters + 1) ** 0.5
        weights /= weights.sum()
        spectrum = 1.0 / np.sqrt(np.arange(1, intrinsic_dim + 1))
        mixing = rng.standard_normal((intrinsic_dim, n_features)) * spectrum[:, None]
        offset = rng.uniform(1.0, 3.0, size=n_features)
        return cls(centres, spreads, weights, mixing, offset)

    def rows(self, rng, n_rows):
        """``n_rows`` points of the mixture, float32, of shape (n_rows, n_features)."""
        n_clusters, intrinsic_dim = self.centres.shape
        cluster = rng.choice(n_clusters, size=n_rows, p=self.weights)
        latent = self.centres[cluster] + rng.standard_normal((n_rows, intrinsic_dim)) * \
            self.spreads[cluster]
        noise = 0.05 * rng.standard_normal((n_rows, self.mixing.shape[1]))
        return (latent @ self.mixing + noise + self.offset).astype(np.float32)


def mixture(n_train=1_000_000, n_features=64, n_test=1000, n_clusters=2000, zipf=1.1,
            seed=0):
    """An anisotropic Gaussian mixture shaped unlike :func:`embeddings`.

    Cluster sizes follow Zipf's law with exponent ``zipf`` (the largest cluster
    holds ~10% of the rows, most hold a few dozen), each cluster has its own
    overall spread (log-uniform over a factor of 20) and its own axis lengths,
    turned by one of 8 random rotations; the clusters live in the full
    ``n_features`` dimensions. Generated in blocks of 10^5 rows.
    """
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.standard_normal((n_clusters, n_features))
    spreads = np.exp(rng.uniform(np.log(0.1), np.log(2.0), size=n_clusters))
    axes = rng.uniform(0.1, 1.0, size=(n_clusters, n_features)) * spreads[:, None]
    rotations = np.stack([np.linalg.qr(rng.standard_normal((n_features, n_features)))[0]
                          for _ in range(8)])
    weights = 1.0 / np.arange(1, n_clusters + 1) ** zipf
    weights /= weights.sum()
    n_total = n_train + n_test
    out = np.empty((n_total, n_features), dtype=np.float32)
    for start in range(0, n_total, 100_000):
        stop = min(start + 100_000, n_total)
        cluster = rng.choice(n_clusters, size=stop - start, p=weights)
        shaped = rng.standard_normal((stop - start, n_features)) * axes[cluster]
        turned = np.empty_like(shaped)
        for r in range(8):  # one matrix product per rotation, never per row
            rows = cluster % 8 == r
            turned[rows] = shaped[rows] @ rotations[r]
        out[start:stop] = centres[cluster] + turned
    perm = rng.permutation(n_total)
    X = out[perm]
    return Dataset(f"mixture-{n_train}x{n_features}-euclidean", X[:n_train], X[n_train:],
                   "euclidean")


def tfidf_text(n_docs=50_000, n_test=1000, n_words=20_000, n_topics=200, doc_length=60,
               seed=0):
    """Sparse TF-IDF rows of generated documents, compared by cosine.

    Each document mixes two of ``n_topics`` topics; a topic is a Zipf-weighted
    distribution over its own share of a ``n_words`` vocabulary plus common
    words. The counts go through scikit-learn's ``TfidfTransformer``: CSR rows
    of about ``doc_length`` non-zeros, like bag-of-words text.
    """
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    n_total = n_docs + n_test
    ranks = 1.0 / np.arange(1, n_words + 1) ** 1.1
    topic_words = [rng.choice(n_words, size=400, replace=False, p=ranks / ranks.sum())
                   for _ in range(n_topics)]
    topics = rng.integers(n_topics, size=(n_total, 2))
    rows, columns = [], []
    for part in range(2):  # words from each document's two topics, vectorised per part
        words = np.stack(topic_words)[topics[:, part]]
        chosen = rng.integers(400, size=(n_total, doc_length // 2))
        rows.append(np.repeat(np.arange(n_total), doc_length // 2))
        columns.append(np.take_along_axis(words, chosen, axis=1).ravel())
    common = rng.choice(n_words, size=(n_total, 10), p=ranks / ranks.sum())
    rows.append(np.repeat(np.arange(n_total), 10))
    columns.append(common.ravel())
    counts = sp.csr_matrix((np.ones(sum(r.size for r in rows), dtype=np.float32),
                            (np.concatenate(rows), np.concatenate(columns))),
                           shape=(n_total, n_words))
    counts.sum_duplicates()
    X = TfidfTransformer().fit_transform(counts).astype(np.float32).tocsr()
    return Dataset(f"tfidf-text-{n_docs}x{n_words}-cosine", X[:n_docs], X[n_docs:], "cosine")


def digits():
    """scikit-learn's ``load_digits`` (1797 x 64): 1500 indexed, 297 queries."""
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float32)
    return Dataset("digits-1500x64", X[:1500], X[1500:], "euclidean")


def word_embeddings(language="en", n_train=100_000, n_test=1000, seed=0):
    """Real embeddings: the most frequent words of a language, embedded by a small
    sentence-embedding model, compared by cosine.

    The words are ``wordfreq``'s frequency list; the model is WordLlama's
    ``l2_supercat`` (256 dimensions: token embeddings of a large language model,
    distilled for sentence similarity and mean-pooled), whose weights ship inside
    its PyPI wheel. Queries are words drawn at random from the same list, so they
    come from the same distribution as the indexed rows. Needs
    ``pip install -e ".[words]"``; no download beyond PyPI.
    """
    from pathlib import Path

    import wordllama
    from wordfreq import top_n_list

    model = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent,
                                     disable_download=True)
    words = np.array(top_n_list(language, n_train + n_test))
    rng = np.random.default_rng(seed)
    words = words[rng.permutation(words.size)]
    X = np.asarray(model.embed(list(words), norm=False), dtype=np.float32)
    return Dataset(f"words-{language}-{n_train}x{X.shape[1]}-cosine", X[:n_train],
                   X[n_train:], "cosine")


def word_trigrams(language="en", n_train=100_000, n_test=1000, seed=0):
    """Real sparse text: character-trigram TF-IDF rows of a language's most frequent
    words (``wordfreq``'s list, padded with spaces), compared by cosine.

    Needs ``pip install -e ".[words]"``. Queries are words drawn at random from the
    same list.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from wordfreq import top_n_list

    words = np.array(top_n_list(language, n_train + n_test))
    rng = np.random.default_rng(seed)
    words = words[rng.permutation(words.size)]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), dtype=np.float32)
    X = vectorizer.fit_transform(words).tocsr()
    return Dataset(f"trigrams-{language}-{n_train}x{X.shape[1]}-cosine", X[:n_train],
                   X[n_train:], "cosine")

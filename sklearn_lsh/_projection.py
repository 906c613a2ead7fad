"""The hash space: rows rescaled, normalised for cosine, centred and projected.

The hash space is fitted once on (a sample of) the training data:

* rows are divided by a power of two that brings their largest magnitude near
  1 (:func:`data_scale`), so squares neither overflow nor underflow;
* rows are L2-normalised when the metric is cosine;
* rows are centred on the training mean (hyperplanes through the origin are
  badly placed for all-positive data such as pixels or counts);
* sparse rows wider than ``SKETCH_COLUMNS`` are first hashed into that many
  columns (feature hashing with random signs, a count sketch): it keeps inner
  products in expectation, and the memory of the hash space then follows the
  non-zeros of the data, not its width;
* rows are projected on the leading principal axes of a training sample.
  The projection is orthonormal, so (without a sketch) distances in it never
  exceed the true (centred, normalised) distances: they serve as a cheap
  lower bound for pre-ranking and pruning candidates.

Nothing here knows about hash tables or estimators.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import safe_sparse_dot

from ._threads import one_blas_thread

#: Most principal axes the hash space keeps (fewer when the data has fewer features).
N_COMPONENTS = 48
#: The hash space keeps the fewest leading axes explaining this share of the variance
#: (up to ``N_COMPONENTS``): axes of pure noise only blur the hash and the pre-ranking.
EXPLAINED_VARIANCE = 0.999
#: Training rows used to fit the principal axes.
N_AXIS_SAMPLES = 4000
#: Data whose largest magnitude is within ``2**±SAFE_EXPONENT`` is hashed as it is.
SAFE_EXPONENT = 32
#: Sparse data wider than this is first hashed into this many columns.
SKETCH_COLUMNS = 2**12
#: Projected coordinates are clipped to this magnitude, so their squares (and sums
#: of them) stay finite in float32 even for a query far beyond the training data.
PROJECTED_LIMIT = 2.0**60


@dataclass(frozen=True, eq=False)
class HashSpace:
    """A fitted projection of rows onto a few principal axes.

    Attributes
    ----------
    metric : {"euclidean", "cosine"}
        Cosine rows are L2-normalised before centring.
    scale : float
        A power of two every row is divided by first (see :func:`data_scale`).
    mean : ndarray of shape (n_features,), float64
        Mean of the prepared training rows.
    axes : ndarray of shape (n_features, n_components), float64
        Orthonormal principal axes.
    axis_scales : ndarray of shape (n_components,), float64
        Standard deviation of the training rows along each axis.
    sketch : ndarray of shape (4,), uint64, or None
        For wide sparse data, the seeds of the column hashing applied before
        the projection (see :func:`sketch_columns`); ``None`` otherwise.
    """

    metric: str
    scale: float
    mean: np.ndarray
    axes: np.ndarray
    axis_scales: np.ndarray
    sketch: np.ndarray = None

    @classmethod
    def fit(cls, X, metric, random_state, max_components=N_COMPONENTS):
        """Fit the hash space to the rows of ``X``.

        Parameters
        ----------
        X : ndarray or CSR matrix of shape (n_samples, n_features)
        metric : {"euclidean", "cosine"}
        random_state : numpy.random.RandomState
            Draws the sample of at most ``N_AXIS_SAMPLES`` rows the axes are
            fitted on, and the randomized range finder.
        max_components : int
            Most axes kept (a *wide* space, for sign sketches, keeps more than
            the default ``N_COMPONENTS``).

        Returns
        -------
        HashSpace
            With the fewest leading axes that explain ``EXPLAINED_VARIANCE``
            of the variance, at most ``max_components``.
        """
        scale = data_scale(X)
        n_samples, n_features = X.shape
        n_axis_samples = min(n_samples, N_AXIS_SAMPLES)
        sample = np.sort(random_state.choice(n_samples, n_axis_samples, replace=False))
        rows = prepare_rows(X[sample], metric, scale)
        sketch = None
        if sp.issparse(X) and n_features > SKETCH_COLUMNS:
            sketch = random_state.randint(0, 2**63, size=4).astype(np.uint64) * 2 + 1
            rows = sketch_columns(rows, sketch)
            n_features = SKETCH_COLUMNS
        n_components = min(max_components, n_features, n_axis_samples)
        mean, axes, axis_scales = fit_principal_axes(rows, n_components, random_state)
        kept = informative_components(axis_scales, total_variance(rows), EXPLAINED_VARIANCE)
        return cls(metric=metric, scale=scale, mean=mean, axes=axes[:, :kept],
                   axis_scales=axis_scales[:kept], sketch=sketch)

    @property
    def n_components(self):
        return self.axes.shape[1]

    @property
    def lower_bounds(self):
        """Whether projected distances never exceed the true ones (no sketch)."""
        return self.sketch is None

    def project(self, X):
        """Rows of ``X`` in the hash space.

        Parameters
        ----------
        X : ndarray or CSR matrix of shape (n_rows, n_features)

        Returns
        -------
        ndarray of shape (n_rows, n_components), float32
        """
        rows = prepare_rows(X, self.metric, self.scale)
        if self.sketch is not None:
            rows = sketch_columns(rows, self.sketch)
        return project(rows, self.mean, self.axes)


def sketch_columns(X, seeds, n_columns=SKETCH_COLUMNS):
    """Add each column of sparse ``X``, with a random sign, into one of ``n_columns``.

    Column ``j`` goes to column ``h(j)`` with sign ``s(j)``, both from
    multiply-shift hashes of ``j`` seeded by ``seeds``: nothing of size
    ``n_features`` is stored, and the work is proportional to the non-zeros.

    Parameters
    ----------
    X : CSR matrix of shape (n_rows, n_features)
    seeds : ndarray of shape (4,), uint64, odd
    n_columns : int
        A power of two.

    Returns
    -------
    CSR matrix of shape (n_rows, n_columns), same dtype as ``X``
    """
    X = sp.csr_matrix(X)
    columns = X.indices.astype(np.uint64)
    shift = np.uint64(64 - int(np.log2(n_columns)))
    with np.errstate(over="ignore"):  # multiply-shift hashing wraps around by design
        buckets = ((seeds[0] * columns + seeds[1]) >> shift).astype(np.int32)
        negative = ((seeds[2] * columns + seeds[3]) >> np.uint64(63)).astype(bool)
    values = np.where(negative, -X.data, X.data)
    sketched = sp.csr_matrix((values, buckets, X.indptr.copy()), shape=(X.shape[0], n_columns))
    sketched.sum_duplicates()
    return sketched


def data_scale(X):
    """A power of two that brings the largest magnitude of ``X`` near 1.

    Values around 1e30 overflow (and around 1e-30 underflow) when squared in
    float32; hashing ``X / scale`` instead avoids both, and dividing by a power
    of two is exact.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_features)

    Returns
    -------
    float
        1.0 when the data is already in a safe range, else ``2**e``.
    """
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return 1.0
    peak = max(float(values.max()), -float(values.min()))
    if peak == 0 or 2.0**-SAFE_EXPONENT <= peak <= 2.0**SAFE_EXPONENT:
        return 1.0
    # 1 / scale must be a normal number of the data's dtype too.
    limit = np.finfo(values.dtype).maxexp - 8
    exponent = np.clip(np.round(np.log2(peak)), -limit, limit)
    return float(2.0**exponent)


def prepare_rows(X, metric, scale=1.0):
    """Rows as the hash space sees them: divided by ``scale``, then L2-normalised for cosine.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_features)
    metric : {"euclidean", "cosine"}
    scale : float
        A power of two from :func:`data_scale`.

    Returns
    -------
    ndarray or CSR matrix of shape (n_rows, n_features), a new array when it
    differs from ``X``; ``X`` itself is never modified. Zero rows stay zero.
    """
    if scale != 1.0:
        X = X * (1.0 / scale)
    if metric == "cosine":
        return normalize(X, copy=True)
    return X


def fit_principal_axes(X, n_components, random_state, *, n_iter=4):
    """Mean and leading principal axes of ``X`` (dense or CSR) without densifying it.

    A randomized range finder (Halko et al. 2011) on the implicitly centred
    matrix, so CSR input stays sparse.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_features)
    n_components : int
        Number of axes, at most ``min(n_rows, n_features)``.
    random_state : numpy.random.RandomState
    n_iter : int
        Power iterations.

    Returns
    -------
    mean : ndarray of shape (n_features,), float64
    axes : ndarray of shape (n_features, n_components), float64, orthonormal columns
    scales : ndarray of shape (n_components,), float64
        Standard deviation of the data along each axis (0 for a constant axis).
    """
    n_rows, n_features = X.shape
    mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
    n_oversampled = min(n_components + 10, n_rows, n_features)

    def centred_times(M):  # (X - mean) @ M
        return safe_sparse_dot(X, M) - np.outer(np.ones(n_rows), mean @ M)

    def centred_t_times(M):  # (X - mean).T @ M
        return safe_sparse_dot(X.T, M) - np.outer(mean, M.sum(axis=0))

    basis = random_state.standard_normal((n_features, n_oversampled))
    # Factorisations of thin matrices gain nothing from BLAS threads, and lose
    # up to 10x when another process keeps the cores busy (threads spin).
    with one_blas_thread():
        range_basis, _ = np.linalg.qr(centred_times(basis))
        for _ in range(n_iter):
            basis, _ = np.linalg.qr(centred_t_times(range_basis))
            range_basis, _ = np.linalg.qr(centred_times(basis))
        small = centred_t_times(range_basis).T  # (n_oversampled, n_features)
        _, singular_values, vt = np.linalg.svd(small, full_matrices=False)
    axes = vt[:n_components].T
    scales = singular_values[:n_components] / np.sqrt(max(n_rows - 1, 1))
    return mean, axes, scales


def project(X, mean, axes):
    """Coordinates of centred rows on the principal axes.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_features)
    mean : ndarray of shape (n_features,)
    axes : ndarray of shape (n_features, n_components)

    Returns
    -------
    ndarray of shape (n_rows, n_components), float32
    """
    axes = axes.astype(X.dtype, copy=False)
    projected = safe_sparse_dot(X, axes, dense_output=True)
    projected -= (mean @ axes).astype(projected.dtype)
    np.clip(projected, -PROJECTED_LIMIT, PROJECTED_LIMIT, out=projected)
    return np.asarray(projected, dtype=np.float32)


def informative_components(scales, total_variance, fraction):
    """Fewest leading principal axes that explain ``fraction`` of the variance.

    Parameters
    ----------
    scales : ndarray of shape (n_components,)
        Standard deviation along each axis, descending.
    total_variance : float
        Sum of the variances of all features.
    fraction : float
        In (0, 1].

    Returns
    -------
    int
        Between 1 and ``n_components``; ``n_components`` when even all of them
        explain less.
    """
    explained = np.cumsum(scales**2)
    if total_variance <= 0:
        return max(1, int(np.count_nonzero(scales > 0)))
    enough = np.flatnonzero(explained >= fraction * total_variance)
    return int(enough[0]) + 1 if enough.size else scales.shape[0]


def total_variance(X):
    """Sum of the feature variances of ``X`` (dense or CSR), without densifying it."""
    n_rows = X.shape[0]
    mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
    if sp.issparse(X):
        sum_sq = float(X.multiply(X).sum())
    else:
        sum_sq = float(np.einsum("ij,ij->", X, X, dtype=np.float64))
    return max(sum_sq - n_rows * float(mean @ mean), 0.0) / max(n_rows - 1, 1)

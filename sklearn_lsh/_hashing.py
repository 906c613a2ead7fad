"""Random-hyperplane hash family: hash space, sign-bit keys and probe sequences.

Nothing here knows about scikit-learn estimators; every function takes and
returns plain arrays.

The hash space is fitted once on the training data:

* rows are L2-normalised first when the metric is cosine;
* rows are centred on the training mean (hyperplanes through the origin are
  badly placed for all-positive data such as pixels or counts);
* rows are projected on the leading principal axes of a training sample.
  The projection is orthonormal, so distances in it never exceed the true
  (centred, normalised) distances: they serve as a cheap lower bound for
  pre-ranking and pruning candidates;
* hyperplanes are Gaussian in a *half-whitened* projection (each principal
  coordinate divided by the square root of its standard deviation). Raw
  principal coordinates put most hyperplanes across the few dominant axes and
  the buckets are uneven; full whitening balances the buckets but gives the
  low-variance axes, which matter little to a distance, as many hyperplanes as
  the dominant ones. On fashion-mnist the half-way point finds more true
  neighbours per candidate than either end.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import safe_sparse_dot

#: Largest number of bits one uint64 key holds.
MAX_BITS = 64

#: Probing flips subsets of at most this many lowest-margin bits per table.
MAX_PROBE_BITS = 10


#: Data whose largest magnitude is within ``2**±SAFE_EXPONENT`` is hashed as it is.
SAFE_EXPONENT = 32


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
    exponent = np.clip(np.round(np.log2(peak)), -120, 120)
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
    range_basis, _ = np.linalg.qr(centred_times(basis))
    for _ in range(n_iter):
        basis, _ = np.linalg.qr(centred_t_times(range_basis))
        range_basis, _ = np.linalg.qr(centred_times(basis))
    small = centred_t_times(range_basis).T  # (n_oversampled, n_features)
    _, singular_values, vt = np.linalg.svd(small, full_matrices=False)
    axes = vt[:n_components].T
    scales = singular_values[:n_components] / np.sqrt(max(n_rows - 1, 1))
    return mean, axes, scales


#: Exponent of the axis scales the hyperplanes are divided by (1 = full whitening).
WHITENING_POWER = 0.5


def draw_hyperplanes(scales, n_tables, n_bits, random_state):
    """Gaussian hyperplane normals in the half-whitened projection.

    Parameters
    ----------
    scales : ndarray of shape (n_components,)
        Standard deviation along each projected axis.
    n_tables, n_bits : int
    random_state : numpy.random.RandomState

    Returns
    -------
    ndarray of shape (n_components, n_tables * n_bits), float32
        Column ``t * n_bits + b`` is bit ``b`` of table ``t``, already divided
        by ``scales ** WHITENING_POWER``, so ``projected @ hyperplanes`` are the
        margins in the half-whitened space.
    """
    normals = random_state.standard_normal((scales.shape[0], n_tables * n_bits))
    safe_scales = np.where(scales > 0, scales, 1.0) ** WHITENING_POWER
    return (normals / safe_scales[:, None]).astype(np.float32)


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
    return np.asarray(projected, dtype=np.float32)


def hash_keys(margins, n_tables, n_bits):
    """Pack sign bits into one uint64 key per table.

    Parameters
    ----------
    margins : ndarray of shape (n_rows, n_tables * n_bits)
        Signed distances to the hyperplanes.
    n_tables, n_bits : int

    Returns
    -------
    ndarray of shape (n_tables, n_rows), uint64
    """
    bits = (margins > 0).reshape(-1, n_tables, n_bits)
    weights = np.left_shift(np.uint64(1), np.arange(n_bits, dtype=np.uint64))
    keys = np.bitwise_or.reduce(np.where(bits, weights, np.uint64(0)), axis=2)
    return np.ascontiguousarray(keys.T)


def cell_keys(margins, cells, cell_bits, n_tables, n_bits):
    """Keys of rows hashed within their cells: the cell number above the sign bits.

    Parameters
    ----------
    margins : ndarray of shape (n_rows, n_tables * n_bits)
        Signed distances to the hyperplanes through each row's cell centroid.
    cells : ndarray of shape (n_rows,), int
    cell_bits : ndarray of shape (n_cells,), int
        Sign bits each cell keeps (its lowest ``cell_bits[c]``; the rest are 0).
    n_tables, n_bits : int
        ``n_bits`` plus the bits of the largest cell number is at most 64.

    Returns
    -------
    ndarray of shape (n_tables, n_rows), uint64
    """
    keys = hash_keys(margins, n_tables, n_bits)
    kept_bits = np.minimum(cell_bits, n_bits)[cells].astype(np.uint64)
    all_ones = np.uint64(2**64 - 1)
    masks = np.where(kept_bits >= MAX_BITS, all_ones,
                     (np.uint64(1) << (kept_bits % np.uint64(MAX_BITS))) - np.uint64(1))
    keys &= masks
    if n_bits < MAX_BITS:
        keys |= cells.astype(np.uint64) << np.uint64(n_bits)
    return keys


def probe_keys(keys, margins, n_tables, n_bits, n_probes, n_usable_bits=None):
    """Query-directed multi-probe sequence (Lv et al. 2007).

    Besides its own bucket, each query visits the ``n_probes`` buckets reached
    by flipping the subsets of bits with the smallest total squared margin.
    Only the ``min(n_bits, n_probes, MAX_PROBE_BITS)`` lowest-margin bits are
    considered; for ``n_probes <= MAX_PROBE_BITS`` that is exact, since a
    subset holding a higher-ranked bit scores no better than each of the
    singletons of the lower ones.

    Parameters
    ----------
    keys : ndarray of shape (n_tables, n_queries), uint64
    margins : ndarray of shape (n_queries, n_tables * n_bits)
    n_tables, n_bits, n_probes : int
    n_usable_bits : ndarray of shape (n_queries,) or None
        Bits at or above ``n_usable_bits[i]`` are not part of query ``i``'s key
        (see :func:`cell_keys`): they are flipped only after every other subset.

    Returns
    -------
    ndarray of shape (n_tables, n_queries, 1 + n_probes'), uint64
        The query's own key first, then its probes in order of increasing score;
        ``n_probes' = min(n_probes, 2**n_flip_bits - 1)``.
    """
    n_flip_bits = min(n_bits, n_probes, MAX_PROBE_BITS)
    if n_flip_bits == 0:
        return keys[:, :, None]
    n_queries = keys.shape[1]
    strength = np.abs(margins).reshape(n_queries, n_tables, n_bits)
    if n_usable_bits is not None:
        unusable = np.arange(n_bits) >= np.asarray(n_usable_bits)[:, None, None]
        strength = np.where(unusable, _NEVER_FLIPPED, strength)
    lowest = np.argsort(strength, axis=2, kind="stable")[:, :, :n_flip_bits]
    lowest_sq = np.take_along_axis(strength, lowest, axis=2) ** 2

    subsets = _nonempty_subsets(n_flip_bits)  # (n_subsets, n_flip_bits)
    n_chosen = min(n_probes, subsets.shape[0])
    scores = lowest_sq @ subsets.T.astype(lowest_sq.dtype)  # (nq, nt, n_subsets)
    chosen = np.argsort(scores, axis=2, kind="stable")[:, :, :n_chosen]

    bit_values = np.left_shift(np.uint64(1), lowest.astype(np.uint64))
    flips = np.where(subsets[chosen], bit_values[:, :, None, :], np.uint64(0))
    flip_masks = np.bitwise_or.reduce(flips, axis=3)  # (nq, nt, n_chosen)
    probes = keys.T[:, :, None] ^ flip_masks
    own_and_probes = np.concatenate([keys.T[:, :, None], probes], axis=2)
    return np.ascontiguousarray(own_and_probes.transpose(1, 0, 2))


#: Margin given to bits outside a key; its square, summed over MAX_PROBE_BITS bits,
#: stays finite in float32.
_NEVER_FLIPPED = np.float32(1e15)


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


def _nonempty_subsets(n_items):
    """Boolean membership matrix of shape (2**n_items - 1, n_items)."""
    codes = np.arange(1, 2**n_items)
    return ((codes[:, None] >> np.arange(n_items)) & 1).astype(bool)


"""Sign sketches: many random-hyperplane sign bits per row, compared by Hamming distance.

Two rows fall on the same side of a random hyperplane through the origin with
probability ``1 - angle / pi`` (Charikar's SimHash), so the number of bits in
which two sketches of ``n_bits`` signs differ estimates the angle between the
rows, and ranks candidates for a tenth of the memory a projected row takes
(256 bits: 32 bytes a row). Rows are sketched in the hash space of
:mod:`sklearn_lsh._projection` (centred, normalised for cosine).

Nothing here knows about hash tables or estimators.
"""

from dataclasses import dataclass

import numpy as np

#: Sign bits of a sketch (a multiple of 64).
N_SKETCH_BITS = 256
#: Rows sketched at once (bounds the margins' memory: rows x bits).
SKETCH_BLOCK = 2**14

_BYTE_POPCOUNT = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.uint8)


@dataclass(frozen=True, eq=False)
class SignSketch:
    """Gaussian hyperplanes whose signs make each row's sketch.

    Attributes
    ----------
    planes : ndarray of shape (n_components, n_bits), float32
        Normals in the hash space (isotropic: the sketch estimates angles).
    """

    planes: np.ndarray

    @classmethod
    def draw(cls, n_components, random_state, n_bits=N_SKETCH_BITS):
        """Draw ``n_bits`` Gaussian normals in a space of ``n_components`` dimensions."""
        planes = random_state.standard_normal((n_components, n_bits)).astype(np.float32)
        return cls(planes=planes)

    @property
    def n_bits(self):
        return self.planes.shape[1]

    @property
    def nbytes(self):
        return self.planes.nbytes

    def codes(self, projected):
        """Every row's sketch, packed.

        Parameters
        ----------
        projected : ndarray of shape (n_rows, n_components), float32

        Returns
        -------
        ndarray of shape (n_bits // 64, n_rows), uint64
            Word-major (one row of words per 64 bits: gathering one word of many
            rows is several times faster than gathering whole sketches). Bit
            ``b % 64`` of word ``b // 64`` is set when the row's margin to normal
            ``b`` is positive.
        """
        n_rows = projected.shape[0]
        codes = np.empty((n_rows, self.n_bits // 8), dtype=np.uint8)
        for start in range(0, n_rows, SKETCH_BLOCK):  # blocks of rows, never one per row
            rows = slice(start, min(start + SKETCH_BLOCK, n_rows))
            codes[rows] = np.packbits(projected[rows] @ self.planes > 0, axis=1,
                                      bitorder="little")
        return np.ascontiguousarray(codes.view(np.uint64).T)


def hamming_distances(query_codes, codes, candidates):
    """Bits in which each query's sketch differs from each of its candidates'.

    Parameters
    ----------
    query_codes : ndarray of shape (n_words, n_queries), uint64
    codes : ndarray of shape (n_words, n_rows), uint64
    candidates : ndarray of shape (n_queries, width)
        Row numbers (columns of ``codes``), ``-1`` for empty slots.

    Returns
    -------
    ndarray of shape (n_queries, width), float32
        ``inf`` in empty slots.
    """
    safe = np.maximum(candidates, 0)
    distances = np.zeros(candidates.shape, dtype=np.uint16)
    for word, query_word in zip(codes, query_codes):  # a pass per 64 bits, never per row
        differ = np.take(word, safe)
        np.bitwise_xor(differ, query_word[:, None], out=differ)
        distances += popcount(differ)
    distances = distances.astype(np.float32)
    distances[candidates < 0] = np.inf
    return distances


def popcount(words):
    """Set bits of each uint64 in ``words``, as uint8 of the same shape."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words)
    return _popcount_by_bytes(words)


def _popcount_by_bytes(words):
    """:func:`popcount` by a table of the 256 bytes (numpy < 2.0)."""
    as_bytes = _BYTE_POPCOUNT[np.ascontiguousarray(words).view(np.uint8)]
    return as_bytes.reshape(*words.shape, 8).sum(axis=-1, dtype=np.uint8)

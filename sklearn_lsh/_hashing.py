"""Random-hyperplane hash family: sign-bit keys and probe sequences.

Nothing here knows about scikit-learn; every function takes and returns plain
numpy arrays. Rows are hashed in the hash space of :mod:`sklearn_lsh._projection`.

Hyperplanes are Gaussian in a *half-whitened* projection (each principal
coordinate divided by the square root of its standard deviation). Raw
principal coordinates put most hyperplanes across the few dominant axes and
the buckets are uneven; full whitening balances the buckets but gives the
low-variance axes, which matter little to a distance, as many hyperplanes as
the dominant ones. On fashion-mnist the half-way point finds more true
neighbours per candidate than either end.
"""

from dataclasses import dataclass, field

import numpy as np

#: Largest number of bits one uint64 key holds.
MAX_BITS = 64

#: Probing flips subsets of at most this many lowest-margin bits per table.
MAX_PROBE_BITS = 10

#: Rows hashed at once (bounds the margins' memory: rows x tables x bits).
HASH_BLOCK = 2**15


@dataclass(frozen=True, eq=False)
class HashFunctions:
    """The fitted hash functions: cells and the hyperplanes through their centroids.

    Row ``i`` of cell ``c`` has, in table ``t``, the key holding ``c`` above the
    signs of its lowest ``cell_bits[c]`` margins to hyperplanes
    ``t * n_bits ... t * n_bits + n_bits - 1`` through centroid ``c`` (see
    :func:`cell_keys`). One cell at the origin is plain random-hyperplane LSH.

    Attributes
    ----------
    hyperplanes : ndarray of shape (n_components, n_tables * n_bits), float32
        Normals, from :func:`draw_hyperplanes`.
    centroids : ndarray of shape (n_cells, n_components), float32
        Cell centroids in the hash space.
    cell_bits : ndarray of shape (n_cells,), int64
        Sign bits each cell's keys use, at most ``n_bits``.
    n_tables : int
    centroid_margins : ndarray of shape (n_cells, n_tables * n_bits), float32
        ``centroids @ hyperplanes``, derived.
    """

    hyperplanes: np.ndarray
    centroids: np.ndarray
    cell_bits: np.ndarray
    n_tables: int
    centroid_margins: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "centroid_margins", self.centroids @ self.hyperplanes)

    @property
    def n_bits(self):
        """Hyperplanes per table (the most bits any cell uses)."""
        return self.hyperplanes.shape[1] // self.n_tables

    @property
    def n_cells(self):
        return self.centroids.shape[0]

    @property
    def n_projections(self):
        """Projections a row is hashed by (query cost: components x these)."""
        return self.hyperplanes.shape[1]

    @property
    def max_probes(self):
        """Most probes per table a query can use (subsets of ``MAX_PROBE_BITS`` bits)."""
        return 2 ** min(self.n_bits, MAX_PROBE_BITS) - 1

    @property
    def max_dropped_bits(self):
        """Key bits a lookup may ignore (a shorter key is a prefix)."""
        return self.n_bits

    def with_tables(self, n_tables):
        """These functions restricted to the first ``n_tables`` tables (a copy of their
        hyperplanes: the others' memory is not kept)."""
        return type(self)(hyperplanes=np.ascontiguousarray(
                              self.hyperplanes[:, :n_tables * self.n_bits]),
                          centroids=self.centroids, cell_bits=self.cell_bits,
                          n_tables=n_tables)

    @property
    def nbytes(self):
        return sum(a.nbytes for a in (self.hyperplanes, self.centroids, self.cell_bits,
                                      self.centroid_margins))

    def keys(self, projected, cells):
        """Every row's key in every table.

        Parameters
        ----------
        projected : ndarray of shape (n_rows, n_components), float32
        cells : ndarray of shape (n_rows,), int
            The cell each row is hashed in.

        Returns
        -------
        ndarray of shape (n_tables, n_rows), uint64
            Rows are hashed in blocks, so the margins never exist for all rows at once.
        """
        n_rows = projected.shape[0]
        keys = np.empty((self.n_tables, n_rows), dtype=np.uint64)
        for start in range(0, n_rows, HASH_BLOCK):  # blocks of rows, never one per row
            rows = slice(start, min(start + HASH_BLOCK, n_rows))
            margins = projected[rows] @ self.hyperplanes - self.centroid_margins[cells[rows]]
            keys[:, rows] = cell_keys(margins, cells[rows], self.cell_bits, self.n_tables,
                                      self.n_bits)
        return keys

    def probe_keys(self, projected, nearest_cells, n_probes, n_dropped_bits=0):
        """The keys a query visits: its own and ``n_probes`` more per table, in each cell.

        Parameters
        ----------
        projected : ndarray of shape (n_queries, n_components), float32
        nearest_cells : ndarray of shape (n_queries, n_cell_probes), int
            The cells each query visits.
        n_probes : int
        n_dropped_bits : int
            Lowest bits the lookup ignores (see ``bucket_bounds``): probes flip
            only the others.

        Returns
        -------
        ndarray of shape (n_tables, n_queries, n_cell_probes * (1 + n_probes')), uint64
            For each visited cell in turn, the query's key, then its probes in
            order of increasing score (see :func:`probe_keys`).
        """
        margins = projected @ self.hyperplanes
        visited = []
        for cells in nearest_cells.T:  # one pass per visited cell, never per query
            cell_margins = margins - self.centroid_margins[cells]
            keys = cell_keys(cell_margins, cells, self.cell_bits, self.n_tables, self.n_bits)
            visited.append(probe_keys(keys, cell_margins, self.n_tables, self.n_bits,
                                      n_probes, n_usable_bits=self.cell_bits[cells],
                                      n_dropped_bits=n_dropped_bits))
        return np.concatenate(visited, axis=2)


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
    # Bit b of a key is bit b % 8 of its byte b // 8: pack, pad to 8 bytes, and
    # read each row of bytes as one little-endian integer.
    packed = np.packbits(bits, axis=2, bitorder="little")
    key_bytes = np.zeros(bits.shape[:2] + (8,), dtype=np.uint8)
    key_bytes[:, :, :packed.shape[2]] = packed
    keys = key_bytes.view("<u8")[:, :, 0].astype(np.uint64)
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


def probe_keys(keys, margins, n_tables, n_bits, n_probes, n_usable_bits=None,
               n_dropped_bits=0):
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
    n_dropped_bits : int
        Bits below this are ignored by the lookup: flipped only after every
        other subset too.

    Returns
    -------
    ndarray of shape (n_tables, n_queries, 1 + n_probes'), uint64
        The query's own key first, then its probes in order of increasing score;
        ``n_probes' = min(n_probes, 2**n_flip_bits - 1)``.
    """
    n_flip_bits = max(min(n_bits - n_dropped_bits, n_probes, MAX_PROBE_BITS), 0)
    if n_flip_bits == 0:
        return keys[:, :, None]
    n_queries = keys.shape[1]
    strength = np.abs(margins).reshape(n_queries, n_tables, n_bits)
    unusable = np.arange(n_bits) < n_dropped_bits
    if n_usable_bits is not None:
        unusable = unusable | (np.arange(n_bits) >= np.asarray(n_usable_bits)[:, None, None])
    if np.any(unusable):
        strength = np.where(unusable, _NEVER_FLIPPED, strength)
    lowest = np.argsort(strength, axis=2, kind="stable")[:, :, :n_flip_bits]
    lowest_sq = np.take_along_axis(strength, lowest, axis=2) ** 2

    # A subset among the n_probes best has all its own subsets before it (their
    # scores are no larger, and their codes smaller for the stable sort), so it
    # holds at most log2(n_probes + 1) bits: larger ones are never scored.
    max_size = int(np.log2(n_probes + 1))
    subsets = _nonempty_subsets(n_flip_bits, max_size)  # (n_subsets, n_flip_bits)
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


def _nonempty_subsets(n_items, max_size=None):
    """Boolean membership matrix of the nonempty subsets of ``n_items`` items with at
    most ``max_size`` of them, in increasing order of their codes (bit ``i`` of a
    code is item ``i``)."""
    codes = np.arange(1, 2**n_items)
    members = ((codes[:, None] >> np.arange(n_items)) & 1).astype(bool)
    if max_size is not None:
        members = members[members.sum(axis=1) <= max_size]
    return members


"""The fitted index: :class:`LSHIndex`, built by :meth:`LSHIndex.fit`, queried by its methods.

Two numberings of the indexed rows exist, and each has one name:

* a **sample id** is a row's number in the data given to ``fit`` (then
  ``extend``): what every public answer reports;
* a **storage position** is where the index stores a row: the bucket order of
  table 0, so the rows of a bucket (and of a cell) are adjacent in memory and
  gathering candidates reads nearby rows.

``sample_ids[position]`` and ``positions[sample_id]`` convert between them; the
tables hold storage positions, and the query engine converts to sample ids as
its last step.
"""

import copy as copy_module
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import row_norms

from . import _search
from ._cells import cell_id_bits, fit_hash_functions, nearest_cells
from ._cross_polytope import CrossPolytopeFunctions
from ._hashing import MAX_BITS
from ._index import bucket_directory, build_tables, merge_tables, row_bucket_size
from ._projection import N_COMPONENTS, HashSpace
from ._search import QuerySettings
from ._sketch import SignSketch

__all__ = ["LSHIndex", "QuerySettings"]


class LSHIndex:
    """Sorted-key hash tables over the rows of ``data``, with their hash functions.

    Build one with :meth:`fit` (or :meth:`from_hash_functions`, to share fitted
    hash functions), grow it with :meth:`extend`, query it with
    :meth:`kneighbors`, :meth:`radius_neighbors` and :meth:`candidates`. An
    index is never modified after it is built.

    Attributes
    ----------
    data : ndarray or CSR matrix of shape (n_samples, n_features)
        The indexed rows, by sample id (not copied), used for exact distances.
    space : HashSpace
        The fitted projection (scale, mean, principal axes).
    functions : HashFunctions or CrossPolytopeFunctions
        The cells (centroids, bits per cell) and the hyperplanes, or the
        cross-polytopes' directions.
    sorted_keys : ndarray of shape (n_tables, n_samples), uint64
        Each table's keys, ascending.
    sorted_positions : ndarray of shape (n_tables, n_samples), int32 or int64
        The storage position of the row carrying each of ``sorted_keys``.
    sample_ids : ndarray of shape (n_samples,)
        The sample id stored at each storage position.
    positions : ndarray of shape (n_samples,)
        The storage position of each sample id.
    projected : ndarray of shape (n_samples, n_stored_components), float32
        The rows' leading hash-space coordinates, by storage position (for
        pre-ranking): all of them, or ``N_COMPONENTS`` of a wider space.
    projected_sq_norms : ndarray of shape (n_samples,), float32
        Squared norms of ``projected``.
    sketch : SignSketch or None
        The hyperplanes of the rows' sign sketches, if the index keeps them.
    codes : ndarray of shape (n_words, n_samples), uint64, or None
        Every row's sign sketch (word-major), by storage position (for pre-ranking by
        Hamming distance, ``QuerySettings.prerank="sketch"``).
    bucket_directory : tuple of ndarray
        Each table's distinct keys and bucket starts
        (:func:`~sklearn_lsh._index.bucket_directory`).
    row_bucket_size : float
        Size of the bucket a random row falls in, averaged over the tables
        (:func:`~sklearn_lsh._index.row_bucket_size`).
    n_fit_rows : int
        Rows the hash space and functions were fitted on (rows added by
        :meth:`extend` since then are not counted).
    """

    def __init__(self, *, data, space, functions, sorted_keys, sorted_positions, sample_ids,
                 projected, n_fit_rows=None, sketch=None, codes=None):
        self.data = data
        self.n_fit_rows = sample_ids.shape[0] if n_fit_rows is None else n_fit_rows
        self.space = space
        self.functions = functions
        self.sorted_keys = sorted_keys
        self.sorted_positions = sorted_positions
        self.sample_ids = sample_ids
        self.positions = np.empty_like(sample_ids)
        self.positions[sample_ids] = np.arange(sample_ids.shape[0], dtype=sample_ids.dtype)
        self.projected = _stored_projection(projected)
        self.sketch, self.codes = sketch, codes
        self.projected_sq_norms = row_norms(self.projected, squared=True)
        self.bucket_directory = bucket_directory(sorted_keys)
        # Once per build, not per query call: at 10^6 rows it costs more than a query.
        self.row_bucket_size = row_bucket_size(self.bucket_directory[1])

    # --- building -----------------------------------------------------------------------

    @classmethod
    def fit(cls, X, *, metric, n_bits, n_tables, n_cells, random_state, space=None,
            projected=None, n_extra_bits=0, n_sketch_bits=0, family="hyperplane"):
        """Fit the hash space and hash functions to ``X`` and hash its rows into tables.

        The steps: hash space (:meth:`HashSpace.fit`), then cells and hyperplanes
        (:func:`~sklearn_lsh._cells.fit_hash_functions`), then sorted tables in
        storage order.

        Parameters
        ----------
        X : ndarray or CSR matrix of shape (n_samples, n_features), float32 or float64
        metric : {"euclidean", "cosine"}
        n_bits : int or None
            Hyperplanes per table; ``None``: ``round(log2(cell size / 16))`` per cell.
        n_tables : int
        n_cells : int or None
            k-means cells (clipped to ``n_samples``); ``None`` decides from the data.
        random_state : numpy.random.RandomState
        space : HashSpace or None
            A hash space already fitted to ``X`` (then ``metric`` must be its metric),
            with ``projected``, the rows of ``X`` in it: only the hash functions and
            tables are fitted.
        projected : ndarray of shape (n_samples, n_components), float32, or None
        n_extra_bits : int
            With ``n_bits=None``, hyperplanes per cell beyond the automatic rule's,
            for queries to drop or keep (``QuerySettings.n_dropped_bits``).
        n_sketch_bits : int
            Sign bits of every row's sketch (a multiple of 64; 0: no sketches).
        family : {"hyperplane", "cross-polytope"}
            The hash family: sign bits of random hyperplanes in cells
            (:class:`HashFunctions`), or the vertices of random cross-polytopes
            (:class:`CrossPolytopeFunctions`; ``n_bits``, ``n_cells`` and
            ``n_extra_bits`` must then be ``None``, ``1`` and ``0``: the key's
            size follows from ``n_samples``).

        Returns
        -------
        LSHIndex

        Raises
        ------
        ValueError
            When ``n_bits`` and the bits of a cell number do not fit a 64-bit key.
        """
        n_samples = X.shape[0]
        if n_cells is not None:
            n_cells = min(n_cells, n_samples)
            if n_bits is not None and n_bits + cell_id_bits(n_cells) > MAX_BITS:
                raise ValueError(
                    f"n_hyperplanes={n_bits} leaves no room in a {MAX_BITS}-bit key for "
                    f"{n_cells} cell numbers: use at most "
                    f"{MAX_BITS - cell_id_bits(n_cells)} hyperplanes or fewer cells.")
        if space is None:
            space = HashSpace.fit(X, metric, random_state)
            projected = space.project(X)
        if family == "cross-polytope":
            if n_bits is not None or n_cells != 1 or n_extra_bits:
                raise ValueError("cross-polytope tables take n_bits=None, n_cells=1 and no "
                                 "extra bits")
            functions = CrossPolytopeFunctions.draw(space.n_components, n_tables, n_samples,
                                                    random_state)
            keys = functions.keys(projected)
        else:
            functions, keys = fit_hash_functions(
                projected, space.axis_scales, n_cells=n_cells, n_bits=n_bits,
                n_tables=n_tables, random_state=random_state, n_extra_bits=n_extra_bits)
        sketch = None
        if n_sketch_bits:
            sketch = SignSketch.draw(space.n_components, random_state, n_sketch_bits)
        return cls._from_keys(X, space, functions, projected, keys, sketch)

    @classmethod
    def from_hash_functions(cls, X, space, functions, sketch=None):
        """An index over the rows of ``X`` with hash space and functions fitted elsewhere.

        Parameters
        ----------
        X : ndarray or CSR matrix of shape (n_samples, n_features)
        space : HashSpace
        functions : HashFunctions or CrossPolytopeFunctions
        sketch : SignSketch or None

        Returns
        -------
        LSHIndex
        """
        projected = space.project(X)
        cells = nearest_cells(projected, functions.centroids, 1)[:, 0]
        return cls._from_keys(X, space, functions, projected, functions.keys(projected, cells),
                              sketch)

    @classmethod
    def _from_keys(cls, X, space, functions, projected, keys, sketch=None):
        sorted_keys, members = build_tables(keys)  # members: sample ids
        # Storage order: table 0's buckets, so gathering a bucket reads adjacent rows.
        sample_ids = members[0].copy()
        positions = np.empty_like(sample_ids)
        positions[sample_ids] = np.arange(sample_ids.shape[0], dtype=sample_ids.dtype)
        return cls(data=X, space=space, functions=functions, sorted_keys=sorted_keys,
                   sorted_positions=positions[members], sample_ids=sample_ids,
                   projected=_stored_projection(projected)[sample_ids], sketch=sketch,
                   codes=None if sketch is None else sketch.codes(projected[sample_ids]))

    def extend(self, X_new, data):
        """A new index holding these rows and ``X_new``, hashed with the same functions.

        The new rows get the next sample ids and the next storage positions;
        their keys are merged into each sorted table. This index is unchanged.

        Parameters
        ----------
        X_new : ndarray or CSR matrix of shape (n_new, n_features)
        data : ndarray or CSR matrix of shape (n_samples + n_new, n_features)
            ``data`` followed by ``X_new``, as the new index's data.

        Returns
        -------
        LSHIndex
        """
        projected = self.space.project(X_new)
        cells = nearest_cells(projected, self.functions.centroids, 1)[:, 0]
        keys = self.functions.keys(projected, cells)
        sorted_keys, sorted_positions = merge_tables(self.sorted_keys, self.sorted_positions,
                                                     keys)
        dtype = sorted_positions.dtype
        new_ids = np.arange(self.n_samples, self.n_samples + projected.shape[0], dtype=dtype)
        return type(self)(
            data=data, space=self.space, functions=self.functions, sorted_keys=sorted_keys,
            sorted_positions=sorted_positions,
            sample_ids=np.concatenate([self.sample_ids.astype(dtype), new_ids]),
            projected=np.vstack([self.projected, _stored_projection(projected)]),
            n_fit_rows=self.n_fit_rows, sketch=self.sketch,
            codes=None if self.sketch is None else np.hstack([self.codes,
                                                              self.sketch.codes(projected)]))

    def with_tables(self, n_tables, copy=False):
        """This index restricted to its first ``n_tables`` tables.

        Without ``copy``, the tables' arrays are shared; with it, the result owns
        copies, so the other tables' memory is freed with this index. Queries on
        the result see only the first ``n_tables`` tables' buckets.
        """
        if n_tables == self.n_tables and not copy:
            return self
        view = copy_module.copy(self)  # shares the rows' arrays, derived ones included
        view.functions = self.functions.with_tables(n_tables)
        keys, starts, offsets = self.bucket_directory
        view.sorted_keys = self.sorted_keys[:n_tables]
        view.sorted_positions = self.sorted_positions[:n_tables]
        view.bucket_directory = (keys[:offsets[n_tables]], starts[:offsets[n_tables] + n_tables],
                                 offsets[:n_tables + 1])
        if copy:
            view.sorted_keys, view.sorted_positions = (view.sorted_keys.copy(),
                                                       view.sorted_positions.copy())
            view.bucket_directory = tuple(a.copy() for a in view.bucket_directory)
        view.row_bucket_size = row_bucket_size(view.bucket_directory[1])
        return view

    # --- queries ------------------------------------------------------------------------

    def kneighbors(self, queries, n_neighbors, settings, *, exclude_self=False, exclude=None,
                   n_jobs=None):
        """Approximate k nearest neighbours, with exact distances.

        Parameters
        ----------
        queries : ndarray or CSR matrix of shape (n_queries, n_features), or None
            In the dtype and format of ``data``; ``None`` queries the indexed rows.
        n_neighbors : int
            At most ``n_samples`` (``n_samples - 1`` with ``exclude_self``).
        settings : QuerySettings
        exclude_self : bool
            With ``queries=None``, leave each row out of its own neighbours.
        exclude : ndarray of shape (n_queries,) or None
            A sample id to leave out of each query's neighbours.
        n_jobs : int or None

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Ascending; ties broken by sample id.
        indices : ndarray of shape (n_queries, n_neighbors), int64
            Distinct sample ids.
        """
        n_candidates = max(settings.n_candidates, n_neighbors)
        settings = replace(self._clipped(settings), n_candidates=n_candidates)
        if settings.n_sketch_candidates:  # a first cut never keeps fewer than are ranked
            settings = replace(settings, n_sketch_candidates=max(settings.n_sketch_candidates,
                                                                 n_candidates))
        return _search.kneighbors(self, queries, n_neighbors, settings,
                                  exclude_self=exclude_self, exclude=exclude, n_jobs=n_jobs)

    def radius_neighbors(self, queries, radius, settings, *, exclude_self=False, n_jobs=None):
        """Candidates within ``radius``, as CSR arrays (see :func:`_search.radius_neighbors`)."""
        return _search.radius_neighbors(self, queries, radius, self._clipped(settings),
                                        exclude_self=exclude_self, n_jobs=n_jobs)

    def candidates(self, queries, settings):
        """Distinct sample ids in the buckets each query probes, ascending, ``-1`` padded.

        Parameters
        ----------
        queries : ndarray or CSR matrix of shape (n_queries, n_features)
        settings : QuerySettings

        Returns
        -------
        ndarray of shape (n_queries, width), int64
        """
        return _search.candidates(self, queries, self._clipped(settings))

    def prerank_sq_norms(self, n_components):
        """Squared norms of the stored projected rows over their first
        ``n_components`` components (made once per number, and not pickled).

        Returns
        -------
        ndarray of shape (n_samples,), float32
        """
        cache = self.__dict__.setdefault("_prerank_sq_norms", {})
        if n_components not in cache:
            cache[n_components] = row_norms(self.projected[:, :n_components], squared=True)
        return cache[n_components]

    def brute_force(self):
        """scikit-learn's exact brute-force searcher over the indexed rows; whether it
        searches L2-normalised rows by euclidean distance (cosine data without
        all-zero rows: the same neighbours, found faster than by scikit-learn's
        cosine path); and the squared norms of the rows it searches (``None`` for
        CSR rows). Made once, and not pickled."""
        cached = self.__dict__.get("_brute_force")
        if cached is None:
            from sklearn.neighbors import NearestNeighbors
            from sklearn.preprocessing import normalize

            normalised = self.metric == "cosine" and bool(np.all(row_norms(self.data) > 0))
            rows = normalize(self.data) if normalised else self.data
            metric = "euclidean" if normalised else self.metric
            sq_norms = None if sp.issparse(rows) else np.einsum("ij,ij->i", rows, rows)
            cached = (NearestNeighbors(algorithm="brute", metric=metric).fit(rows), normalised,
                      sq_norms)
            self.__dict__["_brute_force"] = cached
        return cached

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_brute_force", None)  # caches: made again when needed
        state.pop("_prerank_sq_norms", None)
        return state

    def _clipped(self, settings):
        return replace(settings, n_cell_probes=min(settings.n_cell_probes, self.n_cells),
                       n_dropped_bits=min(settings.n_dropped_bits,
                                          self.functions.max_dropped_bits))

    # --- derived values -----------------------------------------------------------------

    @property
    def metric(self):
        return self.space.metric

    @property
    def n_samples(self):
        return self.sorted_keys.shape[1]

    @property
    def n_features(self):
        return self.data.shape[1]

    @property
    def n_tables(self):
        return self.functions.n_tables

    @property
    def n_bits(self):
        """Hyperplanes per table (with several cells, the most any cell uses)."""
        return self.functions.n_bits

    @property
    def n_cells(self):
        return self.functions.n_cells

    @property
    def bucket_sizes(self):
        """ndarray of shape (n_buckets,): the size of every bucket of every table."""
        _, starts, offsets = self.bucket_directory
        sizes = np.diff(starts)
        return sizes[sizes > 0]  # drops the steps back to 0 between tables

    @property
    def nbytes(self):
        """Bytes of the index's own arrays (the indexed ``data`` not included)."""
        arrays = (self.sorted_keys, self.sorted_positions, self.sample_ids, self.positions,
                  self.projected, self.projected_sq_norms, *self.bucket_directory,
                  self.space.mean, self.space.axes, self.space.axis_scales)
        sketch_bytes = 0 if self.sketch is None else self.sketch.nbytes + self.codes.nbytes
        return sum(a.nbytes for a in arrays) + self.functions.nbytes + sketch_bytes

    @property
    def data_nbytes(self):
        """Bytes of the indexed ``data`` (for CSR rows: values, column numbers, indptr)."""
        if sp.issparse(self.data):
            return self.data.data.nbytes + self.data.indices.nbytes + self.data.indptr.nbytes
        return self.data.nbytes

    def __sizeof__(self):
        # What sys.getsizeof, and so Dask's scheduler, counts for an index: its arrays and
        # the rows it holds (a Dask shard must look as costly to move as it is).
        return object.__sizeof__(self) + self.nbytes + self.data_nbytes

    @property
    def stores_projection(self):
        """Whether ``projected`` holds every hash-space coordinate of the rows."""
        return self.projected.shape[1] == self.space.n_components


def _stored_projection(projected):
    """The leading ``N_COMPONENTS`` columns of ``projected`` (``projected`` itself when
    it has no more)."""
    return np.ascontiguousarray(projected[:, :N_COMPONENTS])

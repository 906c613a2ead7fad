"""Recall you can ask for: the query settings tuned to the data at ``fit``.

:func:`tune` draws training rows as sample queries (each left out of its own
neighbours), finds their exact neighbours, and walks a ladder of query settings
on an index with the most tables, each setting visiting a superset of the
previous one's buckets. It picks the first setting whose estimated recall,
less its standard error, reaches the target, and compares the setting's
modelled query cost with exact search's: where hashing cannot win, the
estimator answers exactly.

The cost model counts what a query does (probed buckets, gathered rows,
distinct candidates pre-ranked, candidates ranked exactly) and weighs each with
a per-item cost fitted once by ``benchmarks/calibrate_cost.py``; it is a model,
so the choice is the same on every run with the same ``random_state``.
"""

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from ._cross_polytope import CrossPolytopeFunctions
from ._evaluation import found_within
from ._index import cap_bucket_ranges, gather_candidates
from ._lsh_index import LSHIndex
from ._projection import HashSpace, prepare_rows, sketch_columns, total_variance
from ._search import QuerySettings, _probe
from ._sketch import N_SKETCH_BITS


def query_work(index, queries, settings):
    """What a k-NN query does on average, as the cost model's features.

    Parameters
    ----------
    index : LSHIndex
    queries : ndarray or CSR matrix of shape (n_queries, n_features), or None
        ``None`` uses the indexed rows.
    settings : QuerySettings

    Returns
    -------
    ndarray of shape (8,)
        1 (fixed cost), query projection and hyperplane hashing (multiply-adds:
        features x components, then components x hyperplanes and sketch bits),
        probed buckets, gathered rows, distinct candidates x pre-ranking
        components (a sketch word counts as ``SKETCH_WORD_COMPONENTS``),
        candidates ranked exactly x features; then, for cross-polytope tables,
        their projections (components x directions) and their probed keys;
        each a mean per query.
    """
    settings = index._clipped(settings)
    _, lo, hi = _probe(index, queries, None, settings)
    hi = cap_bucket_ranges(lo, hi, settings.max_gathered(index.n_tables))
    gathered = (hi - lo).reshape(lo.shape[0], -1).sum(axis=1)
    distinct = (gather_candidates(index.sorted_positions, lo, hi, packed=False) >= 0).sum(axis=1)
    ranked = np.minimum(distinct, settings.n_candidates)
    n_features, n_components = cost_features(index.data), index.space.n_components
    n_keys = lo.shape[1] * lo.shape[2]
    n_planes, polytope_work = index.functions.n_projections, [0.0, 0.0]
    if isinstance(index.functions, CrossPolytopeFunctions):
        n_planes, polytope_work = 0, [n_components * index.functions.n_projections, n_keys]
    projected_components = settings.n_prerank_components or index.projected.shape[1]
    if settings.prerank == "sketch":
        n_planes += index.sketch.n_bits
        ranking = distinct * SKETCH_WORD_COMPONENTS * index.codes.shape[0]
    elif settings.n_sketch_candidates:
        n_planes += index.sketch.n_bits
        ranking = (distinct * SKETCH_WORD_COMPONENTS * index.codes.shape[0]
                   + np.minimum(distinct, settings.n_sketch_candidates) * projected_components)
    else:
        ranking = distinct * projected_components
    return np.array([1.0, n_components * (n_features + n_planes), n_keys, gathered.mean(),
                     ranking.mean(), ranked.mean() * n_features, *polytope_work])


#: Pre-ranking by one 64-bit word of a sign sketch costs about as much as by this many
#: projected components (5000 candidates a query: 1.8 ns per word against 1.5 ns per
#: component, on the machine of QUERY_COSTS).
SKETCH_WORD_COMPONENTS = 1.2
#: Seconds per item of :func:`query_work`'s features, on one thread of the 2-core
#: machine of ``RESULTS.md``: the first six fitted by ``benchmarks/calibrate_cost.py``
#: (hyperplane tables); the last two (cross-polytope projections and probed keys)
#: fitted to the time left by the others on 10^5 word embeddings, 32 tables, 1 to
#: 15 probes (measured 101 / 126 / 184 / 341 us per query, modelled 100-190 us).
QUERY_COSTS = np.array([0.0, 2.32e-10, 0.0, 2.29e-08, 1.50e-09, 4.93e-10, 2.2e-11, 2.5e-07])
#: Exact search's seconds per query: fixed, and per (indexed row x feature).
EXACT_FIXED_COST, EXACT_ENTRY_COST = 4e-6, 1.97e-11
#: Hashing is chosen only when the model expects it this many times faster than
#: exact search (the model is off by up to about 1.7x either way).
MIN_SPEEDUP = 1.5
#: Training rows drawn as sample queries.
N_SAMPLE_QUERIES = 200
#: Of them, the first this many model a setting's cost.
N_COST_QUERIES = 64
#: Tables of the index the ladder is walked on (when ``n_tables`` is tuned).
MAX_TABLES = 16
#: The ladder: (tables, probes, cell probes, candidates per neighbour, least candidates),
#: each step visiting a superset of the buckets of the step before.
LADDER = [
    (2, 1, 1, 2, 20), (4, 2, 1, 3, 30), (6, 4, 1, 4, 40), (8, 4, 1, 5, 50),
    (8, 4, 2, 5, 50), (8, 4, 3, 5, 50), (10, 4, 3, 5, 50), (10, 8, 3, 5, 50),
    (12, 8, 3, 6, 60), (12, 8, 3, 8, 80), (16, 16, 3, 10, 100), (16, 32, 3, 20, 200),
    (16, 64, 4, 40, 400),
]
#: The sketch ladder: cross-polytope tables in the wide hash space, candidates
#: pre-ranked by their sign sketches (cheap per candidate, so many probes pay).
SKETCH_LADDER = [
    (8, 0, 1, 5, 50), (16, 0, 1, 5, 50), (16, 1, 1, 10, 100), (24, 1, 1, 10, 100),
    (32, 1, 1, 10, 100), (32, 2, 1, 10, 100), (32, 3, 1, 10, 100), (32, 4, 1, 10, 100),
    (32, 5, 1, 10, 100), (32, 7, 1, 10, 100), (32, 9, 1, 20, 200), (32, 11, 1, 20, 200),
    (32, 15, 1, 20, 200), (32, 23, 1, 20, 200), (32, 31, 1, 40, 400),
]
#: Tables of the sketch index.
SKETCH_TABLES = 32
#: Most components of the wide hash space (sign sketches and the sketch ladder's tables).
WIDE_COMPONENTS = 256
#: The sketch strategy is tried when the hash space's components hold less than this
#: share of the variance (a narrow projection loses what the angles depend on).
SKETCH_MAX_VARIANCE = 0.8
#: ... on data of at least this many rows (on fewer, exact search is about as fast).
SKETCH_MIN_ROWS = 10_000
#: The tables' pre-ranking is also tried after a first cut, by sign sketches, to this
#: many times ``n_candidates`` (fashion-mnist, 80 candidates, 1000 queries on 2 threads:
#: recall 0.9465 / 0.9454 / 0.9402 at 0.165 / 0.148 / 0.146 s for 8 / 6 / 4 times).
SKETCH_CUT_FACTOR = 6
#: With ``n_hyperplanes="auto"``, keys of up to this many bits more and fewer than
#: the automatic rule's are tried (one index holds them all: see ``n_dropped_bits``).
EXTRA_BITS = 1
#: Pre-ranking in this many leading components of the hash space is tried beside
#: pre-ranking in all of them.
PRERANK_COMPONENTS = 16
#: ... when they hold at least this share of the hash space's variance.
PRERANK_MIN_VARIANCE = 0.9
#: Cells of about this many rows are tried beside ``n_cells="auto"``'s choice ...
TRIED_CELL_SIZE = 1000
#: ... on data of at least this many rows.
MIN_ROWS_FOR_CELLS = 20_000


def exact_query_cost(X):
    """Modelled seconds of one exact (brute-force) query over the rows of ``X``."""
    return EXACT_FIXED_COST + EXACT_ENTRY_COST * X.shape[0] * cost_features(X)


#: A CSR row costs a distance as much as this many dense features per stored
#: value (scikit-learn's brute force over generated TF-IDF rows, 50000 x 20000
#: with 65 stored values a row: 392 us per query on the machine of QUERY_COSTS).
SPARSE_COST_PER_VALUE = 6


def cost_features(X):
    """Features a row of ``X`` costs in the cost model: its width, or for CSR rows
    ``SPARSE_COST_PER_VALUE`` per stored value (at most the width)."""
    n_samples, n_features = X.shape
    if sp.issparse(X):
        return min(n_features, SPARSE_COST_PER_VALUE * X.nnz / max(n_samples, 1))
    return n_features


def ladder_settings(step, n_neighbors, fixed, ladder=LADDER):
    """The QuerySettings and number of tables of ladder step ``step``; ``fixed``
    holds the parameters the user set (``n_tables``, ``n_probes``,
    ``n_cell_probes``, ``n_candidates``), which every step keeps."""
    tables, probes, cell_probes, per_neighbor, least = ladder[step]
    settings = QuerySettings(
        n_probes=fixed.get("n_probes", probes),
        n_cell_probes=fixed.get("n_cell_probes", cell_probes),
        n_candidates=fixed.get("n_candidates", max(least, per_neighbor * n_neighbors)))
    return settings, fixed.get("n_tables", tables)


@dataclass(frozen=True)
class Tuning:
    """What :func:`tune` chose, and why.

    Attributes
    ----------
    index : LSHIndex
        The index to keep (only the tables the choice uses).
    settings : QuerySettings
        The operating point; ``settings.exact`` when exact search was chosen.
    estimated_recall : float
        Recall@k on the sample queries (1.0 for exact search).
    recall_error : float
        Standard error of ``estimated_recall``.
    estimated_speedup : float
        Modelled queries/second over exact search's (1.0 for exact search).
    """

    index: LSHIndex
    settings: QuerySettings
    estimated_recall: float
    recall_error: float
    estimated_speedup: float


def tune(X, *, metric, n_neighbors, target_recall, n_bits, n_cells, fixed, allow_exact,
         random_state, log=None, n_jobs=None):
    """Fit an index to ``X`` and choose its query settings for ``target_recall``.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    metric : {"euclidean", "cosine"}
    n_neighbors : int
        The ``k`` of recall@k.
    target_recall : float
        In (0, 1]; 1 means exact search.
    n_bits, n_cells : int or None
        As for :meth:`LSHIndex.fit` (``None``: their automatic rules). With
        ``n_cells=None``, cells of about ``TRIED_CELL_SIZE`` rows are tried too;
        with ``n_bits=None``, keys of ``EXTRA_BITS`` more or fewer bits than the
        automatic rule's (one index, shorter keys being prefixes).
    fixed : dict
        Query parameters the user set; they are kept, the others tuned.
    allow_exact : bool
        Whether exact search may be chosen (not when the user fixed the index's
        shape: ``n_hyperplanes`` or ``n_tables``).
    random_state : numpy.random.RandomState
    log : callable or None
        Called with a line of progress.
    n_jobs : int or None
        Parallel chunks of the sample queries (as for queries); the choice does
        not depend on it.

    Returns
    -------
    Tuning
    """
    log = log or (lambda line: None)
    n_samples = X.shape[0]
    n_neighbors = min(n_neighbors, n_samples - 1)
    exact_cost = exact_query_cost(X)
    n_tables = fixed.get("n_tables", MAX_TABLES)

    def exact_choice(index):
        log(f"exact search (modelled {1e6 * exact_cost:.0f} us per query)")
        return Tuning(_kept(index, 1, QuerySettings(exact=True)), QuerySettings(exact=True),
                      1.0, 0.0, 1.0)

    if allow_exact and (target_recall >= 1.0 or n_neighbors < 1):
        return exact_choice(LSHIndex.fit(X, metric=metric, n_bits=n_bits, n_tables=1,
                                         n_cells=1 if n_cells is None else n_cells,
                                         random_state=random_state))
    if n_neighbors < 1:  # a single row: nothing to tune for
        settings, tables = ladder_settings(len(LADDER) // 2, 1, fixed)
        index = LSHIndex.fit(X, metric=metric, n_bits=n_bits, n_tables=tables,
                             n_cells=n_cells, random_state=random_state)
        return Tuning(index, settings, 1.0, 0.0, 1.0)
    sample = np.sort(random_state.choice(n_samples, min(N_SAMPLE_QUERIES, n_samples),
                                         replace=False))
    queries = X[sample]
    structures = [n_cells]
    if n_cells is None and n_samples >= MIN_ROWS_FOR_CELLS:
        structures.append(int(round(n_samples / TRIED_CELL_SIZE)))
    # Automatic keys: built EXTRA_BITS longer than the rule's; queries keep them,
    # or drop bits down to EXTRA_BITS fewer. The rule's own length is tried first.
    extra_bits = EXTRA_BITS if n_bits is None else 0
    key_lengths = [extra_bits] + [d for d in range(2 * extra_bits + 1) if d != extra_bits]
    space = HashSpace.fit(X, metric, random_state)  # one hash space for every structure
    projected = space.project(X)
    best, first_walk, true_kth = None, None, None
    # A setting modelled dearer than this loses to exact search anyway.
    ceiling = exact_cost / MIN_SPEEDUP if allow_exact else np.inf
    for cells in structures:
        index = LSHIndex.fit(X, metric=metric, n_bits=n_bits, n_tables=n_tables,
                             n_cells=cells, random_state=random_state, space=space,
                             projected=projected, n_extra_bits=extra_bits,
                             n_sketch_bits=N_SKETCH_BITS)
        if first_walk is None:
            true_kth = _exact_kth_distances(index, queries, sample, n_neighbors)
        elif index.n_cells == first_walk.index.n_cells:
            continue  # "auto" chose these cells already
        walk = _LadderWalk(index, queries, sample, true_kth, n_neighbors, fixed, log,
                           n_jobs)
        first_walk = first_walk or walk
        costs = {}
        for dropped in key_lengths:
            if dropped > extra_bits and costs.get(extra_bits - 1, np.inf) < \
                    costs.get(extra_bits, np.inf):
                break  # longer keys beat the rule's: shorter ones will not (cost is unimodal)
            found = walk.cheapest(target_recall, (dropped, 0, 0),
                                  bound=ceiling if best is None else best[3])
            if found is not None:
                costs[dropped] = found[3]
                if best is None or found[3] < best[3]:
                    best, best_walk = found, walk
    if (n_bits is None and n_cells is None and "n_tables" not in fixed
            and n_samples >= SKETCH_MIN_ROWS):
        found = _sketch_strategy(X, metric, space, queries, sample, true_kth, n_neighbors,
                                 fixed, log, n_jobs, random_state, target_recall,
                                 ceiling if best is None else best[3])
        if found is not None:
            best, best_walk = found
    variances = space.axis_scales**2
    if (best is not None and best_walk.prerank == "projection"
            and space.n_components > PRERANK_COMPONENTS
            and variances[:PRERANK_COMPONENTS].sum() >= PRERANK_MIN_VARIANCE * variances.sum()):
        # A coarser pre-ranking: cheaper per candidate, may need more of them.
        variant = (best[1].n_dropped_bits, PRERANK_COMPONENTS, 0)
        found = best_walk.cheapest(target_recall, variant, bound=best[3])
        if found is not None and found[3] < best[3]:
            best = found
    if best is not None and best_walk.prerank == "projection":
        # A first cut by sign sketches: cheaper per candidate than the projection.
        variant = (best[1].n_dropped_bits, best[1].n_prerank_components, SKETCH_CUT_FACTOR)
        found = best_walk.cheapest(target_recall, variant, bound=best[3])
        if found is not None and found[3] < best[3]:
            best = found
    if best is None:
        if allow_exact:
            return exact_choice(first_walk.index)
        # The most thorough setting the user's parameters allow.
        best = first_walk.evaluate(len(LADDER) - 1, (extra_bits, 0, 0))
    index, settings, (recall, error), cost = best
    speedup = exact_cost / cost
    if allow_exact and speedup < MIN_SPEEDUP:
        log(f"hashing would be {speedup:.2f}x exact search: below {MIN_SPEEDUP}x")
        return exact_choice(index)
    log(f"chose {index.n_cells} cells, {index.n_tables} tables, {settings}: recall "
        f"{recall:.3f} +- {error:.3f}, modelled {speedup:.1f}x exact search")
    return Tuning(_kept(index, index.n_tables, settings), settings, recall, error, speedup)


def _kept(index, n_tables, settings):
    """A copy of ``index`` with only what ``settings`` uses: its first ``n_tables``
    tables, and the sign sketches only when they pre-rank."""
    kept = index.with_tables(n_tables, copy=True)
    if settings.prerank != "sketch" and not settings.n_sketch_candidates:
        kept.sketch = kept.codes = None
    return kept


class _LadderWalk:
    """Ladder steps evaluated on one index: recall on the sample queries and
    modelled cost, each computed once. A *variant* is a triple (``n_dropped_bits``,
    ``n_prerank_components``, the factor of ``n_candidates`` a first cut by sign
    sketches keeps, 0 for none) every step of a walk keeps."""

    def __init__(self, index, queries, sample, true_kth, n_neighbors, fixed, log, n_jobs,
                 ladder=LADDER, prerank="projection"):
        self.index, self.queries, self.sample = index, queries, sample
        self.ladder, self.prerank = ladder, prerank
        self.true_kth, self.n_neighbors, self.fixed, self.log = true_kth, n_neighbors, fixed, log
        self.n_jobs = n_jobs
        self._views, self._recalls, self._costs = {}, {}, {}

    def _step(self, step, variant):
        """The index view and the settings of a step, as queries would use them (so
        steps that differ only in what this index clips are computed once)."""
        settings, tables = ladder_settings(step, self.n_neighbors, self.fixed, self.ladder)
        tables = min(tables, self.index.n_tables)
        if tables not in self._views:
            self._views[tables] = self.index.with_tables(tables)
        dropped, components, cut_factor = variant
        settings = replace(self.index._clipped(settings), n_dropped_bits=dropped,
                           n_prerank_components=components, prerank=self.prerank,
                           n_sketch_candidates=cut_factor * settings.n_candidates)
        return self._views[tables], settings

    def recall(self, step, variant):
        view, settings = self._step(step, variant)
        key = view.n_tables, settings
        if key not in self._recalls:
            recall, error = _sample_recall(view, self.queries, self.sample, self.true_kth,
                                           self.n_neighbors, settings, self.n_jobs)
            self._recalls[key] = recall, error
            if settings.prerank == "sketch":
                ranking = f"by {view.sketch.n_bits}-bit sketches"
            else:
                components = settings.n_prerank_components or view.projected.shape[1]
                ranking = f"in {components} components"
                if settings.n_sketch_candidates:
                    ranking += f" of the {settings.n_sketch_candidates} nearest by sketches"
            self.log(f"{view.n_cells} cells, {view.n_tables} tables, "
                     f"{view.n_bits - settings.n_dropped_bits} bits, {settings.n_probes} "
                     f"probes, {settings.n_cell_probes} cell probes, "
                     f"{settings.n_candidates} candidates ranked {ranking}: "
                     f"recall {recall:.3f} +- {error:.3f}")
        return self._recalls[key]

    def cost(self, step, variant):
        view, settings = self._step(step, variant)
        key = view.n_tables, settings
        if key not in self._costs:
            # A mean over queries: a few dozen of them estimate it well enough.
            self._costs[key] = _modelled_cost(view, self.queries[:N_COST_QUERIES], settings)
        return self._costs[key]

    @property
    def best_recall(self):
        """The highest recall of the steps evaluated so far (0 before any)."""
        return max((recall for recall, _ in self._recalls.values()), default=0.0)

    def evaluate(self, step, variant):
        """``(index view, settings, (recall, error), modelled cost)`` of a step."""
        view, settings = self._step(step, variant)
        return view, settings, self.recall(step, variant), self.cost(step, variant)

    def cheapest(self, target_recall, variant, bound=np.inf):
        """The first ladder step whose recall, less its standard error, reaches the
        target, as :meth:`evaluate` gives it, or None; steps modelled to cost
        ``bound`` or more are not tried. Each step finds a superset of the step
        before, so recall and cost grow along the ladder: both are binary searches."""
        def meets(step):
            recall, error = self.recall(step, variant)
            return recall - error >= target_recall

        lo, hi = 0, len(self.ladder) - 1
        if np.isfinite(bound):  # the dearest step still under the bound
            if self.cost(0, variant) >= bound:
                return None
            while lo < hi:
                middle = (lo + hi + 1) // 2
                if self.cost(middle, variant) < bound:
                    lo = middle
                else:
                    hi = middle - 1
            if not meets(lo):
                return None
            # The answer is usually a step or two below the bound: look down
            # from there, doubling the stride, before bisecting.
            hi, stride = lo, 1
            while hi - stride >= 0 and meets(hi - stride):
                hi, stride = hi - stride, 2 * stride
            lo = max(hi - stride + 1, 0)
        while lo < hi:
            middle = (lo + hi) // 2
            if meets(middle):
                hi = middle
            else:
                lo = middle + 1
        if not meets(lo):
            return None
        return self.evaluate(lo, variant)


def _sketch_strategy(X, metric, space, queries, sample, true_kth, n_neighbors, fixed, log,
                     n_jobs, random_state, target_recall, bound):
    """The cheapest setting of the sketch strategy under ``bound`` that reaches the
    target, as ``(evaluation, walk)``, or None (also when the hash space already
    holds ``SKETCH_MAX_VARIANCE`` of the wide space's variance: nothing to gain).

    The strategy: a hash space of up to ``WIDE_COMPONENTS`` axes, ``SKETCH_TABLES``
    cross-polytope tables, candidates pre-ranked by the Hamming distance of their
    sign sketches.
    """
    if variance_held(space, X) >= SKETCH_MAX_VARIANCE:
        return None
    wide = HashSpace.fit(X, metric, random_state, max_components=WIDE_COMPONENTS)
    index = LSHIndex.fit(X, metric=metric, n_bits=None, n_tables=SKETCH_TABLES, n_cells=1,
                         random_state=random_state, space=wide, projected=wide.project(X),
                         n_sketch_bits=N_SKETCH_BITS, family="cross-polytope")
    walk = _LadderWalk(index, queries, sample, true_kth, n_neighbors, fixed, log, n_jobs,
                       ladder=SKETCH_LADDER, prerank="sketch")
    best = walk.cheapest(target_recall, (0, 0, 0), bound=bound)
    return None if best is None else (best, walk)


#: Rows (evenly spaced) on which :func:`variance_held` measures the total variance.
N_VARIANCE_ROWS = 4000


def variance_held(space, X):
    """Share of the variance of the prepared rows of ``X`` that the axes of ``space``
    hold, measured on at most ``N_VARIANCE_ROWS`` evenly spaced rows (no random draw)."""
    rows = prepare_rows(X[::max(1, X.shape[0] // N_VARIANCE_ROWS)], space.metric,
                        space.scale)
    if space.sketch is not None:
        rows = sketch_columns(rows, space.sketch)
    total = total_variance(rows)
    return float((space.axis_scales**2).sum() / total) if total > 0 else 1.0


def _modelled_cost(index, queries, settings):
    return float(query_work(index, queries, settings) @ QUERY_COSTS)


def _sample_recall(index, queries, sample, true_kth, n_neighbors, settings, n_jobs=None):
    """Recall@k of the sample queries (each left out of its own neighbours), and
    its standard error over the queries."""
    distances, _ = index.kneighbors(queries, n_neighbors, settings, exclude=sample,
                                    n_jobs=n_jobs)
    per_query = np.mean(found_within(distances, true_kth), axis=1)
    error = per_query.std() / np.sqrt(max(per_query.size, 1))
    return float(per_query.mean()), float(error)


def _exact_kth_distances(index, queries, sample, n_neighbors):
    distances, _ = index.kneighbors(queries, n_neighbors, QuerySettings(exact=True),
                                    exclude=sample)
    return distances[:, -1].astype(np.float64)

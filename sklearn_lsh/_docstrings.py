"""Docstring fragments shared by the estimators: one text per shared parameter.

scikit-learn's convention wants every parameter spelled out in each estimator's
``__init__`` and docstring; the descriptions of the index parameters are
written once here and put in place by :func:`fill_doc`.
"""

#: The parameters of the LSH index, common to every estimator (numpydoc, unindented).
INDEX_PARAMETERS = """\
n_hyperplanes : int or "auto", default="auto"
    Hyperplanes (bits of a key) per table, from 1 to 64. More bits make
    smaller buckets: faster queries, lower recall. ``"auto"`` gives each
    k-means cell ``round(log2(cell size / 16))`` bits, clipped to [1, 64]
    (with one cell, ``round(log2(n_samples / 16))``); with ``target_recall``
    set, one bit more or fewer when that is cheaper at the target (the index
    holds keys one bit longer, and a query can ignore their last bits: a
    shorter key is a prefix). ``n_hyperplanes_`` is the number in use.
n_tables : int or "auto", default="auto"
    Independent hash tables. More tables raise recall and cost memory
    (12 bytes per sample and table) and query time. ``"auto"``: tuned for
    ``target_recall`` (10 when ``target_recall=None``).
n_probes : int or "auto", default="auto"
    Extra buckets visited per table, chosen by flipping the bits whose
    hyperplanes lie closest to the query (query-directed multi-probe,
    Lv et al. 2007). ``0`` visits only the query's own bucket. At most 1023.
    ``"auto"``: tuned for ``target_recall`` (8 when ``target_recall=None``).
n_candidates : int or "auto", default="auto"
    Candidates per query whose exact distance is computed, at least
    ``n_neighbors``. ``"auto"``: tuned for ``target_recall`` at
    ``n_neighbors``, and grown in proportion for queries asking for more
    neighbours (``max(50, 5 * n_neighbors)`` when ``target_recall=None``).
n_cells : int or "auto", default="auto"
    k-means cells the projected data is split into before hashing; each
    row is hashed by hyperplanes through its cell's centroid and a query
    visits its ``n_cell_probes`` nearest cells. ``1`` is plain
    random-hyperplane LSH. On large, tightly clustered data (embeddings)
    hyperplanes through the global mean rarely cut a cluster, and cells of
    1000-2000 rows give far smaller buckets for the same recall; ``fit``
    then runs k-means on up to ``40 * n_cells`` rows. ``"auto"`` hashes
    a few trial tables globally and uses cells only when a row's bucket
    holds over 8 times the 16 rows aimed at (and ``n_hyperplanes="auto"``),
    else 1: it starts from ``round(n_samples / 2000)`` cells and doubles
    them while their own buckets stay over 4 times too large (cells of at
    least 250 rows). Clipped to ``n_samples``.
n_cell_probes : int or "auto", default="auto"
    Nearest cells a query visits (clipped to the number of cells).
    ``"auto"``: tuned for ``target_recall`` (2 when ``target_recall=None``).
target_recall : float in (0, 1] or None, default=0.9
    The recall@``n_neighbors`` to reach. ``fit`` tunes every query parameter
    left at ``"auto"`` (``n_hyperplanes``, ``n_tables``, ``n_probes``,
    ``n_cell_probes``, ``n_candidates``, and with ``n_cells`` too, the cells:
    the automatic ones or cells of about 1000 rows) on a sample of the
    training rows used as queries, to the cheapest setting whose estimated
    recall, less its standard error, reaches the target; with
    ``n_hyperplanes`` and ``n_tables`` at ``"auto"`` it answers by exact
    search instead where hashing is not expected to be at least 1.5 times
    faster (and always for 1.0). ``None``: no tuning, the parameters as
    given. See ``search_method_`` and ``estimated_recall_``.
metric : {"euclidean", "cosine"}, default="euclidean"
    Distance metric, as computed by :func:`sklearn.metrics.pairwise_distances`.
random_state : int, RandomState instance or None, default=None
    Seeds the principal-axis sample and the hyperplanes. Pass an int for
    reproducible results across multiple function calls.
n_jobs : int, default=None
    Number of parallel jobs answering query chunks, at ``fit`` (the tuning's
    sample queries) as for queries (threads, unless a
    :func:`joblib.parallel_config` context chooses another backend). ``None``
    means 1 unless in a :func:`joblib.parallel_config` context; ``-1`` means
    all processors. Results do not depend on it, nor on the backend.
verbose : int, default=0
    Print the tuning's progress when positive.
"""

#: The fitted attributes that describe the chosen operating point (numpydoc, unindented).
TUNING_ATTRIBUTES = """\
search_method_ : {"hashing", "sketch", "exact"}
    How queries are answered: by the hash tables (candidates pre-ranked in
    the hash space), by the sketch strategy (tables over a wide hash space,
    candidates pre-ranked by the Hamming distance of sign sketches; chosen
    at ``fit`` on data whose variance spreads over many directions, such as
    text embeddings), or by exact search (chosen where hashing is not
    expected to win, or for ``target_recall=1.0``).
operating_point_ : QuerySettings
    The query settings in use (tuned, or as given), for ``n_neighbors``.
estimated_recall_ : float or None
    Recall@``n_neighbors`` of the operating point on sample queries drawn
    from the training rows (each left out of its own neighbours); ``None``
    without tuning. Measure it on your own queries with
    :func:`~sklearn_lsh.measure_recall`.
estimated_speedup_ : float or None
    Modelled queries/second of the operating point over exact search's
    (1.0 for exact search); ``None`` without tuning.
"""

_FRAGMENTS = {"%(index_parameters)s": INDEX_PARAMETERS,
              "%(tuning_attributes)s": TUNING_ATTRIBUTES}


def fill_doc(cls):
    """Class decorator: replace each line holding only a fragment's placeholder.

    The fragment takes the placeholder line's indentation, so the result is the
    same whether or not the interpreter has already dedented the docstring.
    """
    lines = []
    for line in cls.__doc__.splitlines():
        fragment = _FRAGMENTS.get(line.strip())
        if fragment is None:
            lines.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        lines.extend(indent + part if part else part for part in fragment.splitlines())
    cls.__doc__ = "\n".join(lines)
    return cls

"""pytest's collection: without the ``dask`` extra, the Dask modules' docstring examples
are not collected (importing them would fail); their tests skip themselves."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("distributed") is None or importlib.util.find_spec("dask") is None:
    collect_ignore += ["sklearn_lsh/dask.py", "sklearn_lsh/_sharded_index.py"]

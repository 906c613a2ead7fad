"""Sphinx configuration: numpydoc API pages, a sphinx-gallery of examples, pydata theme.

Build with ``python -m sphinx -W -b html docs docs/_build/html``.
"""

import os
import sys
from pathlib import Path

import sklearn_lsh

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "sklearn-lsh"
author = "sklearn-lsh developers"
copyright = "2026, sklearn-lsh developers"
version = release = sklearn_lsh.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples/README.rst"]
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-lsh {release}"
html_theme_options = {"navigation_with_keys": False, "show_prev_next": False}

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "reference_url": {"sklearn_lsh": None},
    "doc_module": ("sklearn_lsh",),
    "backreferences_dir": "generated/backreferences",
}

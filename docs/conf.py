"""Sphinx configuration of bpnet's documentation.

Build it offline with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(the ``docs`` extra installs what it needs). ``BPNET_DOCS_INTERSPHINX=1`` links names of
scikit-learn, NumPy and Python to their own documentation, which needs the network.
"""

import os
import runpy
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "bpnet"
copyright = "the bpnet developers"
author = "the bpnet developers"
# Read, not imported: nothing here imports bpnet, so that bpnet's own imports (SciPy's,
# for one, try packages that are there only if something else installed them) come after
# docs_extra_check's finder is installed.
version = release = runpy.run_path(str(DOCS.parent / "bpnet" / "_version.py"))["__version__"]

# docs_extra_check first: from its loading on, the build can import only what the docs
# extra installs, as in a fresh environment with that extra alone; at the end it reports
# any module from outside the extra that was imported before (see its docstring).
extensions = [
    "docs_extra_check",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "bpnet_docs",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
# Titles are the pages' own; the API pages list members explicitly.
autosummary_generate = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"

# numpydoc renders the Parameters/Attributes sections; the members are listed by the API
# pages themselves, so that inherited ones (fit, score) appear and generated ones
# (set_fit_request, ...) do not.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
# Types stay plain text: linking their words needs intersphinx. (A name ending in an
# underscore inside a type, "of shape (n_features_in_,)", is quoted by bpnet_docs, or
# reStructuredText would read it as a link.)
numpydoc_xref_param_type = False

# Intersphinx only when asked: the default build must work without the network.
intersphinx_mapping = {}
if os.environ.get("BPNET_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

# The gallery: examples/plot_*.py, run at every build with matplotlib's Agg backend.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # Code links go to bpnet's own API pages (sphinx-gallery resolves them from the
    # pages being built); other packages' need intersphinx.
    "doc_module": ("bpnet",),
    "backreferences_dir": None,
    "plot_gallery": "True",
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "show_memory": False,
    "min_reported_time": 1,
    "matplotlib_animations": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"bpnet {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"changelog": [], "getting_started": []}
html_show_sourcelink = False

# The examples already silence the warnings they expect; what the build itself may
# raise (matplotlib's Agg backend under sphinx-gallery) is not a documentation problem.
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")

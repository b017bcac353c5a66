"""Sphinx configuration of skattr's documentation.

Build it with ``pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html``;
``SKATTR_GALLERY_QUICK=1`` runs the gallery's examples at a small size (as the test suite
does), without it at full size.
"""

import os

import skattr

project = "skattr"
release = skattr.__version__
version = release
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
autosummary_generate = True
numpydoc_show_class_members = False
myst_heading_anchors = 3
html_theme = "alabaster"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py is run and its figures kept
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "show_memory": False,
    # Seconds per example are written to a table in the source tree otherwise.
    "write_computation_times": False,
}

# The examples' figures are rendered off screen.
os.environ.setdefault("MPLBACKEND", "Agg")

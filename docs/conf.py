"""Sphinx configuration: ``pip install -e ".[docs]" && sphinx-build -W docs docs/_build``."""

import skattr

project = "skattr"
release = skattr.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
autosummary_generate = True
numpydoc_show_class_members = False
html_theme = "alabaster"

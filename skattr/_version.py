"""The package version, in a module of its own so that submodules can import it."""

__version__ = "0.18.0"

# Where the documentation is published (pyproject.toml's project.urls say the same); the HTML
# repr of estimators links to their API pages there.
DOCS_URL = "https://skattr.readthedocs.io/en/latest/"

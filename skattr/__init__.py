"""skattr: identifiable time-series attribution (xCEBRA) for scikit-learn and PyTorch."""

# _threads first: it sets OpenMP's wait policy before anything imports torch.
from . import _threads  # noqa: F401, I001
from . import attribution, callbacks, datasets, metrics, plotting, stats
from ._estimator import xCEBRAAttributor
from ._version import __version__

__all__ = [
    "xCEBRAAttributor", "attribution", "callbacks", "datasets", "metrics", "plotting", "stats",
    "__version__",
]

"""skattr: identifiable time-series attribution (xCEBRA) for scikit-learn and PyTorch."""

from . import attribution, datasets, metrics, plotting
from ._estimator import xCEBRAAttributor

__version__ = "0.1.0"

__all__ = ["xCEBRAAttributor", "attribution", "datasets", "metrics", "plotting", "__version__"]

"""Data sets: the xCEBRA paper's synthetic benchmark, a family of variations around it, and
simulated navigation with place, grid, head-direction and speed cells."""

from ._ratinabox import CELL_TYPES, make_ratinabox
from ._synthetic import (
    LATENT_DYNAMICS,
    NONLINEARITIES,
    clipped_normal_walk,
    make_synthetic,
    ornstein_uhlenbeck,
    smooth_process,
    truncated_normal_walk,
)

__all__ = [
    "CELL_TYPES",
    "LATENT_DYNAMICS",
    "NONLINEARITIES",
    "clipped_normal_walk",
    "make_ratinabox",
    "make_synthetic",
    "ornstein_uhlenbeck",
    "smooth_process",
    "truncated_normal_walk",
]

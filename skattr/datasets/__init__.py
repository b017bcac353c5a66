"""Data sets: the xCEBRA paper's synthetic benchmark and a family of variations around it."""

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
    "LATENT_DYNAMICS",
    "NONLINEARITIES",
    "clipped_normal_walk",
    "make_synthetic",
    "ornstein_uhlenbeck",
    "smooth_process",
    "truncated_normal_walk",
]

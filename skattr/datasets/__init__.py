"""Data sets: the xCEBRA paper's synthetic benchmark."""

from ._synthetic import make_synthetic, truncated_normal_walk

__all__ = ["make_synthetic", "truncated_normal_walk"]

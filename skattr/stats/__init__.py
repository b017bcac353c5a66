"""Statistics a scientist needs to believe an attribution map on data without a ground truth.

- :func:`block_map`: the map at the level of objective blocks, the quantity to compare and test
  (single latents within a block are identified only up to mixing);
- :func:`attribution_null`: surrogate nulls (circular shifts or block shuffles of ``y``; feature
  shifts of ``X`` for the time block), per-entry p-values of each block's contrast with the
  others (:func:`block_contrast`) and Benjamini-Hochberg adjustment;
- :func:`seed_stability`: block maps over seeds, their spread and agreement, the AUC's spread.

Refits run through joblib (``n_jobs``), so any joblib backend (Dask, Ray) spreads them over
machines.
"""

from ._blocks import block_map, blocks
from ._null import (
    NULLS,
    NullResult,
    attribution_null,
    benjamini_hochberg,
    block_contrast,
    empirical_p_values,
)
from ._stability import StabilityResult, agreement, seed_stability
from ._surrogates import SURROGATES, Surrogate

__all__ = [
    "NULLS",
    "SURROGATES",
    "NullResult",
    "StabilityResult",
    "Surrogate",
    "agreement",
    "attribution_null",
    "benjamini_hochberg",
    "block_contrast",
    "block_map",
    "blocks",
    "empirical_p_values",
    "seed_stability",
]

"""Attribution maps at the level of objective blocks.

Within a behaviour block the latents are identified only up to an invertible linear map: two fits
can give the same block with its rows mixed, so single rows of the map need not agree from seed
to seed, while the block's zero pattern does (the features the block does not drive get zero rows
in every mixture). The block-level map, for each block and feature the mean over samples of the
Euclidean norm of that block's rows of the per-sample inverted gradient, is invariant to
orthogonal mixing within a block and keeps the zero pattern under any mixing; it is the quantity
that :mod:`skattr.stats` compares and tests.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .. import attribution
from .._training import latent_blocks

# Samples per chunk of per-sample maps: bounds memory at (chunk, K, N) float64.
_CHUNK = 4096


def blocks(estimator) -> dict[str, np.ndarray]:
    """The latents of each objective block of a fitted ``xCEBRAAttributor``, by block name.

    Derived from the fitted ``objectives_``: ``"behavior"`` (the behaviour objective's block)
    and ``"time"`` (the dimensions only the time objective trains), in embedding order.

    Examples
    --------
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, _ = make_synthetic(n_samples=500, random_state=0)
    >>> model = xCEBRAAttributor(2, 3, max_iter=5, device="cpu", random_state=0).fit(X, y)
    >>> {name: latents.tolist() for name, latents in blocks(model).items()}
    {'behavior': [0, 1], 'time': [2, 3, 4]}
    """
    check_is_fitted(estimator)
    n_latents = len(estimator.embedding_names_)
    return {name: np.array(latents) for name, latents
            in latent_blocks(estimator.objectives_, n_latents).items()}


def block_map(estimator, X, *, method: str = "inverted-gradient", normalize: bool = True,
              **params) -> np.ndarray:
    """Block-level attribution map ``(n_blocks, n_features)`` of a fitted ``xCEBRAAttributor``.

    Entry ``(b, i)`` is ``mean_t ||A_t[rows of block b, i]||_2``, the mean over the samples of
    ``X`` of the norm of block ``b``'s rows of the per-sample map ``A_t`` (by default the
    inverted gradient), divided by its mean over the features (``normalize=True``). A block is
    identified only up to an invertible linear map, so its scale is arbitrary and differs from
    fit to fit; divided by its mean, a block's map says how the block's attribution is shared
    among the features, which compares across fits. Rows follow :func:`blocks`.

    Parameters
    ----------
    estimator : xCEBRAAttributor
        Fitted.
    X : array-like of shape (n_samples, n_features)
    method : str, default="inverted-gradient"
        Any method of :data:`skattr.attribution.METHODS`.
    normalize : bool, default=True
        Divide each block's row by its mean over the features.
    **params
        Passed to :func:`skattr.attribution.attribute` (e.g. ``rcond``, ``lag_reduction``).
        The inverted gradient is the exact pseudo-inverse unless ``damping`` is given (the
        estimator's ``inverse_damping`` is not applied): the norm of a block's rows of the
        exact inverse does not change when the block is mixed orthogonally, which the damped
        inverse, damping each latent's row on its own, does not guarantee. Its ``output_map``
        defaults to the estimator's, as in :meth:`~skattr.xCEBRAAttributor.attribute`.

    Returns
    -------
    ndarray of shape (n_blocks, n_features)

    Examples
    --------
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, _ = make_synthetic(n_samples=500, random_state=0)
    >>> model = xCEBRAAttributor(max_iter=5, device="cpu", random_state=0).fit(X, y)
    >>> block_map(model, X).shape
    (2, 50)
    """
    latents = list(blocks(estimator).values())
    if attribution.METHODS.get(method) is attribution.InvertedNeuronGradient:
        params.setdefault("output_map", estimator._output_map())
    X, _ = estimator._validate_X(X, reset=False)
    module, inputs = estimator._module_and_inputs(X, torch.float32)
    total = np.zeros((len(latents), X.shape[1]))
    for start in range(0, len(inputs), _CHUNK):
        per_sample = attribution.attribute(module, inputs[start : start + _CHUNK], method,
                                           return_per_sample=True, **params)
        for row, block in enumerate(latents):
            total[row] += np.linalg.norm(per_sample[:, block], axis=1).sum(0)
    total /= len(inputs)
    return normalized(total) if normalize else total


def normalized(maps: np.ndarray) -> np.ndarray:
    """Each row of ``maps`` (``(..., rows, N)``) divided by its mean over the last axis (a row
    of zeros stays zero)."""
    scale = maps.mean(-1, keepdims=True)
    return np.divide(maps, scale, out=np.zeros_like(maps), where=scale > 0)


__all__ = ["block_map", "blocks", "normalized"]

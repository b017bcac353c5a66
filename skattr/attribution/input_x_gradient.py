"""Input x gradient: ``x ⊙ J_f(x)`` for all latents (captum's InputXGradient, all latents)."""

from __future__ import annotations

import torch

from ._core import AttributionMethod, jacobian, reduce_lags


class InputXGradient(AttributionMethod):
    """Per-sample ``x ⊙ J_f(x)``, ``(K, N)``, all latents from one forward pass.

    Each row ``k`` is the input times the gradient of latent ``k``: the first-order Taylor
    contribution of each feature relative to a zero input. For windowed (convolutional) encoders
    the product is taken per lag, ``x[n, l] * dz_k/dx[n, l]``, *before* the lag axis is reduced,
    since the product of the lag means is not the mean of the per-lag products.

    Examples
    --------
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Linear(3, 2, bias=False).double()
    >>> X = torch.randn(10, 3, dtype=torch.float64)
    >>> maps = attribute(model, X, method="input-x-gradient", return_per_sample=True)
    >>> maps.shape
    (10, 2, 3)
    >>> bool(torch.allclose(torch.as_tensor(maps), X[:, None, :] * model.weight))
    True
    """

    name = "input-x-gradient"

    def attribute_batch(
        self,
        model: torch.nn.Module,
        inputs: torch.Tensor,
        lag_reduction: str,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        maps = inputs.detach()[:, None] * jacobian(model, inputs)
        return reduce_lags(maps, lag_reduction)


__all__ = ["InputXGradient"]

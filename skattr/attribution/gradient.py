"""Neuron gradient: the encoder Jacobian ``J_f(x)`` (captum's NeuronGradient, all latents)."""

from __future__ import annotations

from ._core import AttributionMethod, jacobian, reduce_lags


class NeuronGradient(AttributionMethod):
    """Per-sample Jacobian ``J_f(x)``, ``(K, N)``, all latents from one forward pass.

    Examples
    --------
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Linear(3, 2)
    >>> amap = attribute(model, torch.randn(10, 3), method="gradient", reduction="mean")
    >>> bool(torch.allclose(torch.as_tensor(amap), model.weight.double()))
    True
    """

    name = "gradient"

    def attribute_batch(self, model, inputs, lag_reduction, target=None):
        return reduce_lags(jacobian(model, inputs), lag_reduction)


__all__ = ["NeuronGradient"]

"""Inverted neuron gradient (xCEBRA): the transposed pseudo-inverse ``pinv(J_f(x))^T``."""

from __future__ import annotations

import torch

from ._core import AttributionMethod, jacobian, reduce_lags


class InvertedNeuronGradient(AttributionMethod):
    """Per-sample ``pinv(J_f(x))^T`` of shape ``(K, N)``, in float64 on the model's device.

    If ``J_f J_g`` is block-diagonal and ``f`` is the minimum-norm inverse of the mixing ``g``
    (what the Jacobian regulariser drives training to), then ``pinv(J_f) = J_g L^-1`` keeps the
    zeros of the mixing Jacobian ``J_g`` that the plain gradient loses.

    For windowed encoders, the lag axis of the Jacobian is reduced by the signed mean *before*
    inverting (the abs-then-invert variant destroys the structure).

    Parameters
    ----------
    rcond : float, default=None
        Singular values below ``rcond`` times the largest are treated as zero. ``None`` means
        ``max(K, N)`` times the machine epsilon of the Jacobian's own dtype (float32 for a
        float32 model), so that rounding noise of a float32 Jacobian is not inverted into huge
        values when it is pseudo-inverted in float64.

    Examples
    --------
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Linear(4, 2, bias=False)
    >>> amap = attribute(model, torch.randn(10, 4), method="inverted-gradient", reduction="mean")
    >>> expected = torch.linalg.pinv(model.weight.double()).T
    >>> bool(torch.allclose(torch.as_tensor(amap), expected))
    True
    """

    name = "inverted-gradient"

    def __init__(self, rcond: float | None = None) -> None:
        self.rcond = rcond

    def attribute_batch(self, model, inputs, lag_reduction, target=None):
        jac = reduce_lags(jacobian(model, inputs), lag_reduction)
        rcond = self.rcond
        if rcond is None:
            rcond = max(jac.shape[-2:]) * torch.finfo(jac.dtype).eps
        return torch.linalg.pinv(jac.to(torch.float64), rtol=rcond).transpose(1, 2)


__all__ = ["InvertedNeuronGradient"]

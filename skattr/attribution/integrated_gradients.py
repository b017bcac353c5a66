"""Integrated gradients for all latents at once (captum's IntegratedGradients, every target)."""

from __future__ import annotations

from numbers import Integral

import torch

from ._core import AttributionMethod, reduce_lags
from ._paths import baseline_like, check_baselines, check_path, path_integral


class IntegratedGradients(AttributionMethod):
    """Integrated gradients ``(x - b) ⊙ ∫ J_f(b + α (x - b)) dα``, ``(K, N)`` per sample.

    The integral is a quadrature over ``n_steps`` points of the straight path from the baseline
    ``b`` to the input ``x``. All ``K`` latents come from the same forward pass over the path
    points and one batched backward, so the cost does not grow with ``K``. For windowed
    (convolutional) encoders the attribution is computed per lag and the lag axis reduced after.

    By completeness, each latent's attributions sum to ``f_k(x) - f_k(b)`` up to the quadrature
    error; after a run, :attr:`max_delta_` and :attr:`mean_delta_` report how far they are.

    Parameters
    ----------
    n_steps : int, default=50
        Number of points on the path (at least 2 for the Riemann rules).
    rule : {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", \
"riemann_trapezoid"}, default="gausslegendre"
        Quadrature rule: captum's ``method``. Like captum's, ``"riemann_trapezoid"`` weights
        its ``n_steps`` points from 0 to 1 by ``1/n_steps`` halved at both ends, so the weights
        sum to ``1 - 1/n_steps``: even a linear model's attributions are scaled by that factor.
    baselines : float or array-like of shape (N,) or (N, L), default=0.0
        The path's start: a scalar, or one sample's values (an ``(N,)`` baseline of a windowed
        encoder is the same at every lag).
    internal_batch_size : int, default=None
        At most this many path points (of the ``n_steps`` times batch size) go through one
        forward/backward pass; bounds memory. ``None`` means all at once.

    Attributes
    ----------
    max_delta_ : float
        Largest completeness error ``|sum_i attr_ki - (f_k(x) - f_k(b))|`` over the samples and
        latents of the last :func:`~skattr.attribution.attribute` call (summing over features
        and lags, before the lag reduction).
    mean_delta_ : float
        The mean of those errors.

    Examples
    --------
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> ig = IntegratedGradients(n_steps=64)
    >>> attribute(model.double(), torch.randn(20, 4, dtype=torch.float64), ig).shape
    (2, 4)
    >>> ig.max_delta_ < 1e-8
    True
    """

    name = "integrated-gradients"

    def __init__(
        self,
        n_steps: int = 50,
        rule: str = "gausslegendre",
        baselines=0.0,
        internal_batch_size: int | None = None,
    ) -> None:
        check_path(n_steps, rule)
        if internal_batch_size is not None and (
            not isinstance(internal_batch_size, Integral)
            or isinstance(internal_batch_size, bool)
            or internal_batch_size < 1
        ):
            raise ValueError(
                f"internal_batch_size must be a positive integer or None; "
                f"got {internal_batch_size!r}."
            )
        self.n_steps = int(n_steps)
        self.rule = rule
        self.baselines = baselines
        self.internal_batch_size = internal_batch_size
        self._baselines = check_baselines(baselines)

    def prepare(
        self, model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor | None
    ) -> None:
        self._baseline = baseline_like(self._baselines, inputs)
        with torch.no_grad():
            # f(b) is the same for every sample: one forward here rather than one per batch.
            self._baseline_output = model(self._baseline[None])
        self.max_delta_ = 0.0
        self.mean_delta_ = 0.0
        self._delta_sum = 0.0
        self._delta_count = 0

    def attribute_batch(
        self,
        model: torch.nn.Module,
        inputs: torch.Tensor,
        lag_reduction: str,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if not hasattr(self, "_baseline"):  # called without attribute(): prepare on the batch
            self.prepare(model, inputs, target)
        inputs = inputs.detach()
        integral = path_integral(
            model, inputs, self._baseline, self.rule, self.n_steps, self.internal_batch_size
        )
        maps = integral * (inputs - self._baseline)[:, None]
        self._update_delta(model, inputs, maps)
        return reduce_lags(maps, lag_reduction)

    def _update_delta(self, model: torch.nn.Module, inputs: torch.Tensor, maps: torch.Tensor):
        """Accumulate the completeness error of ``maps`` (before any lag reduction)."""
        with torch.no_grad():
            change = model(inputs) - self._baseline_output
        delta = (maps.flatten(2).sum(-1) - change).abs()
        self.max_delta_ = max(self.max_delta_, float(delta.max()))
        self._delta_sum += float(delta.sum())
        self._delta_count += delta.numel()
        self.mean_delta_ = self._delta_sum / self._delta_count


__all__ = ["IntegratedGradients"]

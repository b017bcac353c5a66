"""Integrated gradients for all latents at once (captum's IntegratedGradients, every target)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch

from ._core import AttributionMethod, jacobian, reduce_lags

RIEMANN_RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
RULES = ("gausslegendre", *RIEMANN_RULES)


def quadrature(rule: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Step weights and path points ``alpha`` in ``[0, 1]`` of captum's quadrature ``rule``.

    The rules are captum's (``captum.attr._utils.approximation_methods``), computed in float64:
    captum rounds the Riemann points and all weights to float32, which moves its results by a
    relative ~1e-8 from these. Like captum's, ``"riemann_trapezoid"`` puts ``n_steps`` points
    from 0 to 1 but weights them ``1/n_steps`` (halved at both ends), so its weights sum to
    ``1 - 1/n_steps``: it underestimates even a linear model's attributions by that factor.

    Examples
    --------
    >>> weights, alphas = quadrature("riemann_trapezoid", 3)
    >>> weights.tolist(), alphas.tolist()
    ([0.16666666666666666, 0.3333333333333333, 0.16666666666666666], [0.0, 0.5, 1.0])
    """
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        # Gauss-Legendre lives on [-1, 1]: map the nodes to [0, 1] and halve the weights.
        return 0.5 * weights, 0.5 * (1.0 + nodes)
    weights = np.full(n_steps, 1.0 / n_steps)
    if rule == "riemann_trapezoid":
        weights[[0, -1]] /= 2
        return weights, np.linspace(0.0, 1.0, n_steps)
    if rule == "riemann_left":
        return weights, np.linspace(0.0, 1.0 - 1.0 / n_steps, n_steps)
    if rule == "riemann_middle":
        return weights, np.linspace(0.5 / n_steps, 1.0 - 0.5 / n_steps, n_steps)
    if rule == "riemann_right":
        return weights, np.linspace(1.0 / n_steps, 1.0, n_steps)
    raise ValueError(f"rule must be one of {RULES}; got {rule!r}.")


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
        Quadrature rule: captum's ``method`` (whose ``"riemann_trapezoid"`` weights sum to
        ``1 - 1/n_steps``, see :func:`quadrature`).
    baselines : float or array-like, default=0.0
        The path's start: a scalar, or an array broadcastable to one sample, ``(N,)`` or
        ``(N, L)`` for windows (an ``(N,)`` baseline of a windowed encoder is the same at every
        lag).
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
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}; got {rule!r}.")
        if not isinstance(n_steps, Integral) or isinstance(n_steps, bool) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer; got {n_steps!r}.")
        if rule in RIEMANN_RULES and n_steps < 2:
            raise ValueError(f"n_steps must be at least 2 for rule={rule!r}; got {n_steps}.")
        if internal_batch_size is not None and (
            not isinstance(internal_batch_size, Integral)
            or isinstance(internal_batch_size, bool)
            or internal_batch_size < 1
        ):
            raise ValueError(
                f"internal_batch_size must be a positive integer or None; "
                f"got {internal_batch_size!r}."
            )
        if isinstance(baselines, (str, bool)) or baselines is None:
            raise ValueError(
                f"baselines must be a number or an array broadcastable to one sample; "
                f"got {baselines!r}."
            )
        self.n_steps = int(n_steps)
        self.rule = rule
        self.baselines = baselines
        self.internal_batch_size = internal_batch_size

    def prepare(
        self, model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor | None
    ) -> None:
        self._baseline = _baseline_sample(self.baselines, inputs)
        weights, alphas = quadrature(self.rule, self.n_steps)
        self._weights = torch.as_tensor(weights, device=inputs.device, dtype=inputs.dtype)
        self._alphas = torch.as_tensor(alphas, device=inputs.device, dtype=inputs.dtype)
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
        n_samples = inputs.shape[0]
        difference = inputs - self._baseline
        n_points = self.n_steps * n_samples
        chunk = n_points if self.internal_batch_size is None else self.internal_batch_size
        # Path points are ordered step-major (point p is step p // B of sample p % B) and built
        # chunk by chunk, so neither the points nor their Jacobians are ever all in memory.
        total = None
        for start in range(0, n_points, chunk):
            points = torch.arange(start, min(start + chunk, n_points), device=inputs.device)
            steps, samples = points // n_samples, points % n_samples
            alphas = self._alphas[steps].view(-1, *[1] * (inputs.dim() - 1))
            path = self._baseline + alphas * difference[samples]
            weighted = jacobian(model, path) * self._weights[steps].view(-1, 1, *alphas.shape[1:])
            if total is None:
                total = weighted.new_zeros((n_samples, *weighted.shape[1:]))
            total.index_add_(0, samples, weighted)
        maps = total * difference[:, None]
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


def _baseline_sample(baselines, inputs: torch.Tensor) -> torch.Tensor:
    """``baselines`` as one sample of ``inputs`` (shape ``inputs.shape[1:]``), on its device."""
    if isinstance(baselines, Real):
        baseline = torch.tensor(float(baselines))
    else:
        baseline = torch.as_tensor(
            baselines if torch.is_tensor(baselines) else np.asarray(baselines)
        )
    baseline = baseline.to(device=inputs.device, dtype=inputs.dtype)
    sample_shape = inputs.shape[1:]
    if baseline.dim() == 1 and len(sample_shape) == 2 and baseline.shape[0] == sample_shape[0]:
        baseline = baseline[:, None]  # one value per feature, the same at every lag
    try:
        broadcast = torch.broadcast_shapes(baseline.shape, sample_shape)
    except RuntimeError:
        broadcast = None
    if broadcast != sample_shape:
        raise ValueError(
            f"baselines must be a scalar or broadcastable to one sample of shape "
            f"{tuple(sample_shape)}; got shape {tuple(baseline.shape)}."
        )
    if not torch.isfinite(baseline).all():
        raise ValueError("baselines contains NaN or infinite values.")
    return baseline.expand(sample_shape)


__all__ = ["IntegratedGradients"]

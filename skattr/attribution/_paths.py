"""What the path methods (integrated gradients, conductance, IGC) share: captum's integration
rules, their parameter check, the straight-line path points and the quadrature of the Jacobian
along them; and the one-sample baselines those paths start from, which feature ablation also
ablates to."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch

from ._core import jacobian

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


def check_path(n_steps, rule: str) -> None:
    """Raise a ValueError naming ``rule`` or ``n_steps`` if captum's rules would reject them."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}.")
    smallest = 2 if rule in RIEMANN_RULES else 1  # captum's Riemann rules need two points
    if not isinstance(n_steps, Integral) or isinstance(n_steps, bool) or n_steps < smallest:
        raise ValueError(
            f"n_steps must be an integer >= {smallest} for rule={rule!r}; got {n_steps!r}."
        )


def check_baselines(baselines) -> float | torch.Tensor:
    """``baselines`` as a finite float or a finite float64 CPU tensor of shape (N,) or (N, L).

    Checked when a method is built; :func:`baseline_like` fits it to the inputs, whose shape is
    only known then.
    """
    if isinstance(baselines, Real) and not isinstance(baselines, bool):
        if not np.isfinite(baselines):
            raise ValueError(f"baselines must be finite; got {baselines!r}.")
        return float(baselines)
    try:
        values = torch.as_tensor(
            np.asarray(baselines) if not torch.is_tensor(baselines) else baselines
        )
    except (TypeError, ValueError, RuntimeError) as error:  # strings, None, ragged lists
        raise ValueError(
            f"baselines must be a scalar or an array of shape (N,) or (N, L); got {baselines!r}."
        ) from error
    if values.dtype == torch.bool or values.is_complex():
        raise ValueError(f"baselines must be real numbers; got dtype {values.dtype}.")
    if values.dim() == 0:
        return check_baselines(float(values))
    if values.dim() > 2:
        raise ValueError(
            "baselines must be a scalar or a real array of shape (N,) or (N, L) for one sample; "
            f"got shape {tuple(values.shape)}."
        )
    values = values.detach().to("cpu", torch.float64)
    if not torch.isfinite(values).all():
        raise ValueError("baselines contains NaN or infinite values.")
    return values


def baseline_like(baselines: float | torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """The :func:`check_baselines` baseline as one sample, shaped ``inputs.shape[1:]``, on the
    inputs' device and in their dtype.

    A ``(N,)`` baseline of windowed inputs ``(B, N, L)`` is the same at every lag.
    """
    sample_shape = tuple(inputs.shape[1:])
    if not torch.is_tensor(baselines):
        return torch.full(sample_shape, baselines, device=inputs.device, dtype=inputs.dtype)
    values = baselines.to(device=inputs.device, dtype=inputs.dtype)
    if tuple(values.shape) == sample_shape:
        return values
    if len(sample_shape) == 2 and tuple(values.shape) == sample_shape[:1]:
        return values[:, None].expand(sample_shape)
    expected = "(N,)" if len(sample_shape) == 1 else "(N,) or (N, L)"
    raise ValueError(
        f"baselines must be a scalar or an array of shape {expected} = {sample_shape}; "
        f"got shape {tuple(values.shape)}."
    )


def path_points(
    inputs: torch.Tensor,
    baseline: torch.Tensor,
    alphas: np.ndarray | torch.Tensor,
    index: torch.Tensor | None = None,
) -> torch.Tensor:
    """Points ``b + alpha_s (x_j - b)`` of the straight paths from ``baseline`` to the ``B``
    samples ``inputs``, numbered step-major: point ``p`` is step ``p // B`` of sample ``p % B``.

    All ``S x B`` points as one batch, or only those numbered in ``index``.
    """
    n_samples = inputs.shape[0]
    if index is None:
        index = torch.arange(len(alphas) * n_samples, device=inputs.device)
    alphas = torch.as_tensor(alphas, device=inputs.device, dtype=inputs.dtype)[index // n_samples]
    alphas = alphas.view(-1, *[1] * (inputs.dim() - 1))
    return baseline + alphas * (inputs[index % n_samples] - baseline)


def path_integral(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    baseline: torch.Tensor,
    rule: str,
    n_steps: int,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """``sum_s w_s J_f(b + alpha_s (x - b))`` per sample, ``(B, K, *inputs.shape[1:])``: the
    quadrature by ``rule`` of the Jacobian along each sample's path from ``baseline``.

    All ``K`` latents come from one forward and one batched backward per chunk of at most
    ``chunk_size`` path points (``None``: all ``S x B`` at once). The chunks are built and
    summed one by one, so with a ``chunk_size`` neither all points nor all their Jacobians
    are ever in memory.
    """
    weights, alphas = quadrature(rule, n_steps)
    weights = torch.as_tensor(weights, device=inputs.device, dtype=inputs.dtype)
    alphas = torch.as_tensor(alphas, device=inputs.device, dtype=inputs.dtype)
    n_samples = inputs.shape[0]
    n_points = len(alphas) * n_samples
    chunk = n_points if chunk_size is None else chunk_size
    total = None
    for start in range(0, n_points, chunk):
        index = torch.arange(start, min(start + chunk, n_points), device=inputs.device)
        jac = jacobian(model, path_points(inputs, baseline, alphas, index))
        weighted = jac * weights[index // n_samples].view(-1, *[1] * (jac.dim() - 1))
        if total is None:
            total = weighted.new_zeros((n_samples, *weighted.shape[1:]))
        total.index_add_(0, index % n_samples, weighted)
    return total

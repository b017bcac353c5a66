"""Internal influence: the latents (or a quantity of interest made of them) attributed to the
units of a hidden layer, ``(n_qoi, n_units)`` (TruLens' ``InternalInfluence``; captum's
``LayerGradientXActivation`` and ``LayerIntegratedGradients``, every target at once)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from ._core import (
    LAG_REDUCTIONS,
    StreamingReduction,
    check_outputs,
    eval_mode,
    model_device_dtype,
    model_inputs,
    output_gradients,
    reduce_lags,
    reduce_over_samples,
)
from ._layers import replace_layer, resolve_layer
from ._paths import check_path, quadrature

INFLUENCES = ("gradient", "gradient-x-activation", "integrated-gradients")


def _qoi_matrix(qoi, n_latents: int, device, dtype) -> torch.Tensor:
    """The quantity of interest as a ``(Q, K)`` matrix applied to the latents."""
    if qoi is None:
        return torch.eye(n_latents, device=device, dtype=dtype)
    if isinstance(qoi, Integral) and not isinstance(qoi, bool):
        qoi = [qoi]
    values = np.asarray(qoi)
    if values.ndim == 1 and values.dtype.kind in "iu":
        if not np.all((-n_latents <= values) & (values < n_latents)) or len(values) == 0:
            raise ValueError(
                f"qoi must select latents among the model's {n_latents}; got {qoi!r}."
            )
        return torch.eye(n_latents, device=device, dtype=dtype)[torch.as_tensor(values)]
    if values.ndim == 2 and values.shape[1] == n_latents and values.dtype.kind in "fiu":
        if not np.isfinite(values).all():
            raise ValueError("qoi contains NaN or infinite values.")
        return torch.as_tensor(values, device=device, dtype=dtype)
    raise ValueError(
        "qoi must be None (every latent), an int or a list of ints (a selection of latents), "
        f"or an array (n_qoi, n_latents={n_latents}) of linear combinations; got {qoi!r}."
    )


def _layer_baseline(baselines, hidden: torch.Tensor) -> torch.Tensor:
    """A baseline in the layer's space, shaped like one sample of ``hidden``."""
    shape = tuple(hidden.shape[1:])
    if not torch.is_tensor(baselines) and np.ndim(baselines) == 0:
        value = float(baselines)
        if not np.isfinite(value):
            raise ValueError(f"baselines must be finite; got {baselines!r}.")
        return torch.full(shape, value, device=hidden.device, dtype=hidden.dtype)
    values = torch.as_tensor(np.asarray(baselines) if not torch.is_tensor(baselines)
                             else baselines).to(device=hidden.device, dtype=hidden.dtype)
    if tuple(values.shape) != shape:
        raise ValueError(
            f"baselines must be a scalar or one sample of the layer's output, shape {shape}; "
            f"got shape {tuple(values.shape)}."
        )
    if not torch.isfinite(values).all():
        raise ValueError("baselines contains NaN or infinite values.")
    return values


def influence_batch(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    layer: torch.nn.Module,
    qoi: torch.Tensor,
    how: str = "gradient",
    baselines=0.0,
    n_steps: int = 50,
    rule: str = "gausslegendre",
) -> torch.Tensor:
    """Per-sample influence ``(B, Q, *layer output shape[1:])`` of the QoI on ``layer``.

    ``"gradient"``: ``d(qoi . f)/dh`` at the layer's output ``h``; ``"gradient-x-activation"``:
    that times ``h``; ``"integrated-gradients"``: ``(h - h0)`` times the quadrature of the
    gradient along the straight path from the layer-space baseline ``h0`` to ``h``, with the
    rest of the model run on each path point (the path lives in the layer, not the input).
    All ``Q`` quantities come from one batched backward.
    """
    leaf: list[torch.Tensor] = []
    n_samples = inputs.shape[0]
    if how == "integrated-gradients":
        weights, alphas = quadrature(rule, n_steps)
        alphas = torch.as_tensor(alphas, device=inputs.device, dtype=inputs.dtype)
        start: list[torch.Tensor] = []

        def values(hidden):
            # Step-major: rows s*B .. (s+1)*B - 1 are step s of the B samples.
            hidden = hidden.detach()[:n_samples]
            base = _layer_baseline(baselines, hidden)
            start.extend([hidden, base])
            shape = (-1, *[1] * hidden.dim())
            points = base + alphas.view(shape) * (hidden - base)
            leaf.append(points.reshape(-1, *hidden.shape[1:]).requires_grad_(True))
            return leaf[0]

        batch = inputs.repeat(len(alphas), *[1] * (inputs.dim() - 1))
    else:
        def values(hidden):
            leaf.append(hidden.detach().requires_grad_(True))
            return leaf[0]

        batch = inputs
    with torch.enable_grad():
        outputs = check_outputs(replace_layer(model, batch, layer, values))
        grads = output_gradients(outputs @ qoi.T, leaf[0])  # (Q, points, *unit shape)
    if how == "gradient":
        return grads.movedim(0, 1)
    if how == "gradient-x-activation":
        return grads.movedim(0, 1) * leaf[0].detach()[:, None]
    hidden, base = start
    weights = torch.as_tensor(weights, device=inputs.device, dtype=inputs.dtype)
    grads = grads.view(grads.shape[0], len(weights), n_samples, *grads.shape[2:])
    integral = torch.einsum("qsb...,s->bq...", grads, weights)
    return integral * (hidden - base)[:, None]


def internal_influence(
    model: torch.nn.Module,
    X,
    layer: torch.nn.Module | str,
    how: str = "gradient",
    *,
    qoi=None,
    baselines=0.0,
    n_steps: int = 50,
    rule: str = "gausslegendre",
    reduction: str = "mean_abs",
    lag_reduction: str = "mean",
    batch_size: int = 1024,
    return_per_sample: bool = False,
    verbose: bool = False,
) -> np.ndarray:
    """Influence of the latents (or ``qoi``) on every unit of ``layer``: ``(n_qoi, n_units)``.

    The distribution of interest is the data ``X`` itself (for ``"integrated-gradients"``, the
    straight path in the layer's space from ``baselines`` to each sample's activation).
    Streamed over samples in batches of ``batch_size``; the model is left as it was (the hook
    that substitutes the layer's output is removed in ``finally``).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, N)`` samples or ``(B, N, L)`` windows to ``(B, K)``.
    X : array-like or torch.Tensor of shape (T, N) or (T, N, L)
    layer : torch.nn.Module or str
        A submodule of ``model`` (or its dotted name), called once per forward pass, returning
        ``(B, H)`` units or, for a convolution, ``(B, C, L')``: its units are then the ``C``
        channels, the influence on the ``L'`` time positions reduced with ``lag_reduction``.
    how : {"gradient", "gradient-x-activation", "integrated-gradients"}, default="gradient"
        ``d qoi / d h``; that times the activation ``h`` (captum's
        ``LayerGradientXActivation``); or integrated gradients from a baseline in the layer's
        space (captum's ``LayerIntegratedGradients`` with ``multiply_by_inputs=True``, whose
        baseline is the layer's output at an input baseline: pass that output here).
    qoi : None, int, list of int or array-like of shape (n_qoi, K), default=None
        The quantity of interest: every latent (``None``), a selection of latents, or linear
        combinations of them (each row one quantity).
    baselines : float or array-like of one sample's layer output, default=0.0
        The start of the path of ``"integrated-gradients"``.
    n_steps : int, default=50
        Points of the path integral.
    rule : str, default="gausslegendre"
        Quadrature rule, as for :class:`~skattr.attribution.IntegratedGradients`.
    reduction : {"mean_abs", "mean", "sum", "max_abs"}, default="mean_abs"
        Reduction over samples.
    lag_reduction : {"mean", "mean_abs"}, default="mean"
        Reduction over a convolutional layer's time positions (and over the lags of the inputs
        of a windowed model).
    batch_size : int, default=1024
        Samples per pass (``"integrated-gradients"`` runs ``n_steps`` times as many points).
    return_per_sample : bool, default=False
        Return ``(T, n_qoi, n_units)`` instead of the reduction.
    verbose : bool, default=False
        Show a progress bar over the batches.

    Returns
    -------
    ndarray of shape (n_qoi, n_units), or (T, n_qoi, n_units), in float64

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> internal_influence(model, torch.randn(50, 4), layer="1").shape
    (2, 8)
    >>> internal_influence(model, torch.randn(50, 4), "1", qoi=[[1.0, -1.0]]).shape
    (1, 8)
    """
    if how not in INFLUENCES:
        raise ValueError(f"how must be one of {INFLUENCES}; got {how!r}.")
    if lag_reduction not in LAG_REDUCTIONS:
        raise ValueError(f"lag_reduction must be one of {LAG_REDUCTIONS}; got {lag_reduction!r}.")
    if not isinstance(batch_size, Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    if how == "integrated-gradients":
        check_path(n_steps, rule)
    layer = resolve_layer(model, layer)
    StreamingReduction(reduction)  # checks the name before any work
    device, dtype = model_device_dtype(model)
    inputs = model_inputs(model, X, device, dtype)
    if inputs.shape[0] == 0:
        raise ValueError("X must contain at least one sample; got 0.")

    def batches(qoi_matrix):
        for start in range(0, inputs.shape[0], int(batch_size)):
            maps = influence_batch(model, inputs[start : start + batch_size], layer, qoi_matrix,
                                   how, baselines, n_steps, rule)
            if maps.dim() == 4:  # a convolution's (B, Q, C, L'): reduce its time positions
                maps = reduce_lags(maps, lag_reduction)
            elif maps.dim() != 3:
                raise ValueError(
                    "layer must output (batch, units) or, for a convolution, (batch, channels, "
                    f"time); got {maps.dim() - 1}-D outputs."
                )
            yield maps

    with eval_mode(model):
        with torch.no_grad():
            n_latents = check_outputs(model(inputs[:1])).shape[1]
        matrix = _qoi_matrix(qoi, n_latents, device, dtype)
        return reduce_over_samples(batches(matrix), reduction, return_per_sample,
                                   n_batches=-(-inputs.shape[0] // int(batch_size)),
                                   verbose=verbose, description="internal influence")


__all__ = ["INFLUENCES", "influence_batch", "internal_influence"]

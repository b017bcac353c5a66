"""Attribution maps for any torch encoder: one method per module, one entry point.

:func:`attribute` computes a ``(K, N)`` map (latents x features) for a module mapping ``(B, N)``
samples, or ``(B, N, L)`` windows of a convolutional encoder, to ``(B, K)``. It streams over the
samples in batches, so memory is ``O(K N)`` whatever the number of samples, and leaves the model
as it found it (device, dtype, ``requires_grad``, train/eval mode).

Methods (names for ``method=``):

- ``"inverted-gradient"`` -- :class:`InvertedNeuronGradient`, xCEBRA's ``pinv(J_f(x))^T``;
- ``"gradient"`` -- :class:`NeuronGradient`, the Jacobian ``J_f(x)``;
- ``"feature-ablation"`` -- :class:`FeatureAblation`, ``f(x) - f(x with a feature ablated)``;
- ``"gradient-shap"`` -- :class:`GradientShap`, expected gradients times ``x - b`` from random
  baselines and path points;
- ``"conductance"`` -- :class:`NeuronConductance`, the integrated gradient through one hidden
  unit;
- ``"igc"`` -- :class:`IntegratedGradientCorrelation`, integrated gradient correlation:
  each latent's row sums to its correlation with the target over the data;
- ``"input-x-gradient"`` -- :class:`InputXGradient`, ``x ⊙ J_f(x)``;
- ``"integrated-gradients"`` -- :class:`IntegratedGradients`, the path integral of ``J_f`` from
  a baseline, times ``x - b``.

Inside the network: ``attribute(..., layer=...)`` attributes every unit of a hidden layer to the
inputs with any of these methods, and :func:`internal_influence` attributes the latents to the
units of a layer. Both go through one mechanism, :mod:`skattr.attribution._layers`.
"""

from __future__ import annotations

import inspect
from numbers import Integral

import numpy as np
import torch

from ._core import (
    LAG_REDUCTIONS,
    REDUCTIONS,
    ROW_NORMS,
    AttributionMethod,
    StreamingReduction,
    check_row_norm,
    eval_mode,
    jacobian,
    model_device_dtype,
    model_inputs,
    normalize_rows,
    reduce_over_samples,
)
from ._layers import LayerUnits, layer_model
from .conductance import NeuronConductance
from .feature_ablation import FeatureAblation
from .gradient import NeuronGradient
from .gradient_shap import GradientShap
from .igc import IntegratedGradientCorrelation
from .input_x_gradient import InputXGradient
from .integrated_gradients import IntegratedGradients
from .internal_influence import INFLUENCES, internal_influence
from .inverted_gradient import InvertedNeuronGradient

METHODS: dict[str, type[AttributionMethod]] = {
    InvertedNeuronGradient.name: InvertedNeuronGradient,
    NeuronGradient.name: NeuronGradient,
    FeatureAblation.name: FeatureAblation,
    NeuronConductance.name: NeuronConductance,
    IntegratedGradientCorrelation.name: IntegratedGradientCorrelation,
    InputXGradient.name: InputXGradient,
    IntegratedGradients.name: IntegratedGradients,
    GradientShap.name: GradientShap,
}


def get_method(method: str | AttributionMethod, **params) -> AttributionMethod:
    """The attribution method named ``method`` (or ``method`` itself), built with ``params``."""
    if isinstance(method, AttributionMethod):
        return method
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}; got {method!r}.")
    accepted = set(inspect.signature(METHODS[method]).parameters)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise TypeError(
            f"method {method!r} got unexpected parameter(s) {unknown}; it accepts "
            f"{sorted(accepted) or 'none'}."
        )
    return METHODS[method](**params)


def attribute(
    model: torch.nn.Module,
    X,
    method: str | AttributionMethod = "inverted-gradient",
    *,
    target=None,
    reduction: str | None = None,
    lag_reduction: str = "mean",
    batch_size: int = 1024,
    return_per_sample: bool = False,
    row_norm: str | None = None,
    layer: torch.nn.Module | str | None = None,
    attribute_to_layer_input: bool = False,
    verbose: bool = False,
    **method_params,
) -> np.ndarray:
    """Attribution map of ``model`` on the samples ``X``.

    With ``layer``, the map is of all units of that hidden layer instead of the latents:
    ``(n_units, N)``, in one pass per batch (captum's neuron methods, every unit at once).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, N)`` samples, or ``(B, N, L)`` windows, to ``(B, K)``. A model with a
        ``receptive_field`` attribute ``L > 1`` given 2-D ``X`` gets its windows built for it.
    X : array-like or torch.Tensor of shape (T, N) or (T, N, L)
        The samples, in time order for windowed models.
    method : str or AttributionMethod, default="inverted-gradient"
        One of ``skattr.attribution.METHODS``.
    target : array-like or torch.Tensor of shape (T,) or (T, D), optional
        Per-sample targets for methods that need them (``requires_target``, e.g. IGC's labels).
    reduction : {"mean_abs", "mean", "sum", "max_abs"}, optional
        How per-sample maps are reduced over samples, accumulated batch by batch. ``None``
        means the method's ``default_reduction`` (``"mean_abs"`` for most methods).
    lag_reduction : {"mean", "mean_abs"}, default="mean"
        How the lag axis of a windowed model's maps is reduced (signed mean by default).
    batch_size : int, default=1024
        Samples per forward/backward pass; bounds memory.
    return_per_sample : bool, default=False
        Return the ``(T, K, N)`` per-sample maps instead of the reduction.
    row_norm : {"l2", "l1", "max"}, default=None
        Divide each row of every per-sample map by its norm over the features before the
        reduction (and in what ``return_per_sample`` returns), so that every sample and every
        latent weighs the same: a latent's scale is not identified by training, and a sample
        where the encoder's gain is small otherwise dominates the pseudo-inverse's mean.
        ``None`` keeps the raw maps (the paper's aggregate).
    layer : torch.nn.Module or str, optional
        Attribute the units of this submodule (or dotted name in ``model.named_modules()``)
        rather than the model's outputs: the entries of a ``(B, H)`` output, or the channels of
        a convolution's ``(B, C, L')`` output, each the mean over its ``L'`` time positions.
        Every method applies (for the inverted gradient, the pseudo-inverse is of the
        units-by-features Jacobian), except ``"conductance"``, whose own ``layer`` parameter
        is the layer that the conductance flows through.
    attribute_to_layer_input : bool, default=False
        With ``layer``: the units of the layer's input instead of its output (captum's
        ``attribute_to_neuron_input``).
    verbose : bool, default=False
        Show a progress bar over the batches (for long recordings).
    **method_params
        Passed to the method's constructor (e.g. ``rcond``).

    Returns
    -------
    ndarray of shape (K, N), or (T, K, N) with ``return_per_sample=True``
        In float64; ``K`` is the number of units with ``layer``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> attribute(model, torch.randn(100, 6)).shape
    (2, 6)
    >>> attribute(model, torch.randn(100, 6), method="gradient", layer="1").shape  # 8 units
    (8, 6)
    """
    if lag_reduction not in LAG_REDUCTIONS:
        raise ValueError(f"lag_reduction must be one of {LAG_REDUCTIONS}; got {lag_reduction!r}.")
    if not isinstance(batch_size, Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    batch_size = int(batch_size)
    if isinstance(method, str) and method in METHODS and (
        "layer" in inspect.signature(METHODS[method]).parameters
    ):
        # Conductance's own layer is the one it flows through, not a layer target.
        method_params["layer"], layer = layer, None
    implementation = get_method(method, **method_params)
    reduction = reduction or implementation.default_reduction
    StreamingReduction(reduction)  # checks the name before any work
    check_row_norm(row_norm)
    device, dtype = model_device_dtype(model)
    inputs = model_inputs(model, X, device, dtype)
    if inputs.shape[0] == 0:
        raise ValueError("X must contain at least one sample; got 0.")
    target = _check_target(target, implementation, inputs.shape[0], device, dtype)
    with eval_mode(model):
        if layer is not None:
            model = layer_model(model, layer, attribute_to_layer_input, inputs[:1])
        elif attribute_to_layer_input:
            raise ValueError("attribute_to_layer_input=True needs a layer; got layer=None.")
        implementation.prepare(model, inputs, target)
        statistics = implementation.sample_statistics(model, inputs, lag_reduction, batch_size)
        batches = (_batch_maps(implementation, model, inputs, lag_reduction, target, statistics,
                               start, batch_size)
                   for start in range(0, inputs.shape[0], batch_size))
        if row_norm is not None:
            batches = (normalize_rows(maps, row_norm) for maps in batches)
        return reduce_over_samples(batches, reduction, return_per_sample,
                                   n_batches=-(-inputs.shape[0] // batch_size),
                                   verbose=verbose, description=implementation.name)


def _batch_maps(implementation: AttributionMethod, model, inputs, lag_reduction, target,
                statistics, start: int, batch_size: int) -> torch.Tensor:
    """The maps of the samples ``start : start + batch_size``, computed with the method's
    ``context`` samples more on each side."""
    stop = min(start + batch_size, inputs.shape[0])
    first = max(start - implementation.context, 0)
    last = min(stop + implementation.context, inputs.shape[0])
    maps = implementation.attribute_batch(
        model, inputs[first:last], lag_reduction, None if target is None else target[first:last],
        # only methods that have statistics take them
        **({} if statistics is None else {"statistics": statistics[first:last]}),
    )
    return maps[start - first : stop - first]


def _check_target(target, implementation, n_samples, device, dtype) -> torch.Tensor | None:
    """``target`` as a finite ``(T, D)`` tensor on the model's device, or ``None``."""
    if target is None:
        if implementation.requires_target:
            raise ValueError(f"method {implementation.name!r} needs target=; got None.")
        return None
    target = torch.as_tensor(np.asarray(target) if not torch.is_tensor(target) else target)
    if target.dim() == 1:
        target = target[:, None]
    if target.dim() != 2 or target.shape[0] != n_samples:
        raise ValueError(
            f"target must have shape (n_samples,) or (n_samples, n_targets) with n_samples = "
            f"{n_samples}; got shape {tuple(target.shape)}."
        )
    target = target.to(device=device, dtype=dtype)
    if not torch.isfinite(target).all():
        raise ValueError("target contains NaN or infinite values.")
    return target


__all__ = [
    "INFLUENCES",
    "LayerUnits",
    "METHODS",
    "REDUCTIONS",
    "LAG_REDUCTIONS",
    "ROW_NORMS",
    "AttributionMethod",
    "FeatureAblation",
    "GradientShap",
    "InputXGradient",
    "IntegratedGradientCorrelation",
    "IntegratedGradients",
    "InvertedNeuronGradient",
    "NeuronConductance",
    "NeuronGradient",
    "attribute",
    "get_method",
    "internal_influence",
    "jacobian",
]

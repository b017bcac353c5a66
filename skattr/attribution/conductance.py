"""Neuron conductance: the part of each input's integrated gradient to a latent that flows
through one hidden unit (captum's NeuronConductance, all latents from one pass)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from ._core import AttributionMethod, check_outputs, output_gradients, reduce_lags
from ._layers import check_layer, replace_layer, resolve_layer
from ._paths import baseline_like, check_baselines, check_path, path_points, quadrature


def _check_neuron(neuron) -> tuple[int, ...]:
    """``neuron`` as a tuple of ints."""
    index = (neuron,) if isinstance(neuron, Integral) else neuron
    if (
        not isinstance(index, tuple)
        or not index
        or not all(isinstance(i, Integral) and not isinstance(i, bool) for i in index)
    ):
        raise ValueError(
            "neuron must be an int or a tuple of ints indexing the layer output without its "
            f"batch axis; got {neuron!r}."
        )
    return tuple(int(i) for i in index)


class NeuronConductance(AttributionMethod):
    """Conductance of each input feature to each latent through one hidden unit, ``(K, N)``.

    For latent ``k``, input ``i`` and hidden unit ``h`` of ``layer``: ``(x_i - x0_i)`` times the
    path integral, from the baseline ``x0`` to ``x``, of ``df_k/dh * dh/dx_i``, as captum's
    ``NeuronConductance(model, layer).attribute(x, neuron, target=k)`` computes it. All ``K``
    latents come from one forward of the path points (a hook keeps the layer output), one
    batched backward of the ``K`` outputs to the layer output and one backward of the unit to
    the inputs. Windowed maps ``(N, L)`` are reduced over lags with ``lag_reduction``.

    Parameters
    ----------
    layer : torch.nn.Module or str
        A submodule of the model returning one tensor, or its name in ``model.named_modules()``.
    neuron : int or tuple of int
        Index of the hidden unit in the layer output without its batch axis (a tuple with one
        entry per axis, e.g. ``(channel, time)`` for a ``Conv1d``).
    n_steps : int, default=50
        Number of points of the path integral.
    rule : {"riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle", \
"gausslegendre"}, default="riemann_trapezoid"
        Integration rule: captum's ``method`` (whose default for this attribution method is
        the trapezoid rule).
    baselines : float or array-like of shape (N,) or (N, L), default=0.0
        The start of the path: a scalar, or one sample's values (a ``(N,)`` baseline of a
        windowed encoder is the same at every lag).

    Examples
    --------
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> amap = attribute(model, torch.randn(10, 3), method="conductance", layer="1", neuron=0)
    >>> amap.shape
    (2, 3)
    """

    name = "conductance"

    def __init__(
        self,
        layer: torch.nn.Module | str,
        neuron: int | tuple[int, ...],
        n_steps: int = 50,
        rule: str = "riemann_trapezoid",
        baselines: float | np.ndarray | torch.Tensor = 0.0,
    ) -> None:
        check_layer(layer)  # against the model when it is known
        self.layer = layer
        self.neuron = neuron
        self.n_steps = n_steps
        self.rule = rule
        self.baselines = baselines
        self._index = _check_neuron(neuron)
        check_path(n_steps, rule)
        self._baselines = check_baselines(baselines)

    def attribute_batch(self, model, inputs, lag_reduction, target=None):
        layer = resolve_layer(model, self.layer)
        weights, alphas = quadrature(self.rule, self.n_steps)
        baseline = baseline_like(self._baselines, inputs)
        # All S x B points in one batch, step-major: one forward through the hooked layer.
        path = path_points(inputs, baseline, alphas).detach().requires_grad_(True)
        captured: list = []

        def keep(hidden):
            captured.append(hidden)
            return hidden

        with torch.enable_grad():
            outputs = replace_layer(model, path, layer, keep)
        hidden = captured[0]
        check_outputs(outputs)
        unit = (slice(None), *self._check_index(hidden))
        with torch.enable_grad():
            # df_k/dh at the chosen unit for all K latents, (K, S*B) ...
            layer_grads = output_gradients(outputs, hidden)[(slice(None), *unit)]
            # ... and dh/dx, (S*B, *sample shape); samples are independent, so the sum works.
            (unit_grads,) = torch.autograd.grad(hidden[unit].sum(), path, allow_unused=True)
        if unit_grads is None:  # the unit does not depend on the input
            unit_grads = torch.zeros_like(path)
        n_steps, batch = len(alphas), inputs.shape[0]
        weights = torch.as_tensor(weights, device=inputs.device, dtype=inputs.dtype)
        layer_grads = layer_grads.view(-1, n_steps, batch) * weights[:, None]
        integral = torch.einsum(
            "ksb,sb...->bk...", layer_grads, unit_grads.view(n_steps, batch, *inputs.shape[1:])
        )
        return reduce_lags(integral * (inputs - baseline)[:, None], lag_reduction)

    def _check_index(self, hidden: torch.Tensor) -> tuple[int, ...]:
        """The unit's index, checked against the layer output's shape."""
        shape = tuple(hidden.shape[1:])
        if len(self._index) != len(shape) or not all(
            -size <= i < size for i, size in zip(self._index, shape, strict=True)
        ):
            raise ValueError(
                f"neuron must index the layer output of shape {shape} (batch axis left out) with "
                f"{len(shape)} int(s); got {self.neuron!r}."
            )
        return self._index


__all__ = ["NeuronConductance"]

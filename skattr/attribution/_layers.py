"""Inside the network: the one mechanism by which attribution reaches a hidden layer.

Every layer-level computation goes through the hooks here, installed for one forward pass and
removed in ``finally``, so the model is left as it was whatever happens:

- :func:`resolve_layer` finds the layer (a submodule or its dotted name);
- :func:`capture_layer` runs the model and returns the layer's output (or input) as computed;
- :func:`replace_layer` runs the model with the layer's output replaced by given values, the
  handle by which the latents are differentiated with respect to a layer (internal influence,
  conductance);
- :class:`LayerUnits` is the model cut at the layer, whose outputs are the layer's units, so that
  every attribution method attributes all units of a layer to the inputs in one pass.

The units of a layer are its output's features: the entries of a ``(B, H)`` output, the
channels of a ``(B, C, L)`` convolutional output, each the mean over the layer's time positions
(for a windowed encoder the time axis is reduced as the lags of input maps are).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def check_layer(layer) -> None:
    """Raise a ValueError unless ``layer`` is a module or a name (checked against a model by
    :func:`resolve_layer`)."""
    if not isinstance(layer, (torch.nn.Module, str)):
        raise ValueError(
            f"layer must be a torch.nn.Module or the name of one; got {type(layer).__name__}."
        )


def resolve_layer(model: torch.nn.Module, layer: torch.nn.Module | str) -> torch.nn.Module:
    """``layer`` itself if it is a submodule of ``model``, or the submodule of that name."""
    check_layer(layer)
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer not in modules:
            raise ValueError(
                f"layer must name a submodule of the model (see model.named_modules()); got "
                f"{layer!r}."
            )
        return modules[layer]
    if not any(module is layer for module in model.modules()):
        raise ValueError("layer must be a submodule of the model; got a module outside it.")
    return layer


class _LayerReached(Exception):  # noqa: N818 (control flow, not an error)
    """Raised by a capturing hook to end the forward pass once the layer has run."""


def _single_tensor(values, what: str) -> torch.Tensor:
    if isinstance(values, tuple) and len(values) == 1:
        values = values[0]
    if not torch.is_tensor(values):
        raise ValueError(f"layer must take and return one tensor; its {what} is "
                         f"{type(values).__name__}.")
    return values


def capture_layer(
    model: torch.nn.Module, inputs: torch.Tensor, layer: torch.nn.Module,
    to_input: bool = False,
) -> torch.Tensor:
    """The output of ``layer`` (its input with ``to_input=True``) when ``model`` runs on
    ``inputs``, in the autograd graph of ``inputs``. The forward pass stops at the layer."""
    captured: list[torch.Tensor] = []

    def keep(values, what):
        captured.append(_single_tensor(values, what))
        raise _LayerReached

    if to_input:
        handle = layer.register_forward_pre_hook(lambda module, args: keep(args, "input"))
    else:
        handle = layer.register_forward_hook(lambda module, args, out: keep(out, "output"))
    try:
        model(inputs)
    except _LayerReached:
        pass
    finally:
        handle.remove()
    if not captured:
        raise ValueError("layer is not called in the model's forward pass.")
    return captured[0]


def replace_layer(
    model: torch.nn.Module, inputs: torch.Tensor, layer: torch.nn.Module,
    values: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``model(inputs)`` with the output ``h`` of ``layer`` replaced by ``values(h)``.

    ``values`` gets the layer's output as computed and returns the tensor the rest of the model
    sees (of the same shape), e.g. a leaf that requires grad, or points on a path. The layer
    must run exactly once.
    """
    calls = []

    def substitute(module, args, output):
        calls.append(1)
        return values(_single_tensor(output, "output"))

    handle = layer.register_forward_hook(substitute)
    try:
        outputs = model(inputs)
    finally:
        handle.remove()
    if len(calls) != 1:
        raise ValueError(
            "layer must be called exactly once in the model's forward pass; it was called "
            f"{len(calls)} time(s)."
        )
    return outputs


def units(values: torch.Tensor) -> torch.Tensor:
    """A layer's output as ``(B, n_units)``: as it is when 2-D; a convolutional ``(B, C, L)``
    output as its channels, each the mean over the ``L`` time positions."""
    if values.dim() == 2:
        return values
    if values.dim() == 3:
        return values.mean(-1)
    raise ValueError(
        "layer must output (batch, units) or, for a convolution, (batch, channels, time); got "
        f"shape {tuple(values.shape)}."
    )


class LayerUnits(torch.nn.Module):
    """``model`` cut at ``layer``: maps the model's inputs to the layer's units ``(B, n_units)``.

    Any attribution method applied to it attributes every unit of the layer to the inputs in
    one pass. A hook captures the layer and ends the forward pass there.

    Parameters
    ----------
    model : torch.nn.Module
    layer : torch.nn.Module or str
        A submodule of ``model`` or its name in ``model.named_modules()``.
    to_input : bool, default=False
        The layer's input instead of its output (captum's ``attribute_to_neuron_input``).

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    >>> LayerUnits(model, "1")(torch.zeros(4, 3)).shape
    torch.Size([4, 5])
    """

    def __init__(self, model: torch.nn.Module, layer: torch.nn.Module | str,
                 to_input: bool = False) -> None:
        super().__init__()
        self.model = model
        self.layer = resolve_layer(model, layer)
        self.to_input = to_input
        self.receptive_field = getattr(model, "receptive_field", 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return units(capture_layer(self.model, inputs, self.layer, self.to_input))


def layer_model(model: torch.nn.Module, layer: torch.nn.Module | str, to_input: bool,
                example: torch.Tensor) -> torch.nn.Module:
    """``model`` cut at ``layer`` (see :class:`LayerUnits`), checked on ``example`` inputs.

    For a plain ``Sequential`` whose child is the layer and whose cut gives ``(B, H)`` units, the
    cut is the prefix of children itself: the same computation, which the fast MLP Jacobian of
    :func:`~skattr.attribution.jacobian` recognises.
    """
    cut = LayerUnits(model, layer, to_input)
    prefix = _sequential_prefix(model, cut.layer, to_input)
    # New containers start in training mode; they take the model's (the fast Jacobian needs
    # eval mode, and the children are already in the model's).
    cut.training = model.training
    if prefix is not None:
        prefix.training = model.training
    with torch.no_grad():
        if prefix is not None and prefix(example).dim() == 2:
            prefix.receptive_field = cut.receptive_field
            return prefix
        cut(example)  # the layer's output has a shape that has units
    return cut


def _sequential_prefix(model, layer, to_input) -> torch.nn.Sequential | None:
    """The children of a plain ``Sequential`` up to ``layer`` (excluded with ``to_input``)."""
    if not isinstance(model, torch.nn.Sequential) or (
        type(model).forward is not torch.nn.Sequential.forward
    ):
        return None
    children = list(model.children())
    for position, child in enumerate(children):
        if child is layer:
            return torch.nn.Sequential(*children[: position + (0 if to_input else 1)])
    return None


__all__ = ["LayerUnits", "capture_layer", "check_layer", "layer_model", "replace_layer",
           "resolve_layer", "units"]

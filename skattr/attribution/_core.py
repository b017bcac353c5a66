"""Shared machinery of the attribution methods: batching, the Jacobian of all outputs in one
backward pass, lag reduction for windowed encoders, and streaming reductions over samples."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from tqdm.auto import tqdm

from .._encoders import time_windows

REDUCTIONS = ("mean_abs", "mean", "sum", "max_abs")
LAG_REDUCTIONS = ("mean", "mean_abs")
# How each row (latent or unit) of a per-sample map can be put on a common scale.
ROW_NORMS = ("l2", "l1", "max")


class AttributionMethod:
    """Base class: one attribution method, computing ``(B, K, N)`` maps for a batch of inputs.

    Subclasses set ``name`` and implement :meth:`attribute_batch`;
    :func:`skattr.attribution.attribute` handles batching, devices, dtypes and the reduction over
    samples. All ``K`` latents come out of one pass: methods differentiate through
    :func:`jacobian` (one forward, one batched backward) or evaluate all latents from the same
    perturbed forward.

    Attributes
    ----------
    name : str
        The name for ``method=``.
    default_reduction : str
        The reduction over samples used when the caller gives none.
    requires_target : bool
        Whether :meth:`attribute_batch` needs a per-sample ``target`` (e.g. IGC's labels).
    context : int
        Samples on each side of a batch that its maps depend on (averages over neighbours in
        time), read after :meth:`sample_statistics`: :func:`~skattr.attribution.attribute`
        passes each batch with that many samples more on each side (fewer at the ends of the
        data) and keeps the maps of the batch's own samples.
    """

    name: str = ""
    default_reduction: str = "mean_abs"
    requires_target: bool = False
    context: int = 0

    def prepare(
        self, model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor | None
    ) -> None:
        """Look at the whole data once before batching (dataset statistics, baselines).

        ``inputs`` are all samples as the model takes them, on its device and in its dtype;
        ``target`` is ``None`` or a ``(T, D)`` tensor aligned with them. The default does
        nothing.
        """

    def sample_statistics(
        self, model: torch.nn.Module, inputs: torch.Tensor, lag_reduction: str, batch_size: int
    ) -> torch.Tensor | None:
        """Per-sample quantities that need other samples (e.g. averages over neighbours in
        time), ``(T, ...)`` aligned with ``inputs``, computed ``batch_size`` samples at a
        time; each batch's slice is passed to :meth:`attribute_batch` as ``statistics``.
        The default has none."""
        return None

    def attribute_batch(
        self,
        model: torch.nn.Module,
        inputs: torch.Tensor,
        lag_reduction: str,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-sample maps ``(B, K, N)`` for ``inputs`` of shape ``(B, N)`` or ``(B, N, L)``.

        ``target`` is the ``(B, D)`` slice of the target given to :meth:`prepare`, or ``None``.
        A method with :meth:`sample_statistics` also takes their slice as ``statistics``.
        """
        raise NotImplementedError


def jacobian(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Jacobian of every output w.r.t. the input, per sample: ``(B, K, *inputs.shape[1:])``.

    One forward pass, then one batched (vmapped) backward over all ``K`` outputs. Samples must be
    independent (no batch statistics), which holds for encoders in eval mode.

    Examples
    --------
    >>> import torch
    >>> linear = torch.nn.Linear(3, 2)
    >>> J = jacobian(linear, torch.randn(5, 3))
    >>> J.shape, torch.allclose(J[0], linear.weight)
    (torch.Size([5, 2, 3]), True)
    """
    if inputs.dim() == 2 and _is_elementwise_mlp(model):
        return _mlp_jacobian(model, inputs)
    inputs = inputs.detach().requires_grad_(True)
    with torch.enable_grad():
        outputs = check_outputs(model(inputs))
        grads = output_gradients(outputs, inputs)
    return grads.movedim(0, 1)


def check_outputs(outputs: torch.Tensor) -> torch.Tensor:
    """``outputs`` itself, if it is a ``(batch, n_latents)`` tensor, else a ValueError."""
    if outputs.dim() != 2:
        raise ValueError(
            f"model must return a (batch, n_latents) tensor; got shape {tuple(outputs.shape)}."
        )
    return outputs


def output_gradients(outputs: torch.Tensor, tensor: torch.Tensor) -> torch.Tensor:
    """``d outputs[:, k] / d tensor`` for every output ``k``: ``(K, *tensor.shape)``.

    One backward pass batched over the ``K`` outputs of a ``(B, K)`` tensor; operations without a
    batching rule (e.g. custom autograd Functions) get one backward per output through the same
    graph instead. Zeros where ``outputs`` do not depend on ``tensor``.
    """
    n_outputs = outputs.shape[1]
    basis = torch.eye(n_outputs, device=outputs.device, dtype=outputs.dtype)
    directions = basis[:, None, :].expand(n_outputs, *outputs.shape)
    try:
        (grads,) = torch.autograd.grad(
            outputs, tensor, directions, is_grads_batched=True, retain_graph=True,
            allow_unused=True,
        )
    except RuntimeError:
        grads = [
            torch.autograd.grad(outputs, tensor, direction, retain_graph=True, allow_unused=True)[0]
            for direction in directions
        ]
        grads = None if grads[0] is None else torch.stack(grads)
    if grads is None:
        grads = tensor.new_zeros((n_outputs, *tensor.shape))
    return grads


# Activations that act on each element alone (in eval mode, dropout is the identity): an MLP made
# of these and Linear layers has the Jacobian W_L D_{L-1} W_{L-1} ... D_1 W_1 with diagonal D_i.
_ELEMENTWISE = (
    torch.nn.GELU, torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.ELU, torch.nn.SELU, torch.nn.CELU,
    torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.SiLU, torch.nn.Softplus, torch.nn.Mish,
    torch.nn.Hardtanh, torch.nn.Identity, torch.nn.Dropout,
)


def _is_elementwise_mlp(model: torch.nn.Module) -> bool:
    """Whether ``model`` is an eval-mode ``Sequential`` (with ``Sequential``'s own forward) of
    ``Linear`` layers and elementwise activations of the exact listed types."""
    layers = list(model.children())
    return (
        isinstance(model, torch.nn.Sequential)
        and type(model).forward is torch.nn.Sequential.forward
        and not model.training
        and bool(layers)
        and all(type(layer) is torch.nn.Linear or type(layer) in _ELEMENTWISE
                for layer in layers)
        # In-place activations cannot act on the leaf tensors the fast path differentiates.
        and not any(getattr(layer, "inplace", False) for layer in layers)
        # Hooks (forward, pre-forward, global; e.g. weight_norm) change what the layers compute,
        # and the fast path calls the functional forms directly.
        and not _has_hooks(model)
    )


def _has_hooks(model: torch.nn.Module) -> bool:
    """Whether any forward (pre-)hook, of ``model``'s modules or global, is registered."""
    from torch.nn.modules import module as module_internals

    if module_internals._global_forward_hooks or module_internals._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def _mlp_jacobian(model: torch.nn.Sequential, inputs: torch.Tensor) -> torch.Tensor:
    """Jacobian ``(B, K, N)`` of an elementwise MLP by explicit reverse accumulation.

    A batched autograd backward recomputes every activation's derivative once per output (and
    torch has no vmap rule for ``gelu_backward``, so it loops over them); here each derivative is
    computed once per sample and the ``K`` rows go through each layer as one matrix product.
    For a 50 -> 180 -> 180 -> 60 -> 6 GELU MLP it took 78 ms per 10,240 samples against 104 ms
    (2 CPU cores); what remains is the three matrix products, near the machine's peak.
    """
    derivatives: list[torch.Tensor | None] = []
    hidden = inputs.detach()
    with torch.enable_grad():
        for layer in model:
            if type(layer) is torch.nn.Linear:
                derivatives.append(None)
                hidden = torch.nn.functional.linear(hidden, layer.weight.detach(),
                                                    None if layer.bias is None else
                                                    layer.bias.detach())
            else:
                hidden = hidden.detach().requires_grad_(True)
                activated = layer(hidden)
                # Elementwise: the gradient of the sum is the diagonal of the Jacobian.
                (derivative,) = torch.autograd.grad(activated.sum(), hidden)
                derivatives.append(derivative)
                hidden = activated
    rows = None  # (B, K, width of the current layer's output)
    # The derivatives of activations at the top, before any Linear: a diagonal kept as a vector
    # (never a (B, H, H) matrix; a layer's units as outputs end in an activation).
    diagonal = None
    for layer, derivative in zip(reversed(list(model)), reversed(derivatives), strict=True):
        if derivative is not None:
            if rows is not None:
                rows = rows * derivative[:, None, :]
            else:
                diagonal = derivative if diagonal is None else diagonal * derivative
        else:
            weight = layer.weight.detach()
            if rows is not None:
                rows = rows @ weight
            elif diagonal is not None:
                rows = diagonal[:, :, None] * weight
            else:
                # A copy, not an expanded view: the result must not share the model's storage.
                rows = weight.expand(len(inputs), -1, -1).clone()
    if rows is None:  # activations only: the Jacobian is the diagonal
        rows = torch.diag_embed(diagonal)
    return rows


def reduce_lags(maps: torch.Tensor, lag_reduction: str) -> torch.Tensor:
    """Reduce the lag axis of ``(B, K, N, L)`` maps to ``(B, K, N)``; pass ``(B, K, N)`` through.

    ``"mean"`` (signed, the default, as the inverted gradient needs) or ``"mean_abs"``.
    """
    if maps.dim() == 3:
        return maps
    if lag_reduction == "mean":
        return maps.mean(-1)
    if lag_reduction == "mean_abs":
        return maps.abs().mean(-1)
    raise ValueError(f"lag_reduction must be one of {LAG_REDUCTIONS}; got {lag_reduction!r}.")


def check_row_norm(row_norm: str | None) -> None:
    """Raise a ValueError naming ``row_norm`` unless it is one of ``ROW_NORMS`` or ``None``."""
    if row_norm is not None and row_norm not in ROW_NORMS:
        raise ValueError(f"row_norm must be one of {ROW_NORMS} or None; got {row_norm!r}.")


def normalize_rows(maps: torch.Tensor, norm: str) -> torch.Tensor:
    """``maps`` ``(..., K, N)`` with each row divided by its ``norm`` over the last axis
    (``"l2"``, ``"l1"`` or ``"max"`` of the absolute values); rows of zeros stay zero."""
    check_row_norm(norm)
    magnitude = maps.abs()
    if norm == "l2":
        scale = magnitude.square().sum(-1, keepdim=True).sqrt()
    elif norm == "l1":
        scale = magnitude.sum(-1, keepdim=True)
    else:
        scale = magnitude.amax(-1, keepdim=True)
    return maps / torch.where(scale > 0, scale, torch.ones_like(scale))


class StreamingReduction:
    """Accumulate a reduction over samples of ``(B, K, N)`` batches in ``O(K N)`` memory."""

    def __init__(self, reduction: str) -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}.")
        self.reduction = reduction
        self.total: torch.Tensor | None = None
        self.count = 0

    def update(self, maps: torch.Tensor) -> None:
        values = maps.abs() if self.reduction in ("mean_abs", "max_abs") else maps
        partial = values.amax(0) if self.reduction == "max_abs" else values.sum(0)
        if self.total is None:
            self.total = partial
        elif self.reduction == "max_abs":
            self.total = torch.maximum(self.total, partial)
        else:
            self.total = self.total + partial
        self.count += maps.shape[0]

    def result(self) -> torch.Tensor:
        if self.reduction in ("mean_abs", "mean"):
            return self.total / self.count
        return self.total


def reduce_over_samples(
    batches: Iterable[torch.Tensor], reduction: str, return_per_sample: bool,
    n_batches: int | None = None, verbose: bool = False, description: str = "attribution",
) -> np.ndarray:
    """The per-sample maps of ``batches`` (each ``(B, ...)``) reduced over samples as they
    come, or all of them stacked with ``return_per_sample``; in float64 on the CPU.

    With ``verbose``, a tqdm progress bar over the ``n_batches`` batches."""
    accumulator = StreamingReduction(reduction)
    per_sample = []
    for maps in tqdm(batches, total=n_batches, disable=not verbose, desc=description,
                     unit="batch"):
        if return_per_sample:
            per_sample.append(maps.detach().to("cpu", torch.float64))
        else:
            accumulator.update(maps.detach())
    if return_per_sample:
        return torch.cat(per_sample).numpy()
    return accumulator.result().to("cpu", torch.float64).numpy()


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put ``model`` in eval mode for the duration, restoring each submodule's mode after."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def model_inputs(model: torch.nn.Module, X, device: torch.device, dtype: torch.dtype):
    """``X`` as a tensor of per-time-step model inputs on ``device``.

    A 2-D ``X`` (T, N) given to a model with ``receptive_field > 1`` is turned into windows.
    """
    data = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X)
    data = data.to(device=device, dtype=dtype)
    field = getattr(model, "receptive_field", 1)
    if data.dim() == 2 and field > 1:
        data = time_windows(data, field)
    return data


def model_device_dtype(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of ``model``'s first parameter (CPU/float32 if none)."""
    parameter = next(model.parameters(), None)
    if parameter is None:
        return torch.device("cpu"), torch.float32
    return parameter.device, parameter.dtype

"""Encoders: the networks that map neural data to the embedding, and the builder by name.

An encoder with ``receptive_field == 1`` maps samples ``(B, N)`` to ``(B, K)``; an encoder with a
larger receptive field ``L`` maps windows ``(B, N, L)`` (time on the last axis) to ``(B, K)``.
Every encoder is a plain :class:`torch.nn.Module` with a ``receptive_field`` attribute, so that the
attribution methods in :mod:`skattr.attribution` work on it and on any user module alike.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MLPEncoder(nn.Sequential):
    """One-time-step encoder: ``N -> H -> H -> H/3 -> K`` with GELU activations.

    The shape follows the xCEBRA paper (``H = 30 K``) but, unlike cebra's
    ``offset1-model-mse-clip``, the output is not clamped: a clamp gives saturated samples an
    all-zero Jacobian row, which drops a latent from the pseudo-inverse used by the inverted
    neuron gradient.

    Parameters
    ----------
    n_features : int
        Input dimension ``N``.
    n_latents : int
        Output dimension ``K``.
    hidden_units : int
        Width ``H`` of the first two hidden layers.

    Examples
    --------
    >>> import torch
    >>> encoder = MLPEncoder(n_features=5, n_latents=2, hidden_units=12)
    >>> encoder(torch.zeros(4, 5)).shape
    torch.Size([4, 2])
    """

    receptive_field = 1

    def __init__(self, n_features: int, n_latents: int, hidden_units: int) -> None:
        narrow = max(hidden_units // 3, n_latents)
        super().__init__(
            nn.Linear(n_features, hidden_units),
            nn.GELU(),
            nn.Linear(hidden_units, hidden_units),
            nn.GELU(),
            nn.Linear(hidden_units, narrow),
            nn.GELU(),
            nn.Linear(narrow, n_latents),
        )


class _WindowConv1d(nn.Conv1d):
    """A valid ``nn.Conv1d`` (stride 1, no padding) computed as one matrix product over the
    unfolded windows of its input.

    The same module, parameters and results as ``nn.Conv1d`` (to float rounding; tested), but
    the training step's regulariser differentiates the encoder twice, and on a CPU the double
    backward of a matrix product is much cheaper than that of a convolution (the measured
    step, before and after, is in ``docs/benchmarks.md``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_out, n_in, width = self.weight.shape
        # (B, C, L) -> (B, L', C * k), each row one window, channel-major like the weight.
        columns = x.unfold(-1, width, 1).transpose(-3, -2).flatten(-2)
        out = columns @ self.weight.reshape(n_out, n_in * width).T
        if self.bias is not None:
            out = out + self.bias
        return out.transpose(-2, -1)


class _ResidualConv(nn.Module):
    """``x[..., 1:-1] + GELU(Conv1d(H, H, 3)(x))``: a valid convolution with a cropped skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = _WindowConv1d(channels, channels, kernel_size=3)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., 1:-1] + self.activation(self.conv(x))


class ConvEncoder(nn.Module):
    """Convolutional encoder with a receptive field of 10 time steps.

    ``Conv1d(N, H, 2)``, GELU, three residual ``Conv1d(H, H, 3)`` + GELU blocks,
    ``Conv1d(H, K, 3)``; all convolutions are unpadded, so a window of 10 samples gives exactly
    one output.

    Parameters
    ----------
    n_features : int
        Input channels ``N``.
    n_latents : int
        Output dimension ``K``.
    hidden_units : int
        Channels ``H`` of the hidden convolutions.

    Examples
    --------
    >>> import torch
    >>> encoder = ConvEncoder(n_features=5, n_latents=2, hidden_units=8)
    >>> encoder(torch.zeros(4, 5, encoder.receptive_field)).shape
    torch.Size([4, 2])
    """

    receptive_field = 10

    def __init__(self, n_features: int, n_latents: int, hidden_units: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _WindowConv1d(n_features, hidden_units, kernel_size=2),
            nn.GELU(),
            _ResidualConv(hidden_units),
            _ResidualConv(hidden_units),
            _ResidualConv(hidden_units),
            _WindowConv1d(hidden_units, n_latents, kernel_size=3),
        )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.net(windows).squeeze(-1)


# float32 outputs resolve about 1e-7 of their scale; a direction of a block below 1e-5 of its
# largest singular value is rank that training lost, not signal to align.
_ALIGN_RCOND = 1e-5


class EncoderEnsemble(nn.Module):
    """Encoders fitted on the same data, each aligned block by block to the first; the
    embedding is their mean.

    Each block of the embedding is identified up to an invertible affine map, so member ``k``
    is mapped onto member 0 by ``f_k(x) @ weight[k] + bias[k]`` with ``weight[k]``
    block-diagonal (set by :meth:`align`; the identity until then). The ensemble is a plain
    encoder of its own: its Jacobian is the mean of the aligned members' Jacobians, so every
    attribution method applies to it unchanged.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        Encoders of the same input shape, each with ``n_latents`` outputs.
    n_latents : int

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> members = [MLPEncoder(5, 2, 12) for _ in range(3)]
    >>> ensemble = EncoderEnsemble(members, n_latents=2)
    >>> inputs = torch.randn(100, 5)
    >>> ensemble.align(inputs, [[0], [1]])
    >>> ensemble(inputs).shape, ensemble.stacked()(inputs).shape
    (torch.Size([100, 2]), torch.Size([100, 6]))
    """

    def __init__(self, members, n_latents: int) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.receptive_field = getattr(members[0], "receptive_field", 1)
        self.register_buffer("weight", torch.eye(n_latents).repeat(len(members), 1, 1))
        self.register_buffer("bias", torch.zeros(len(members), n_latents))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        aligned = [member(inputs) @ weight + bias
                   for member, weight, bias in zip(self.members, self.weight, self.bias,
                                                       strict=True)]
        return torch.stack(aligned).mean(0)

    def stacked(self) -> StackedMembers:
        """The members side by side, for training: ``(B, n_members * n_latents)``, member 0's
        dimensions first (the same parameters; no alignment)."""
        return StackedMembers(self.members)

    @torch.no_grad()
    def align(self, inputs: torch.Tensor, blocks, batch_size: int = 4096) -> None:
        """Set each member's affine map onto member 0 (which keeps the identity): per block
        of latents (lists of indices), the least-squares fit, with an intercept, of member
        0's block from the member's block on ``inputs``.

        The fit is solved on centred blocks by SVD, and directions of a member's block below
        ``_ALIGN_RCOND`` of its largest singular value are left out: a block that training
        left nearly degenerate would otherwise amplify float32 rounding in the members'
        outputs (and LAPACK's own, which varies with memory alignment) into maps that differ
        from one identical fit to the next.
        """
        outputs = [torch.cat([member(inputs[i:i + batch_size])
                              for i in range(0, len(inputs), batch_size)]).double().cpu()
                   for member in self.members]
        weight = torch.eye(self.weight.shape[1], dtype=torch.float64).repeat(len(outputs), 1, 1)
        bias = torch.zeros(self.bias.shape, dtype=torch.float64)
        for k, output in enumerate(outputs[1:], start=1):
            weight[k] = 0.0
            for block in blocks:
                index = torch.tensor(block)
                source, target = output[:, index], outputs[0][:, index]
                source_mean, target_mean = source.mean(0), target.mean(0)
                coef = torch.linalg.lstsq(source - source_mean, target - target_mean,
                                          rcond=_ALIGN_RCOND, driver="gelsd").solution
                weight[k][index[:, None], index] = coef
                bias[k, index] = target_mean - source_mean @ coef
        self.weight.copy_(weight)
        self.bias.copy_(bias)


class StackedMembers(nn.Module):
    """The members of an :class:`EncoderEnsemble` side by side (its training view).

    Members that are all :class:`MLPEncoder` run as one batched product per layer (each
    layer's weights stacked on the fly, so gradients reach each member's own parameters): one
    kernel per layer instead of one per member, which is what small batches and accelerators
    are bound by. Other encoders run one after the other.
    """

    def __init__(self, members: nn.ModuleList) -> None:
        super().__init__()
        self.members = members
        self.receptive_field = getattr(members[0], "receptive_field", 1)
        self._batched = all(type(member) is MLPEncoder for member in members)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self._batched:
            return torch.cat([member(inputs) for member in self.members], 1)
        hidden = inputs.expand(len(self.members), *inputs.shape)  # (M, B, N)
        for index, layer in enumerate(self.members[0]):
            if isinstance(layer, nn.Linear):
                weight = torch.stack([member[index].weight for member in self.members])
                bias = torch.stack([member[index].bias for member in self.members])
                hidden = torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2))
            else:  # elementwise activation
                hidden = layer(hidden)
        return hidden.transpose(0, 1).reshape(len(inputs), -1)  # (B, M * K), member 0 first


_ENCODER_CLASSES = {"mlp": MLPEncoder, "conv": ConvEncoder}
ENCODERS = tuple(_ENCODER_CLASSES)


def receptive_field(encoder: str) -> int:
    """Number of time steps one output of the encoder named ``encoder`` sees."""
    return _ENCODER_CLASSES[encoder].receptive_field


def build_encoder(
    encoder: str,
    n_features: int,
    n_latents: int,
    hidden_units: int,
    generator: torch.Generator,
) -> nn.Module:
    """Build the encoder named ``encoder``, initialised from ``generator`` (a CPU generator).

    Initialising from a local generator, rather than torch's global one, keeps ``random_state``
    reproducible without touching the caller's random state.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}; got {encoder!r}.")
    # torch's layers draw a default initialisation from the global generator when built;
    # fork_rng puts the caller's random state back afterwards.
    with torch.random.fork_rng(devices=[]):
        module = _ENCODER_CLASSES[encoder](
            n_features, n_latents, hidden_units
        )
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d)):
            # torch's default bound, 1/sqrt(fan_in), for weights and biases alike.
            bound = layer.weight[0].numel() ** -0.5
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
    return module


def time_windows(
    data: torch.Tensor, receptive_field: int, bounds: np.ndarray | None = None
) -> torch.Tensor:
    """The encoder inputs for every time step of ``data`` (T, N), as a view without copies.

    Returns ``data`` itself for ``receptive_field == 1``; otherwise a ``(T, N, L)`` view whose row
    ``t`` is the window ``t - L//2 .. t + L - 1 - L//2``, the series being extended at both ends by
    repeating its first and last sample, so that every time step has an embedding.

    With ``bounds`` (trials, from :func:`skattr._sampling.trial_bounds`), each trial is
    extended at its own ends, so that no window holds samples of another trial; the windows
    of several trials are then a copy, ``T x N x L`` values.

    Examples
    --------
    >>> import torch
    >>> windows = time_windows(torch.arange(4.0)[:, None], 3)
    >>> windows[:, 0].tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 3.0]]
    >>> time_windows(torch.arange(4.0)[:, None], 3, np.array([0, 2, 4]))[:, 0].tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [2.0, 2.0, 3.0], [2.0, 3.0, 3.0]]
    """
    if receptive_field == 1:
        return data
    if bounds is not None and len(bounds) > 2:
        return torch.cat([time_windows(data[start:stop], receptive_field)
                          for start, stop in zip(bounds[:-1], bounds[1:], strict=False)])
    left = receptive_field // 2
    right = receptive_field - 1 - left
    padded = torch.cat([data[:1].expand(left, -1), data, data[-1:].expand(right, -1)])
    return padded.unfold(0, receptive_field, 1)

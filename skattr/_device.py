"""Device resolution: the one place that turns a ``device`` parameter into a torch device."""

from __future__ import annotations

import re

import torch

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def resolve_device(device: str | torch.device) -> torch.device:
    """Return the :class:`torch.device` that ``device`` names, checking it exists.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device
        ``"auto"`` picks the first CUDA device when one is available, else the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If ``device`` is not one of the accepted names, or names a CUDA device this machine lacks.

    Examples
    --------
    >>> from skattr._device import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine "
            "(torch.cuda.is_available() is False); use device='cpu' or 'auto'."
        )
    resolved = torch.device(device)
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        raise ValueError(
            f"device={device!r} was requested but only {count} CUDA device(s) exist "
            f"(valid: cuda:0 .. cuda:{count - 1})."
        )
    return resolved

"""Figures of attribution maps (needs matplotlib: ``pip install skattr[plot]``)."""

from __future__ import annotations

import numpy as np


def plot_attribution_map(
    attribution_map,
    ground_truth=None,
    *,
    latent_names=None,
    ax=None,
    title: str | None = None,
):
    """Show a ``(n_latents, n_features)`` attribution map, marking the ground truth's zeros.

    Parameters
    ----------
    attribution_map : array-like of shape (n_latents, n_features)
    ground_truth : array-like of bool of the same shape, default=None
        Entries where it is False (latent does not drive the feature) are marked with a dot.
    latent_names : list of str, default=None
        Row labels, e.g. ``model.get_feature_names_out()``.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure if None.
    title : str, default=None

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_attribution_map([[1.0, 0.1], [0.5, 0.9]], [[True, False], [True, True]])
    >>> ax.get_ylabel()
    'latent'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_attribution_map needs matplotlib: pip install 'skattr[plot]'"
        ) from error
    values = np.asarray(attribution_map, dtype=float)
    if values.ndim != 2:
        raise ValueError(
            f"attribution_map must be 2-D (n_latents, n_features); got shape {values.shape}."
        )
    if ax is None:
        size = (max(4.0, values.shape[1] / 5), max(2.0, values.shape[0] / 2))
        _, ax = plt.subplots(figsize=size)
    image = ax.imshow(values, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="attribution")
    if ground_truth is not None:
        from .metrics import check_ground_truth

        rows, columns = np.nonzero(~check_ground_truth(ground_truth, values.shape))
        ax.scatter(columns, rows, s=6, c="white", marker="o", label="not connected")
        ax.legend(loc="upper right", fontsize="small", framealpha=0.6)
    if latent_names is not None:
        ax.set_yticks(range(values.shape[0]), list(latent_names))
    ax.set_xlabel("feature")
    ax.set_ylabel("latent")
    if title:
        ax.set_title(title)
    return ax


__all__ = ["plot_attribution_map"]

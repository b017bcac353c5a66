"""Figures of attribution maps and training (needs matplotlib: ``pip install skattr[plot]``)."""

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


def plot_loss_curves(model, *, ax=None, title: str | None = None):
    """Each objective's loss over training, the regulariser apart (and the held-out loss).

    The objectives (InfoNCE, or the supervised block's squared error) share the left axis;
    the Jacobian penalty, which is 0 until its weight ramps in, has its own axis on the right,
    so that its entry does not read as the contrastive losses rising. With
    ``validation_fraction``, the held-out loss is drawn at its checks.

    Parameters
    ----------
    model : xCEBRAAttributor
        A fitted estimator (its ``loss_curve_``, and ``validation_loss_curve_`` if any).
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure if ``None``.
    title : str, default=None

    Returns
    -------
    matplotlib.axes.Axes
        The objectives' axis; the regulariser's is ``ax.right_ax``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, _ = make_synthetic(n_samples=500, random_state=0)
    >>> model = xCEBRAAttributor(max_iter=20, device="cpu", random_state=0).fit(X, y)
    >>> ax = plot_loss_curves(model)
    >>> [line.get_label() for line in ax.get_lines()]
    ['behavior', 'time']
    """
    import matplotlib.pyplot as plt

    curves = getattr(model, "loss_curve_", None)
    if curves is None:
        raise ValueError("model must be a fitted xCEBRAAttributor (it has no loss_curve_).")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    steps = np.arange(1, len(curves["total"]) + 1)
    for name, curve in curves.items():
        if name not in ("regularizer", "total"):
            ax.plot(steps, curve, lw=1, label=name)
    validation = getattr(model, "validation_loss_curve_", None)
    if validation is not None:
        ax.plot(validation[:, 0], validation[:, 1], "k.", label="held out")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    right = ax.twinx()
    right.plot(steps, curves["regularizer"], color="0.5", lw=1, ls="--", label="regularizer")
    right.set_ylabel("Jacobian penalty", color="0.5")
    ax.right_ax = right
    handles = ax.get_legend_handles_labels()
    extra = right.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize="small", loc="upper right")
    if title:
        ax.set_title(title)
    return ax


__all__ = ["plot_attribution_map", "plot_loss_curves"]

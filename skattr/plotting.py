"""Figures of attribution maps and training (needs matplotlib: ``pip install skattr[plot]``)."""

from __future__ import annotations

import numpy as np


def plot_attribution_map(
    attribution_map,
    ground_truth=None,
    *,
    latent_names=None,
    feature_labels=None,
    latent_groups=None,
    ax=None,
    title: str | None = None,
):
    """Show a ``(n_latents, n_features)`` attribution map, marking the ground truth's zeros.

    With ``feature_labels`` (e.g. cell types) the columns are grouped by label, in order of
    first appearance, with a labelled band above the map; with ``latent_groups`` (e.g.
    :func:`skattr.stats.blocks`) each group's rows get a labelled band on the left.

    Parameters
    ----------
    attribution_map : array-like of shape (n_latents, n_features)
    ground_truth : array-like of bool of the same shape, default=None
        Entries where it is False (latent does not drive the feature) are marked with a dot.
    latent_names : list of str, default=None
        Row labels, e.g. ``model.get_feature_names_out()``.
    feature_labels : array-like of shape (n_features,), default=None
        A label per column; columns are reordered so that each label's are together (the
        ground truth with them).
    latent_groups : mapping of str to array-like of int, default=None
        The rows of each group.
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
    truth = None
    if ground_truth is not None:
        from .metrics import check_ground_truth

        truth = check_ground_truth(ground_truth, values.shape)
    bands = []
    if feature_labels is not None:
        from .metrics import _check_feature_labels

        labels = _check_feature_labels(feature_labels, values.shape[1])
        names = list(dict.fromkeys(labels.tolist()))
        order = np.concatenate([np.flatnonzero(labels == name) for name in names])
        values = values[:, order]
        truth = None if truth is None else truth[:, order]
        starts = np.cumsum([0] + [int(np.sum(labels == name)) for name in names])
        bands.append(("columns", names, starts))
    if latent_groups is not None:
        from .metrics import _check_groups

        groups = _check_groups(latent_groups, values.shape[0])
        bands.append(("rows", list(groups), [np.sort(latents) for latents in groups.values()]))
    if ax is None:
        size = (max(4.0, values.shape[1] / 5), max(2.0, values.shape[0] / 2))
        _, ax = plt.subplots(figsize=size)
    image = ax.imshow(values, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="attribution")
    for kind, names, extents in bands:
        _draw_bands(ax, kind, names, extents)
    if truth is not None:
        rows, columns = np.nonzero(~truth)
        ax.scatter(columns, rows, s=6, c="white", marker="o", label="not connected")
        if bands:  # the bands take the space above the map: the legend goes below it
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize="small",
                      facecolor="0.6")
        else:
            ax.legend(loc="upper right", fontsize="small", framealpha=0.6)
    if latent_names is not None:
        ax.set_yticks(range(values.shape[0]), list(latent_names))
    elif latent_groups is not None:  # each group's name at its rows
        names, extents = bands[-1][1], bands[-1][2]
        ax.set_yticks([float(np.mean(rows)) for rows in extents], names)
    else:
        ax.set_yticks(range(values.shape[0]))
    ax.set_xlabel("feature")
    ax.set_ylabel("latent")
    if title:
        ax.set_title(title)
    return ax


def _draw_bands(ax, kind: str, names: list, extents) -> None:
    """Coloured bands beside the map: above it for column groups, labelled (``extents`` are
    the groups' start columns, then the end; white lines separate the groups), left of it for
    row groups (``extents`` are each group's rows; the y ticks name them)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    colours = plt.get_cmap("tab10")
    n_rows, n_columns = ax.get_images()[0].get_array().shape
    for i, name in enumerate(names):
        colour = colours(i % 10)
        if kind == "columns":
            start, stop = extents[i], extents[i + 1]
            ax.add_patch(Rectangle((start - 0.5, -1.4), stop - start, 0.8, color=colour,
                                   clip_on=False))
            ax.text((start + stop - 1) / 2, -1.0, str(name), ha="center", va="center",
                    fontsize="small")
            if i:
                ax.axvline(start - 0.5, color="white", lw=1)
        else:
            width = max(1.0, 0.03 * n_columns)
            for row in extents[i]:
                ax.add_patch(Rectangle((-0.5 - width, row - 0.5), width, 1, color=colour,
                                       clip_on=False))
    if kind == "columns":
        ax.set_ylim(n_rows - 0.5, -1.5)


def plot_embedding(embedding, color, *, dims=(0, 1), color_label: str | None = None,
                   dim_names=None, ax=None, title: str | None = None):
    """Scatter two dimensions of an embedding, coloured by a variable (e.g. position x).

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_latents)
        E.g. ``model.transform(X)``.
    color : array-like of shape (n_samples,)
        The variable each point is coloured by.
    dims : pair of int, default=(0, 1)
        The dimensions on the x and y axes.
    color_label : str, default=None
        The colour bar's label.
    dim_names : list of str, default=None
        Names of the embedding's dimensions, e.g. ``model.get_feature_names_out()``.
    ax : matplotlib.axes.Axes, default=None
    title : str, default=None

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> ax = plot_embedding(np.random.default_rng(0).normal(size=(50, 3)), np.arange(50),
    ...                     dims=(0, 2), dim_names=["a", "b", "c"])
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('a', 'c')
    """
    import matplotlib.pyplot as plt

    embedding = np.asarray(embedding, dtype=float)
    color = np.asarray(color, dtype=float).ravel()
    if embedding.ndim != 2 or len(color) != len(embedding):
        raise ValueError(
            "embedding must be 2-D (n_samples, n_latents) and color hold one value per "
            f"sample; got shapes {embedding.shape} and {color.shape}."
        )
    first, second = dims
    if not (0 <= first < embedding.shape[1] and 0 <= second < embedding.shape[1]):
        raise ValueError(f"dims {dims} are not dimensions of a {embedding.shape[1]}-D embedding.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    points = ax.scatter(embedding[:, first], embedding[:, second], c=color, s=2,
                        cmap="viridis", rasterized=True)
    ax.figure.colorbar(points, ax=ax, label=color_label)
    names = dim_names if dim_names is not None else [f"dim {i}" for i in
                                                      range(embedding.shape[1])]
    ax.set_xlabel(str(names[first]))
    ax.set_ylabel(str(names[second]))
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


__all__ = ["plot_attribution_map", "plot_embedding", "plot_loss_curves"]

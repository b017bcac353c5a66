"""Scoring attribution maps against a ground truth, and scorers for model selection."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import roc_auc_score


def check_ground_truth(ground_truth, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Validate a ground-truth map and return it as a boolean array.

    Parameters
    ----------
    ground_truth : array-like of bool or {0, 1}
        ``True`` where a latent drives a feature.
    shape : tuple of int, optional
        The shape it must have (that of the attribution map).

    Raises
    ------
    ValueError
        If values other than booleans or 0/1 occur, the shape differs, or only one class occurs
        (the ROC AUC is undefined then).
    """
    truth = np.asarray(ground_truth)
    if truth.dtype != bool:
        if truth.dtype.kind not in "biuf" or not np.isin(truth, (0, 1)).all():
            raise ValueError(
                "ground_truth must hold booleans (or only the numbers 0 and 1); got values of "
                f"dtype {truth.dtype} such as {truth.ravel()[:5].tolist()}."
            )
        truth = truth.astype(bool)
    if shape is not None and truth.shape != tuple(shape):
        raise ValueError(
            f"ground_truth has shape {truth.shape} but the attribution map has shape "
            f"{tuple(shape)} (n_latents, n_features)."
        )
    if truth.all() or not truth.any():
        raise ValueError(
            "ground_truth must contain both True and False entries; the ROC AUC is undefined "
            f"when all {truth.size} entries are {bool(truth.ravel()[0])}."
        )
    return truth


def attribution_auc(ground_truth, attribution_map) -> float:
    """ROC AUC of an attribution map against a boolean ground truth, pooled over all entries.

    Parameters
    ----------
    ground_truth : array-like of bool, shape (n_latents, n_features)
    attribution_map : array-like of shape (n_latents, n_features)
        Higher values mean "more likely connected" (e.g. a mean absolute attribution).

    Returns
    -------
    float

    Examples
    --------
    >>> attribution_auc([[True, False], [False, True]], [[0.9, 0.1], [0.2, 0.8]])
    1.0
    """
    scores = np.asarray(attribution_map, dtype=np.float64)
    truth = check_ground_truth(ground_truth, scores.shape)
    if not np.isfinite(scores).all():
        raise ValueError("attribution_map contains NaN or infinite values.")
    return float(roc_auc_score(truth.ravel(), scores.ravel()))


def attribution_auc_scorer(
    ground_truth, method: str = "inverted-gradient", **attribute_params
) -> Callable:
    """A scorer ``scorer(estimator, X, y=None)`` returning the attribution AUC on ``X``.

    Use it as ``scoring=`` in :class:`~sklearn.model_selection.GridSearchCV`: the ground truth
    (``n_latents x n_features``) cannot travel as ``y``, which is split per sample. A
    :class:`~sklearn.pipeline.Pipeline` is unwrapped: ``X`` goes through all steps but the last,
    and the map is that of the last step (an :class:`~skattr.xCEBRAAttributor`) with respect to
    its own input features.

    Parameters
    ----------
    ground_truth : array-like of bool, shape (n_latents, n_features)
    method : str, default="inverted-gradient"
        Attribution method, see :mod:`skattr.attribution`.
    **attribute_params
        Passed to the estimator's ``attribute``.

    Examples
    --------
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, truth = make_synthetic(n_samples=500, random_state=0)
    >>> model = xCEBRAAttributor(max_iter=5, device="cpu", random_state=0).fit(X, y)
    >>> scorer = attribution_auc_scorer(truth)
    >>> 0.0 <= scorer(model, X) <= 1.0
    True
    """
    truth = check_ground_truth(ground_truth)

    def scorer(estimator, X, y=None) -> float:
        if hasattr(estimator, "steps"):
            for _, step in estimator.steps[:-1]:
                if step is not None and step != "passthrough":
                    X = step.transform(X)
            estimator = estimator.steps[-1][1]
        return attribution_auc(truth, estimator.attribute(X, method=method, **attribute_params))

    return scorer


__all__ = ["attribution_auc", "attribution_auc_scorer", "check_ground_truth"]

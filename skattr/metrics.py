"""Scoring attribution maps against a ground truth, and scorers for model selection.

Besides the ROC AUC (:func:`attribution_auc`) and its bootstrap confidence interval over time
points (:func:`attribution_auc_ci`), this covers cebra's ``compute_metrics``
(:func:`connection_statistics`) and ``check_moores_penrose_conditions``
(:func:`moore_penrose_residuals`, with residuals and a dtype-aware tolerance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_random_state

from .attribution import REDUCTIONS
from .attribution._core import check_row_norm
from .attribution._core import normalize_rows as _normalize_rows


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
        numeric = truth.dtype.kind in "biuf"
        if not numeric or not np.isin(truth, (0, 1)).all():
            # Show the offending values, not merely the first ones (which may be valid 0s).
            offending = truth.ravel() if not numeric else truth[~np.isin(truth, (0, 1))]
            raise ValueError(
                "ground_truth must hold booleans (or only the numbers 0 and 1); got values of "
                f"dtype {truth.dtype} such as {np.unique(offending)[:5].tolist()}."
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
    truth, scores = _check_truth_and_map(ground_truth, attribution_map)
    return float(roc_auc_score(truth.ravel(), scores.ravel()))


def _check_truth_and_map(ground_truth, attribution_map) -> tuple[np.ndarray, np.ndarray]:
    """The ground truth as booleans and the map as finite float64 of the same shape."""
    scores = np.asarray(attribution_map, dtype=np.float64)
    truth = check_ground_truth(ground_truth, scores.shape)
    if not np.isfinite(scores).all():
        raise ValueError("attribution_map contains NaN or infinite values.")
    return truth, scores


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


def connection_statistics(ground_truth, attribution_map) -> dict[str, float]:
    """Summary statistics of a map over connected and non-connected entries, and their gaps.

    The same quantities as cebra's ``AttributionMap.compute_metrics`` (its ``max_jacobian`` and
    ``min_jacobian`` are called ``max_attribution`` and ``min_attribution`` here, as the map
    need not be a Jacobian), with the inputs validated instead of asserted.

    Parameters
    ----------
    ground_truth : array-like of bool, shape (n_latents, n_features)
        ``True`` where a latent drives a feature; both classes must occur.
    attribution_map : array-like of shape (n_latents, n_features)
        Finite scores; higher means "more likely connected".

    Returns
    -------
    dict of str to float
        ``max_connected``, ``mean_connected``, ``min_connected`` (over entries where the ground
        truth is ``True``), ``max_nonconnected``, ``mean_nonconnected``, ``min_nonconnected``
        (where it is ``False``), the differences connected minus non-connected ``gap_max``,
        ``gap_mean``, ``gap_min``, and ``gap_minmax = min_connected - max_nonconnected``, which
        is positive exactly when some threshold separates the two classes perfectly (then the
        ROC AUC is 1), and ``max_attribution``, ``min_attribution`` over all entries.

    Raises
    ------
    ValueError
        If the ground truth is invalid (see :func:`check_ground_truth`) or ``attribution_map``
        has non-finite values.

    Examples
    --------
    >>> stats = connection_statistics([[True, False], [False, True]], [[0.9, 0.1], [0.3, 0.5]])
    >>> round(stats["gap_minmax"], 6), round(stats["gap_mean"], 6)
    (0.2, 0.5)
    """
    truth, scores = _check_truth_and_map(ground_truth, attribution_map)
    groups = {"connected": scores[truth], "nonconnected": scores[~truth]}
    stats = {
        f"{name}_{group}": float(reduce(values))
        for group, values in groups.items()
        for name, reduce in (("max", np.max), ("mean", np.mean), ("min", np.min))
    }
    for name in ("max", "mean", "min"):
        stats[f"gap_{name}"] = stats[f"{name}_connected"] - stats[f"{name}_nonconnected"]
    stats["gap_minmax"] = stats["min_connected"] - stats["max_nonconnected"]
    stats["max_attribution"] = float(scores.max())
    stats["min_attribution"] = float(scores.min())
    return stats


# Tolerance of the Penrose conditions, in units of max(K, N) * eps: an SVD-based pseudo-inverse
# is the exact one of a matrix within O(eps) of J, which gives relative residuals up to about
# max(K, N) * eps * cond(J) (measured on random Gaussian Jacobians of shapes 2x4 to 50x6 in both
# float32 and float64: at most 0.9 * max(K, N) * eps * cond(J)). A factor of 10 accepts the
# well-conditioned Jacobians (cond up to ~10) while staying 1e5-1e6 below the O(1) residuals
# of a wrong inverse.
_PENROSE_SAFETY = 10.0
# Samples per chunk in moore_penrose_residuals: bounds the (chunk, N, N) product P J in memory.
_PENROSE_CHUNK = 1024


def moore_penrose_residuals(
    jacobian, pseudo_inverse, rtol: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Relative residuals of the four Penrose conditions, per sample, and whether each holds.

    ``P`` is the Moore-Penrose pseudo-inverse of ``J`` if and only if
    (1) ``J P J = J``, (2) ``P J P = P``, (3) ``(J P)^T = J P`` and (4) ``(P J)^T = P J``. For
    every sample this returns the relative Frobenius residuals ``||JPJ - J|| / ||J||``,
    ``||PJP - P|| / ||P||``, ``||(JP)^T - JP|| / ||JP||`` and ``||(PJ)^T - PJ|| / ||PJ||``,
    computed in float64, with ``0 / 0`` taken as 0 (a zero denominator always comes with a zero
    numerator, e.g. ``J = 0`` satisfies (1) exactly).

    Unlike cebra's ``check_moores_penrose_conditions``, which uses ``np.allclose``'s fixed
    tolerances whatever the precision, the default tolerance follows the dtype of the inputs:
    float32 Jacobians are judged by float32 rounding, float64 ones by float64 rounding.

    Parameters
    ----------
    jacobian : array-like or torch.Tensor of shape (T, K, N) or (K, N)
        Per-sample Jacobians (latents x features), e.g. from
        :func:`skattr.attribution.jacobian`.
    pseudo_inverse : array-like or torch.Tensor of shape (T, N, K) or (N, K)
        Their (claimed) pseudo-inverses. The inverted-gradient map is ``pinv(J)^T`` of shape
        ``(K, N)``, so pass it transposed: ``maps.transpose(0, 2, 1)`` for the ``(T, K, N)``
        maps of ``attribute(..., "inverted-gradient", return_per_sample=True)``.
    rtol : float, optional
        A condition holds if its relative residual is at most ``rtol``. ``None`` means
        ``10 * max(K, N) * eps``, with ``eps`` the machine epsilon of the less precise of the
        two inputs' dtypes (float64 for integer inputs).

    Returns
    -------
    residuals : ndarray of float64, shape (T, 4) or (4,)
        The relative residuals of conditions (1)-(4); ``(4,)`` for a single ``(K, N)`` pair.
    satisfied : ndarray of bool, shape (T, 4) or (4,)
        ``residuals <= rtol``.

    Raises
    ------
    ValueError
        If the shapes do not match, an input is not real or not finite, or ``rtol`` is
        negative.

    Notes
    -----
    Even an exactly computed pseudo-inverse has residuals of about ``eps * cond(J)``, so with
    the default tolerance an ill-conditioned Jacobian (``cond(J) >> 10``) fails the conditions
    although it was inverted as well as its precision allows; such samples are the ones whose
    inverted gradient is dominated by rounding. Pass a larger ``rtol`` to accept them.

    Examples
    --------
    >>> import numpy as np
    >>> J = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])
    >>> residuals, satisfied = moore_penrose_residuals(J, np.linalg.pinv(J))
    >>> satisfied.tolist()
    [True, True, True, True]
    >>> moore_penrose_residuals(J, J.T)[1].tolist()  # J^T is no inverse of J
    [False, False, True, True]
    """
    J, eps_J = _as_real_float64(jacobian, "jacobian")
    P, eps_P = _as_real_float64(pseudo_inverse, "pseudo_inverse")
    if J.ndim not in (2, 3):
        raise ValueError(f"jacobian must have shape (T, K, N) or (K, N); got shape {J.shape}.")
    expected = J.shape[:-2] + (J.shape[-1], J.shape[-2])
    if P.shape != expected:
        raise ValueError(
            f"pseudo_inverse must have shape {expected}, that of jacobian {J.shape} with the last "
            f"two axes swapped (pass an inverted-gradient map transposed); got shape {P.shape}."
        )
    if rtol is None:
        # The less precise input limits how well the conditions can hold.
        rtol = _PENROSE_SAFETY * max(J.shape[-2:]) * max(eps_J, eps_P)
    elif not isinstance(rtol, Real) or isinstance(rtol, bool) or not 0 <= rtol < np.inf:
        raise ValueError(f"rtol must be a non-negative finite number or None; got {rtol!r}.")
    single = J.ndim == 2
    if single:
        J, P = J[None], P[None]
    residuals = np.concatenate([
        _penrose_residuals(J[start : start + _PENROSE_CHUNK], P[start : start + _PENROSE_CHUNK])
        for start in range(0, max(len(J), 1), _PENROSE_CHUNK)
    ])
    if single:
        residuals = residuals[0]
    return residuals, residuals <= rtol


def _as_real_float64(array, name: str) -> tuple[np.ndarray, float]:
    """``array`` as finite float64 numpy, and the machine epsilon of its original dtype."""
    if torch.is_tensor(array):
        if array.is_complex():
            raise ValueError(f"{name} must hold real numbers; got dtype {array.dtype}.")
        # torch has dtypes numpy lacks (bfloat16): take eps before converting.
        eps = torch.finfo(array.dtype).eps if array.is_floating_point() else np.finfo(float).eps
        values = array.detach().to("cpu", torch.float64).numpy()
    else:
        values = np.asarray(array)
        if values.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers; got dtype {values.dtype}.")
        eps = np.finfo(values.dtype).eps if values.dtype.kind == "f" else np.finfo(float).eps
        values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return values, float(eps)


def _penrose_residuals(J: np.ndarray, P: np.ndarray) -> np.ndarray:
    """The ``(T, 4)`` relative residuals for float64 ``J`` ``(T, K, N)``, ``P`` ``(T, N, K)``."""
    JP, PJ = J @ P, P @ J
    pairs = [
        (JP @ J - J, J),
        (P @ JP - P, P),
        (JP.transpose(0, 2, 1) - JP, JP),
        (PJ.transpose(0, 2, 1) - PJ, PJ),
    ]
    numerators = np.stack([np.linalg.norm(diff, axis=(1, 2)) for diff, _ in pairs], axis=1)
    denominators = np.stack([np.linalg.norm(ref, axis=(1, 2)) for _, ref in pairs], axis=1)
    return np.divide(
        numerators, denominators, out=np.zeros_like(numerators), where=denominators > 0
    )


@dataclass(frozen=True)
class AUCInterval:
    """A bootstrap confidence interval of the attribution AUC, from :func:`attribution_auc_ci`.

    Attributes
    ----------
    auc : float
        The AUC of the map reduced over all time points.
    low, high : float
        The percentile interval of the bootstrap distribution.
    confidence : float
        Its nominal coverage.
    distribution : ndarray of shape (n_bootstrap,)
        The AUC of every bootstrap replicate.
    """

    auc: float
    low: float
    high: float
    confidence: float
    distribution: np.ndarray = field(repr=False)


def attribution_auc_ci(
    ground_truth,
    per_sample_maps,
    reduction: str = "mean_abs",
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state=None,
    batch_size: int = 100,
    block_length: int = 1,
    row_norm: str | None = None,
) -> AUCInterval:
    """Bootstrap confidence interval of the attribution AUC, resampling time points.

    Each replicate draws ``T`` time points (rows of the per-sample maps) with replacement,
    reduces them to a ``(K, N)`` map like :func:`skattr.attribution.attribute` does, and scores
    it with the ROC AUC (as :func:`attribution_auc`). The interval is the percentile interval
    of these AUCs; it reflects the variability due to the finite recording, not that of
    training the model.

    Parameters
    ----------
    ground_truth : array-like of bool, shape (K, N)
        ``True`` where a latent drives a feature; both classes must occur.
    per_sample_maps : array-like of shape (T, K, N)
        Finite per-sample maps, e.g. ``attribute(..., return_per_sample=True)``.
    reduction : {"mean_abs", "mean", "sum", "max_abs"}, default="mean_abs"
        How a replicate's rows are reduced, as in ``skattr.attribution.REDUCTIONS``.
    n_bootstrap : int, default=1000
        Number of bootstrap replicates.
    confidence : float, default=0.95
        Coverage of the interval, strictly between 0 and 1.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling; an int gives the same distribution whatever ``batch_size``.
    batch_size : int, default=100
        Replicates processed together; memory is ``O(batch_size * (T + K * N))``.
    block_length : int, default=1
        Moving-block bootstrap: a replicate concatenates ``ceil(T / block_length)`` runs of
        ``block_length`` consecutive time points starting at uniformly drawn positions,
        truncated to ``T``. Neighbouring time points are autocorrelated, so resampling single
        points (``block_length=1``) understates the variance; use blocks longer than the
        correlation time. Points within ``block_length`` of either end are drawn less often.
    row_norm : {"l2", "l1", "max"}, default=None
        Divide each row of every reduced map (the full data's and each replicate's) by its
        norm over features before scoring, as :func:`hypothesis_auc` does; ``None`` scores the
        rows as they are.

    Returns
    -------
    AUCInterval
        With ``auc`` (of the full data), ``low``, ``high``, ``confidence`` and the bootstrap
        ``distribution``.

    Raises
    ------
    ValueError
        If an argument is invalid; the message names it.

    Notes
    -----
    Mean and sum reductions of a replicate are ``counts @ maps``, with ``counts`` how often
    each time point was drawn, so no resampled ``(T, K, N)`` array is ever built; ``max_abs``
    takes, per entry, the largest value among the drawn points by walking down the points
    sorted by value. The AUCs of all replicates come from one rank computation: the ROC AUC is
    the Mann-Whitney ``U`` of the connected entries divided by ``n_pos * n_neg``, with ties
    given average ranks as in :func:`sklearn.metrics.roc_auc_score`. ``max_abs`` also keeps
    two ``(T, K * N)`` arrays (the sort order and sorted values).

    The percentile interval inherits the bootstrap's bias: a replicate's mean map carries
    about twice the sampling noise of the full-data map, so when that noise matters (weak
    attributions, short recordings) the replicate AUCs sit below the full-data ``auc`` and the
    interval can exclude it. ``distribution`` is returned for other intervals (e.g. basic or
    BCa) or for comparing two models on the same draws (same ``random_state``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> truth = np.eye(3, 8, dtype=bool)
    >>> maps = rng.normal(size=(500, 3, 8)) + 0.1 * truth
    >>> ci = attribution_auc_ci(truth, maps, reduction="mean", n_bootstrap=200, random_state=0)
    >>> bool(ci.low <= ci.auc <= ci.high), ci.distribution.shape
    (True, (200,))
    """
    maps = np.asarray(per_sample_maps, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ValueError(
            f"per_sample_maps must have shape (T, K, N) with T >= 1; got shape {maps.shape}."
        )
    truth = check_ground_truth(ground_truth, maps.shape[1:]).ravel()
    if not np.isfinite(maps).all():
        raise ValueError("per_sample_maps contains NaN or infinite values.")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}.")
    n_samples = maps.shape[0]
    n_bootstrap = _check_int(n_bootstrap, "n_bootstrap", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    block_length = _check_int(block_length, "block_length", 1, n_samples)
    if not isinstance(confidence, Real) or isinstance(confidence, bool) or not (
        0 < confidence < 1
    ):
        raise ValueError(f"confidence must be strictly between 0 and 1; got {confidence!r}.")
    rng = check_random_state(random_state)
    check_row_norm(row_norm)
    n_rows = maps.shape[1]

    def scored(reduced: np.ndarray) -> np.ndarray:
        # (B, K * N) reduced maps, their rows on a common scale when row_norm asks for it.
        if row_norm is None:
            return reduced
        shaped = reduced.reshape(len(reduced), n_rows, -1)
        return normalize_rows(shaped, row_norm).reshape(len(reduced), -1)

    values = maps.reshape(n_samples, -1)
    if reduction in ("mean_abs", "max_abs"):
        values = np.abs(values)
    full = values.max(axis=0) if reduction == "max_abs" else values.sum(axis=0)
    if reduction in ("mean_abs", "mean"):
        full = full / n_samples
    auc = attribution_auc(truth, scored(full[None])[0])

    if reduction == "max_abs":
        order = np.argsort(-values, axis=0, kind="stable")
        sorted_values = np.take_along_axis(values, order, axis=0)
    n_blocks = -(-n_samples // block_length)
    offsets = np.arange(block_length)
    distribution = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, batch_size):
        size = min(batch_size, n_bootstrap - start)
        starts = rng.randint(0, n_samples - block_length + 1, size=(size, n_blocks))
        drawn = (starts[:, :, None] + offsets).reshape(size, -1)[:, :n_samples]
        # How often each time point was drawn, per replicate: one bincount over all rows.
        counts = np.bincount(
            (drawn + n_samples * np.arange(size)[:, None]).ravel(), minlength=size * n_samples
        ).reshape(size, n_samples)
        if reduction == "max_abs":
            scores = _subset_max(order, sorted_values, counts)
        else:
            # Mean and sum of a replicate are linear in the counts: one BLAS product per batch.
            scores = counts.astype(np.float64) @ values
            if reduction != "sum":
                scores /= n_samples
        distribution[start : start + size] = _roc_auc_rows(truth, scored(scores))
    low, high = np.quantile(distribution, [(1 - confidence) / 2, (1 + confidence) / 2])
    return AUCInterval(float(auc), float(low), float(high), float(confidence), distribution)


def normalize_rows(maps, norm: str) -> np.ndarray:
    """``maps`` ``(..., K, N)`` with each row divided by its ``norm`` over the features.

    Parameters
    ----------
    maps : array-like of shape (..., K, N)
    norm : {"l2", "l1", "max"}
        Of the absolute values of each row; rows of zeros stay zero.

    Returns
    -------
    ndarray of the same shape, float64

    Examples
    --------
    >>> normalize_rows([[3.0, -4.0], [0.0, 0.0]], "l2").tolist()
    [[0.6, -0.8], [0.0, 0.0]]
    """
    values = torch.as_tensor(np.asarray(maps, dtype=np.float64))
    return _normalize_rows(values, norm).numpy()


def _check_int(value, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``, or a ValueError naming ``name``."""
    if (
        not isinstance(value, Integral)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be an integer {bounds}; got {value!r}.")
    return int(value)


def _subset_max(order: np.ndarray, sorted_values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per replicate and column, the largest value among the rows drawn (``counts > 0``).

    ``order[:, m]`` lists the rows by decreasing value of column ``m``. Each replicate draws
    about 63% of the rows, so walking down that list stops after a few steps; the loop runs
    until the slowest (replicate, column) finds a drawn row, ~log(B M) steps, each O(B M).
    """
    replicates = np.arange(counts.shape[0])[:, None]
    columns = np.arange(order.shape[1])
    depth = np.zeros((counts.shape[0], order.shape[1]), dtype=np.intp)
    while True:
        missing = counts[replicates, order[depth, columns]] == 0
        if not missing.any():
            return sorted_values[depth, columns]
        depth += missing


def _roc_auc_rows(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of every row of ``scores`` ``(B, M)`` against boolean ``truth`` ``(M,)``.

    AUC = (sum of the positives' ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg), the
    Mann-Whitney U statistic normalised; average ranks for ties count a tie as one half, as
    sklearn's trapezoidal ROC AUC does.
    """
    ranks = rankdata(scores, axis=1)
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    return (ranks[:, truth].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _check_groups(latent_groups, n_latents: int | None = None) -> dict[str, np.ndarray]:
    """``latent_groups`` (group -> latent indices) as int arrays; each latent in one group."""
    if not hasattr(latent_groups, "items"):
        raise TypeError(
            "latent_groups must be a mapping from a group name to its latents' indices (e.g. "
            f"skattr.stats.blocks(model)); got {type(latent_groups).__name__}."
        )
    groups = {str(name): np.asarray(latents, dtype=int).ravel()
              for name, latents in latent_groups.items()}
    every = np.concatenate(list(groups.values())) if groups else np.array([], dtype=int)
    if len(np.unique(every)) != len(every):
        raise ValueError("latent_groups must give each latent to one group only; some repeat.")
    if n_latents is not None and (every.min(initial=0) < 0 or every.max(initial=-1) >= n_latents):
        raise ValueError(
            f"latent_groups index latents outside the map's {n_latents} rows: {every.tolist()}."
        )
    return groups


def _check_feature_labels(feature_labels, n_features: int) -> np.ndarray:
    """``feature_labels`` as a 1-D array with one label per feature of the map."""
    labels = np.asarray(feature_labels).ravel()
    if len(labels) != n_features:
        raise ValueError(
            f"feature_labels has {len(labels)} labels but attribution_map has {n_features} "
            "features."
        )
    return labels


def _check_hypothesis(hypothesis, groups: dict, labels: np.ndarray) -> dict[str, set]:
    """``hypothesis`` (group -> feature label(s)) with every group and label known."""
    if not hasattr(hypothesis, "items") or not hypothesis:
        raise TypeError(
            "hypothesis must be a non-empty mapping from a latent group to the feature "
            "label(s) it explains, e.g. {'position': ['place', 'grid']}."
        )
    known = set(labels.tolist())
    checked = {}
    for group, explained in hypothesis.items():
        if str(group) not in groups:
            raise ValueError(
                f"hypothesis names group {group!r}, which latent_groups lacks; its groups are "
                f"{sorted(groups)}."
            )
        explained = {explained} if isinstance(explained, str) else set(explained)
        unknown = explained - known
        if unknown:
            raise ValueError(
                f"hypothesis for group {group!r} names feature label(s) {sorted(unknown)} that "
                f"no feature has; the labels are {sorted(known)}."
            )
        checked[str(group)] = explained
    return checked


def hypothesis_ground_truth(latent_groups, feature_labels, hypothesis) -> np.ndarray:
    """The boolean map a hypothesis predicts: ``True`` where a latent's group explains a
    feature's label.

    Parameters
    ----------
    latent_groups : mapping of str to array-like of int
        The latents of each group, e.g. :func:`skattr.stats.blocks` of a fitted estimator.
    feature_labels : array-like of shape (n_features,)
        A label per feature, e.g. each neuron's cell type.
    hypothesis : mapping of str to str or list of str
        For each group tested, the feature label(s) it should explain, e.g.
        ``{"position": ["place", "grid"], "speed": "speed"}``. Groups left out (e.g. the time
        block) get rows of ``False``; :func:`hypothesis_auc` scores only the groups named.

    Returns
    -------
    ndarray of bool, shape (n_latents, n_features)
        ``n_latents`` is one more than the largest latent index of ``latent_groups``.

    Examples
    --------
    >>> truth = hypothesis_ground_truth({"behavior": [0, 1], "time": [2]},
    ...                                 ["place", "hd", "place"], {"behavior": "place"})
    >>> truth.astype(int).tolist()
    [[1, 0, 1], [1, 0, 1], [0, 0, 0]]
    """
    groups = _check_groups(latent_groups)
    labels = np.asarray(feature_labels).ravel()
    checked = _check_hypothesis(hypothesis, groups, labels)
    n_latents = max((int(latents.max()) + 1 for latents in groups.values() if len(latents)),
                    default=0)
    truth = np.zeros((n_latents, len(labels)), dtype=bool)
    for group, explained in checked.items():
        truth[np.ix_(groups[group], np.isin(labels, list(explained)))] = True
    return truth


def hypothesis_latents(latent_groups, hypothesis) -> np.ndarray:
    """The latents of the groups a hypothesis tests, in order: the rows to score.

    Examples
    --------
    >>> hypothesis_latents({"position": [0, 1], "speed": [2], "time": [3, 4]},
    ...                    {"speed": "speed", "position": "place"}).tolist()
    [0, 1, 2]
    """
    groups = _check_groups(latent_groups)
    missing = [group for group in hypothesis if str(group) not in groups]
    if missing:
        raise ValueError(
            f"hypothesis names group(s) {missing} that latent_groups lacks; its groups are "
            f"{sorted(groups)}."
        )
    return np.sort(np.concatenate([groups[str(group)] for group in hypothesis]))


def hypothesis_auc(attribution_map, latent_groups, feature_labels, hypothesis,
                   row_norm: str | None = "l2") -> float:
    """ROC AUC of a map's tested rows against the map a hypothesis predicts.

    Only the latents of the groups named in ``hypothesis`` are scored (the time block, say,
    is not a hypothesis about cell types). Each row is first divided by its norm over the
    features (``row_norm``): a latent's scale is not identified (each behaviour block is learnt
    up to an invertible linear map), so a pooled AUC of raw rows changes when one latent is
    multiplied by a constant, which changes nothing the model says about which cells a group
    explains. For a bootstrap interval use :func:`hypothesis_auc_ci`.

    Parameters
    ----------
    attribution_map : array-like of shape (n_latents, n_features)
    latent_groups : mapping of str to array-like of int
        The latents of each group, e.g. :func:`skattr.stats.blocks` of a fitted estimator.
    feature_labels : array-like of shape (n_features,)
    hypothesis : mapping of str to str or list of str
        As in :func:`hypothesis_ground_truth`.
    row_norm : {"l2", "l1", "max"} or None, default="l2"
        How each tested row is put on a common scale; ``None`` pools the raw rows.

    Returns
    -------
    float

    Examples
    --------
    >>> hypothesis_auc([[0.9, 0.1, 0.8], [0.0, 0.0, 0.0]], {"behavior": [0], "time": [1]},
    ...                ["place", "hd", "place"], {"behavior": "place"})
    1.0
    """
    truth, values = _hypothesis_rows(attribution_map, latent_groups, feature_labels,
                                     hypothesis, row_norm, per_sample=False)
    return attribution_auc(truth, values)


def hypothesis_auc_ci(per_sample_maps, latent_groups, feature_labels, hypothesis,
                      row_norm: str | None = "l2", **bootstrap) -> AUCInterval:
    """:func:`hypothesis_auc` with its bootstrap interval over time points.

    Parameters
    ----------
    per_sample_maps : array-like of shape (T, n_latents, n_features)
        E.g. ``model.attribute(X, return_per_sample=True)``.
    latent_groups, feature_labels, hypothesis, row_norm
        As in :func:`hypothesis_auc`; every replicate's rows are normalised the same way.
    **bootstrap
        ``reduction``, ``n_bootstrap``, ``confidence``, ``random_state``, ``batch_size`` and
        ``block_length`` of :func:`attribution_auc_ci`.

    Returns
    -------
    AUCInterval

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> maps = rng.random((200, 2, 3)) + [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    >>> ci = hypothesis_auc_ci(maps, {"behavior": [0], "time": [1]}, ["place", "hd", "place"],
    ...                        {"behavior": "place"}, n_bootstrap=100, random_state=0)
    >>> ci.auc, bool(ci.low <= ci.auc <= ci.high)
    (1.0, True)
    """
    truth, values = _hypothesis_rows(per_sample_maps, latent_groups, feature_labels,
                                     hypothesis, row_norm, per_sample=True)
    return attribution_auc_ci(truth, values, row_norm=row_norm, **bootstrap)


def _hypothesis_rows(maps, latent_groups, feature_labels, hypothesis, row_norm, per_sample):
    """The predicted map and the maps' values on the tested rows (normalised for a reduced
    map; per-sample maps are normalised after each replicate's reduction)."""
    maps = np.asarray(maps, dtype=float)
    if maps.ndim != (3 if per_sample else 2):
        name, shape = (("per_sample_maps", "(T, n_latents, n_features)") if per_sample
                       else ("attribution_map", "(n_latents, n_features)"))
        raise ValueError(f"{name} must have shape {shape}; got shape {maps.shape}.")
    check_row_norm(row_norm)
    groups = _check_groups(latent_groups, maps.shape[-2])
    labels = _check_feature_labels(feature_labels, maps.shape[-1])
    truth = hypothesis_ground_truth(groups, labels, hypothesis)
    rows = hypothesis_latents(groups, hypothesis)
    values = maps[..., rows, :]
    if row_norm is not None and not per_sample:
        values = normalize_rows(values, row_norm)
    return truth[rows], values


def summarize_by_label(attribution_map, latent_groups, feature_labels):
    """The mean attribution of each group's latents onto the features of each label.

    Entry ``(g, l)`` is the mean of the map over the latents of group ``g`` and the features
    labelled ``l``: e.g. how strongly the position block attributes to place cells, grid cells,
    head-direction and speed cells.

    Parameters
    ----------
    attribution_map : array-like of shape (n_latents, n_features)
    latent_groups : mapping of str to array-like of int
    feature_labels : array-like of shape (n_features,)

    Returns
    -------
    pandas.DataFrame or Bunch
        Groups as rows (in the order of ``latent_groups``), labels as columns (in order of
        first appearance); a ``DataFrame`` when pandas is installed, else a ``Bunch`` with
        ``data``, ``index`` and ``columns``.

    Examples
    --------
    >>> table = summarize_by_label([[2.0, 0.0, 4.0], [1.0, 1.0, 1.0]],
    ...                            {"behavior": [0], "time": [1]}, ["place", "hd", "place"])
    >>> table.loc["behavior", "place"], table.loc["behavior", "hd"]
    (np.float64(3.0), np.float64(0.0))
    """
    attribution_map = np.asarray(attribution_map, dtype=float)
    if attribution_map.ndim != 2:
        raise ValueError(f"attribution_map must be 2-D; got shape {attribution_map.shape}.")
    groups = _check_groups(latent_groups, attribution_map.shape[0])
    labels = _check_feature_labels(feature_labels, attribution_map.shape[1])
    columns = list(dict.fromkeys(labels.tolist()))
    values = np.array([[attribution_map[np.ix_(latents, labels == label)].mean()
                        for label in columns] for latents in groups.values()])
    try:
        import pandas as pd
    except ImportError:
        from sklearn.utils import Bunch

        return Bunch(data=values, index=list(groups), columns=columns)
    return pd.DataFrame(values, index=list(groups), columns=columns)


__all__ = [
    "AUCInterval",
    "attribution_auc",
    "attribution_auc_ci",
    "attribution_auc_scorer",
    "check_ground_truth",
    "connection_statistics",
    "hypothesis_auc",
    "hypothesis_auc_ci",
    "hypothesis_ground_truth",
    "hypothesis_latents",
    "moore_penrose_residuals",
    "normalize_rows",
    "summarize_by_label",
]

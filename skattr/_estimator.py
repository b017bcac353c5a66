"""scikit-learn glue for xCEBRA: :class:`xCEBRAAttributor`.

This module validates inputs and parameters, calls :mod:`skattr._training`, keeps the fitted state
and delegates attribution to :mod:`skattr.attribution` and scoring to :mod:`skattr.metrics`. No
training maths lives here.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)

from . import _persistence, attribution
from ._device import resolve_device
from ._encoders import (
    ENCODERS,
    EncoderEnsemble,
    StackedMembers,
    build_encoder,
    receptive_field,
    time_windows,
)
from ._losses import SIMILARITIES
from ._regularizers import regularizer_weight
from ._sampling import BEHAVIOR_DISTRIBUTIONS, ContrastiveSampler, LabelIndex, trial_bounds
from ._time_scale import auto_behavior_gap, auto_time_delta, auto_time_offset
from ._training import (
    Objective,
    TrainingConfig,
    TrainingDivergedError,
    latent_blocks,
    mean_objective_losses,
    train,
)
from ._unmixing import UNMIXING_DAMPING, block_unmixing, unmixing_rows
from ._version import DOCS_URL, __version__
from .callbacks import Callback, ProgressBar
from .metrics import attribution_auc

# Samples per forward pass in transform: bounds memory, large enough to keep a GPU busy.
_TRANSFORM_BATCH = 8192
# Fixed batches (seeded, of a fixed size) of the label-free score, so that repeated calls agree
# and scores of different settings compare.
_SCORE_BATCHES = 4
_SCORE_BATCH_SIZE = 512
# The default width: the paper's units per latent, capped on short recordings at one unit per
# this many samples.
PAPER_UNITS_PER_LATENT, SAMPLES_PER_UNIT = 30, 16
# Short recordings: fewer training samples per latent than the paper's width needs under that
# cap. There the default width is capped, several encoders are trained and the regulariser is
# weaker (below).
SHORT_SAMPLES_PER_LATENT = SAMPLES_PER_UNIT * PAPER_UNITS_PER_LATENT
# n_encoders="auto" on short recordings: on the robustness family's 1,000-sample settings 4
# encoders scored 0.873 / 0.898 against one encoder's 0.864 / 0.838 (user guide, Defaults).
AUTO_ENCODERS = 4
# regularizer_weight="auto": the paper's 0.1, and 0.03 on short recordings, where it scored
# 0.920 / 0.914 against 0.891 / 0.908 on the family's 1,000-sample settings (seeds 0-2), and
# above 0.1 on four of five short recordings of kinds it was not chosen on (user guide,
# Defaults).
AUTO_REGULARIZER_WEIGHT, AUTO_SHORT_REGULARIZER_WEIGHT = 0.1, 0.03
# batch_size="auto": n_samples // 4 within these. On the family's 1,000-sample settings batches
# of 64-256 scored 0.881-0.891 / 0.908-0.923 against 0.873 / 0.898 at 512, 32 lower again; at
# 3,000 samples 375 scored below 512 (user guide, Defaults), so 512 from 2,048 samples on.
AUTO_BATCH_MIN, AUTO_BATCH_MAX = 64, 512
# Member k of an ensemble is initialised from the fit's seed + k * this (mod 2**31 - 1); member
# 0 from the seed itself, as a single encoder is.
_MEMBER_SEED_STRIDE = 7919


@contextmanager
def _naming_argument(argument: str, expected: str) -> Iterator[None]:
    """Re-raise scikit-learn's validation errors so that each names ``argument`` and what it
    should be (sklearn's own messages, e.g. "could not convert string to float", do not)."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if re.search(rf"\b{argument}\b", str(error)):
            raise
        raise type(error)(f"{argument} must be {expected}: {error}") from error


def _embedding_names(objectives: tuple[Objective, ...], n_latents: int) -> np.ndarray:
    """Each dimension named after the narrowest objective that trains it: ``behavior0..`` for
    the behaviour block, ``time0..`` for the dimensions only the time objective trains."""
    names = [None] * n_latents
    for block, latents in latent_blocks(objectives, n_latents).items():
        for count, i in enumerate(latents):
            names[i] = f"{block}{count}"
    return np.array(names, dtype=object)


def _check_lag(n_samples: int, name: str, lag: int) -> None:
    """A lag (``time_offset``, ``time_delta``) needs a sample ``lag`` steps after another."""
    if n_samples <= lag:
        raise ValueError(
            f"X has {n_samples} samples but {name}={lag} needs at least {lag + 1}."
        )


def _short_recording(n_latents: int, n_samples: int) -> bool:
    """Whether ``n_samples`` training samples make a short recording for ``n_latents``
    latents: where the default width is capped and the ``"auto"`` rules of ``n_encoders`` and
    ``regularizer_weight`` differ."""
    return n_samples < SHORT_SAMPLES_PER_LATENT * n_latents


def _constant_columns(y: np.ndarray) -> list[int]:
    """Positions of the columns of ``y`` that hold a single value."""
    return np.flatnonzero(np.ptp(y, axis=0) == 0).tolist()


def _check_labels_vary(y: np.ndarray) -> None:
    """A constant ``y`` teaches the behaviour block nothing: refused; a constant column warned."""
    constant = _constant_columns(y)
    if len(constant) == y.shape[1]:
        raise ValueError(
            "y is constant (every column has a single value): the behaviour objective has "
            "nothing to learn. Fit without y for a time-contrastive model."
        )
    if constant:
        warnings.warn(
            f"y column(s) {constant} are constant and teach the behaviour block nothing; drop "
            "them.",
            UserWarning,
            stacklevel=5,  # the caller of fit, through sklearn's _fit_context
        )


def _check_discrete_labels(index: LabelIndex) -> None:
    """Discrete labels (their ``index``): a value held by one sample only has itself as its
    positive."""
    once = index.values[index.counts == 1]
    if len(once):
        shown = ", ".join(
            f"{v[0]:g}" if len(v) == 1 else "(" + ", ".join(f"{x:g}" for x in v) + ")"
            for v in once[:5]
        )
        more = f" and {len(once) - 5} more" if len(once) > 5 else ""
        warnings.warn(
            f"With behavior_distribution='discrete', y value(s) {shown}{more} occur once: a "
            "sample whose value no other sample holds is its own behaviour positive and "
            "teaches the behaviour block nothing. Merge rare values or drop those samples; "
            "for a continuous y use behavior_distribution='time_delta'.",
            UserWarning,
            stacklevel=5,
        )


def _warn_integer_labels(behavior_distribution: str) -> None:
    warnings.warn(
        f"y holds integers, and behavior_distribution={behavior_distribution!r} treats them "
        "as a continuous quantity (positives by nearest value). For categories (trials, "
        "conditions, stimulus identity) pass behavior_distribution='discrete'; for a "
        "quantity, pass y as floats (y.astype(float)) to silence this warning.",
        UserWarning,
        stacklevel=5,
    )


def _behavior_r2(block: np.ndarray, y: np.ndarray, discrete: LabelIndex | None) -> float:
    """R² of a linear read-out of ``y`` from the behaviour block; for a discrete ``y`` (given
    its ``LabelIndex``), of its one-hot encoding, averaged over values (as sklearn's
    multi-output ``score``).

    The one-hot read-out is computed from per-value sums of the block, never forming the
    ``(T, n_values)`` indicator matrix: with ``Z`` the centred block and ``g_u`` the sum of
    ``Z`` over the ``n_u`` samples of value ``u``, ``R²_u = g_u^T (Z^T Z)^-1 g_u /
    (n_u - n_u^2 / T)``.
    """
    if discrete is None:
        return float(LinearRegression().fit(block, y).score(block, y))
    codes = discrete.value_of_sample
    centred = block - block.mean(0)
    sums = np.stack([np.bincount(codes, weights=column) for column in centred.T], axis=1)
    counts = np.bincount(codes)
    explained = np.einsum("ud,ud->u", sums, np.linalg.lstsq(centred.T @ centred, sums.T,
                                                             rcond=None)[0].T)
    return float(np.mean(explained / (counts - counts**2 / len(codes))))


def _label_scaling(y: np.ndarray, n_behavior_latents: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each label, which a supervised behaviour block regresses
    after standardisation; refuses labels it cannot regress."""
    if y.shape[1] != n_behavior_latents:
        raise ValueError(
            f"objective='supervised' regresses y with the behaviour block, so y must have "
            f"n_behavior_latents={n_behavior_latents} column(s); got {y.shape[1]}."
        )
    constant = _constant_columns(y)
    if constant:
        raise ValueError(
            f"y column(s) {constant} are constant: there is nothing for "
            "objective='supervised' to regress."
        )
    return y.mean(0), y.std(0)


def _standardised_labels(y, label_scaling, device) -> torch.Tensor | None:
    if label_scaling is None or y is None:
        return None
    mean, scale = label_scaling
    return torch.tensor((y - mean) / scale, dtype=torch.float32, device=device)


def _refuse_dropped_ground_truth(caller) -> None:
    """Raise if ``caller`` (a frame) is a :class:`~sklearn.pipeline.Pipeline`'s ``score`` that
    was given ``ground_truth`` and dropped it.

    Without metadata routing, ``Pipeline.score`` silently forwards only ``sample_weight``
    (scikit-learn 1.4 to at least 1.9): ``pipe.score(X, ground_truth=gt)`` would return the
    label-free score in nats where the user asked for an AUC.
    """
    if caller.f_code.co_name != "score" or not isinstance(caller.f_locals.get("self"), Pipeline):
        return
    if "ground_truth" in (caller.f_locals.get("params") or {}):
        raise ValueError(
            "Pipeline.score(X, ground_truth=...) dropped ground_truth: scikit-learn forwards "
            "it only with metadata routing. Turn it on, sklearn.set_config("
            "enable_metadata_routing=True), and request it from the estimator, "
            "pipe[-1].set_score_request(ground_truth=True); or score the map directly, "
            "attribution_auc(ground_truth, pipe[-1].attribute(pipe[:-1].transform(X)))."
        )


@dataclasses.dataclass(frozen=True)
class _FitInputs:
    """What a fit knows before training, from which the fitted state is set (at the end, and
    for each checkpoint)."""

    X: np.ndarray
    y: np.ndarray | None
    bounds: np.ndarray | None
    discrete: dict | None  # a LabelIndex per behaviour group (by its columns), if discrete
    spec: dict
    device: torch.device
    objectives: tuple[Objective, ...]
    time_offset: int
    time_delta: int
    behavior_gap: int
    regularizer_weight: float
    label_scaling: tuple[np.ndarray, np.ndarray] | None
    previous_curve: dict[str, np.ndarray] | None


def _trial_bounds(trials, n_samples: int) -> np.ndarray | None:
    """The trials' bounds (see :func:`~skattr._sampling.trial_bounds`), or ``None``."""
    if trials is None:
        return None
    with _naming_argument("trials", "an array (n_samples,) of trial ids"):
        trials = check_array(trials, ensure_2d=False, dtype=None, input_name="trials",
                             ensure_all_finite=False)
    if trials.ndim != 1 or len(trials) != n_samples:
        raise ValueError(
            f"trials must hold one trial id per sample of X, shape ({n_samples},); got shape "
            f"{trials.shape}."
        )
    return trial_bounds(trials)


def _cut_bounds(bounds: np.ndarray | None, start: int, stop: int) -> np.ndarray | None:
    """The trial bounds of the samples ``start:stop``, counted from ``start``."""
    if bounds is None:
        return None
    inner = bounds[(bounds > start) & (bounds < stop)]
    return np.concatenate([[0], inner - start, [stop - start]])


def _behavior_layout(behavior_groups, n_behavior_latents, n_columns: int,
                     y_names: list[str] | None) -> list[tuple[str, tuple | None, int]]:
    """The behaviour blocks of a fit with ``y``: ``(name, columns of y, n_latents)`` each.

    Without ``behavior_groups`` one block, ``"behavior"``, trains on every column (``None``).
    """
    if behavior_groups is None:
        if isinstance(n_behavior_latents, dict):
            raise ValueError(
                "n_behavior_latents is a dict of group sizes, which needs behavior_groups (a "
                "dict from a group name to its columns of y); give an int for one block."
            )
        return [("behavior", None, n_behavior_latents)]
    if not behavior_groups:
        raise ValueError("behavior_groups must name at least one group; got an empty dict.")
    if isinstance(n_behavior_latents, dict):
        names = {str(name) for name in behavior_groups}
        if set(map(str, n_behavior_latents)) != names:
            raise ValueError(
                f"n_behavior_latents must give a size for each group of behavior_groups "
                f"{sorted(names)}; got {sorted(map(str, n_behavior_latents))}."
            )
    layout, owner = [], {}
    for name, columns in behavior_groups.items():
        name = str(name)
        if name == "time":
            raise ValueError(
                "behavior_groups may not name a group 'time': the time block has that name."
            )
        columns = [columns] if isinstance(columns, str | Integral) else list(columns)
        if not columns:
            raise ValueError(f"behavior_groups[{name!r}] is empty: give it columns of y.")
        positions = []
        for column in columns:
            if isinstance(column, str):
                if y_names is None:
                    raise ValueError(
                        f"behavior_groups[{name!r}] names column {column!r}, but y has no "
                        "column names: pass y as a DataFrame, or give integer positions."
                    )
                if column not in y_names:
                    raise ValueError(
                        f"behavior_groups[{name!r}] names column {column!r}, which y lacks; "
                        f"y's columns are {y_names}."
                    )
                position = y_names.index(column)
            elif isinstance(column, Integral) and not isinstance(column, bool):
                if not 0 <= column < n_columns:
                    raise ValueError(
                        f"behavior_groups[{name!r}] has column position {column}, but y has "
                        f"{n_columns} column(s)."
                    )
                position = int(column)
            else:
                raise TypeError(
                    f"behavior_groups[{name!r}] must hold column names or integer positions "
                    f"of y; got {column!r}."
                )
            if position in owner:
                raise ValueError(
                    f"column {column!r} of y is in behavior_groups {owner[position]!r} and "
                    f"{name!r}: each column belongs to one group."
                )
            owner[position] = name
            positions.append(position)
        size = (n_behavior_latents[next(k for k in n_behavior_latents if str(k) == name)]
                if isinstance(n_behavior_latents, dict) else n_behavior_latents)
        if not isinstance(size, Integral) or isinstance(size, bool) or size < 1:
            raise ValueError(
                f"n_behavior_latents for group {name!r} must be a positive int; got {size!r}."
            )
        layout.append((name, tuple(positions), int(size)))
    unused = sorted(set(range(n_columns)) - set(owner))
    if unused:
        warnings.warn(
            f"y column(s) {unused} are in no group of behavior_groups and are not trained on.",
            UserWarning,
            stacklevel=5,
        )
    return layout


def _embed_inputs(module: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``module`` on ``inputs`` without gradients, in batches that bound memory."""
    with torch.no_grad():
        return torch.cat([module(inputs[start : start + _TRANSFORM_BATCH])
                          for start in range(0, len(inputs), _TRANSFORM_BATCH)])


def _label_groups(objectives) -> list[tuple[int, ...]] | None:
    """The columns of ``y`` of each contrastive behaviour group, or ``None`` (one block on
    every column, or no behaviour objective)."""
    groups = [o.columns for o in objectives
              if o.positive == "behavior_positive" and o.columns is not None]
    return groups or None


def _describe(objectives: tuple[Objective, ...]) -> str:
    return ", ".join(f"{o.name} on dimensions {o.start}:{o.stop}" for o in objectives)


class _BlockReadout(torch.nn.Module):
    """``encoder``'s ``block`` of dimensions followed by a fitted sklearn linear ``readout``."""

    def __init__(self, encoder: torch.nn.Module, block: slice, readout: LinearRegression):
        super().__init__()
        self.encoder = encoder
        self.block = block
        self.receptive_field = getattr(encoder, "receptive_field", 1)
        parameter = next(encoder.parameters())
        self.register_buffer("weight", torch.tensor(
            readout.coef_.T, dtype=parameter.dtype, device=parameter.device))
        self.register_buffer("bias", torch.tensor(
            readout.intercept_, dtype=parameter.dtype, device=parameter.device))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs)[:, self.block] @ self.weight + self.bias


class xCEBRAAttributor(TransformerMixin, BaseEstimator):  # noqa: N801 (the method's name)
    """Identifiable time-series attribution with regularised contrastive learning (xCEBRA).

    ``fit`` trains an encoder ``f`` so that its embedding holds a *behaviour* block (trained
    contrastively on the auxiliary variable ``y``) and a *time* block (trained time-contrastively),
    with a scheduled Jacobian regulariser that drives ``f`` towards the minimum-norm inverse of the
    data-generating mixing. ``attribution_map_`` is then the inverted neuron gradient
    ``mean_t |pinv(J_f(x_t))^T|`` (latents x features; each sample's rows on a common scale,
    see ``row_norm``), whose zeros estimate which latent drives which feature.

    Parameters
    ----------
    n_behavior_latents : int or dict, default=3
        Size of the behaviour block, trained on ``y``; with ``behavior_groups``, of each
        group's block (an int for all, or a dict from group name to size). Without ``y`` at
        fit time these dimensions are time-contrastive too.
    behavior_groups : dict, default=None
        Several behaviour blocks, one per hypothesised variable: a dict from a group name to
        the columns of ``y`` it is trained on (names when ``y`` is a DataFrame, or integer
        positions), e.g. ``{"position": ["x", "y"], "head_direction": ["cos", "sin"],
        "speed": ["speed"]}``. Each group gets its own behaviour-contrastive objective (or,
        supervised, regression) on its own block, in this order, and its own regulariser
        slice; the time objective spans the whole embedding. ``None``: every column of
        ``y`` trains one block, ``"behavior"``.
    n_time_latents : int, default=3
        Size of the time block. The embedding is ``[behaviour block, time block]``, in this order.
    objective : {"contrastive", "supervised"}, default="contrastive"
        How the behaviour block learns ``y``: contrastively (xCEBRA), or by regressing the
        standardised ``y`` with the mean squared error (the paper's supervised control; needs
        ``n_behavior_latents`` equal to the number of columns of ``y``). The time objective
        and the regulariser are the same in both.
    encoder : {"mlp", "conv"}, default="mlp"
        ``"mlp"`` sees one time step; ``"conv"`` a window of 10 (the embedding of step ``t`` sees
        ``t-5 .. t+4``, the series extended at both ends by repeating its edge samples).
    hidden_units : int, default=None
        Width of the encoder; ``None`` means ``30 * n_latents`` as in the paper, but at most
        ``n_samples // 16`` (and at least ``5 * n_latents``): on short recordings (about
        1,000 samples) the paper's width overfits (user guide, Defaults).
    n_encoders : int or "auto", default="auto"
        Encoders trained side by side from different initialisations (on the same batches),
        each block of each aligned to the first's by least squares on the training data
        (blocks are identified up to an affine map); the embedding, and so every map, is
        their mean. On short recordings the map of one encoder varies with its
        initialisation, and the mean of several varies less. ``"auto"``: 4 on recordings
        shorter than ``480 * n_latents`` samples (where the default width is capped) with the
        ``"mlp"`` encoder, else 1; a warm start keeps the fitted number. The cost grows with
        it. With more than one, ``module_`` is an ensemble, its layers named
        ``members.<k>.<layer>``.
    similarity : {"euclidean", "cosine"}, default="euclidean"
        InfoNCE similarity: minus the squared distance, or the cosine, divided by ``temperature``.
    temperature : float, default=1.0
        InfoNCE temperature.
    time_offset : int or "auto", default="auto"
        The time-contrastive positive of sample ``t`` is sample ``t + time_offset``. It should
        match the time scale over which the latents move appreciably: positives nearly identical
        to their reference teach the time objective little, distant ones share too little.
        ``"auto"`` reads it off the training data: the lag at which the features' mean
        autocorrelation, corrected for white observation noise, has fallen to 0.8 of its value
        at lag 0 (at most ``n_samples // 20``); the fitted value is ``time_offset_``. The user
        guide shows how the rule was chosen.
    behavior_distribution : {"time_delta", "delta_normal", "discrete"}, default="time_delta"
        Behaviour positives. For a continuous ``y``: a sample whose ``y`` is nearest to
        ``y_t + (y_k - y_{k-time_delta})`` for a random ``k`` (``"time_delta"``), or to
        ``y_t + N(0, delta^2)`` (``"delta_normal"``); when several samples hold that nearest
        value, one of them drawn uniformly (cebra takes the first). For a discrete ``y``
        (trials, conditions, stimulus identity; each row of ``y`` is one value):
        ``"discrete"``, a sample drawn uniformly among those with the same value as ``y_t``.
        An integer ``y`` with a continuous distribution is warned about, not reinterpreted.
    time_delta : int, "auto" or "time_offset", default="auto"
        Samples over which the ``"time_delta"`` query's label change is taken. ``"auto"``
        reads it off the behaviour positives the labels give: the smallest lag of 1, 2, 4, ...
        at which at most a fifth of them lie within ``time_offset_`` samples of their
        reference (for several behaviour groups, the lag the slowest needs; at most
        ``n_samples // 20``), so that the behaviour positive is not the time positive over
        again. Smooth or densely sampled labels get a long lag, a long recording that revisits
        its labels' values gets 1. ``"time_offset"`` takes the time offset (``time_offset_``;
        what ``"auto"`` meant before skattr 0.9; 0.9's ``"auto"`` read the labels'
        autocorrelation). The fitted value is ``time_delta_``; the user guide shows how the
        rule was chosen. With the default ``behavior_gap`` no positive is a time neighbour,
        and ``"auto"`` gives 1.
    behavior_gap : int or "auto", default="auto"
        Continuous ``y``: the behaviour positive is the sample nearest the query among those
        more than ``behavior_gap`` samples from their reference in time (in the reference's
        trial; other trials are never excluded). Near in time, a sample shares the
        reference's time latents as well as its label, and on short recordings the nearest
        labels are mostly such neighbours: without the gap the behaviour block learns the
        time latents too. ``"auto"`` is 4 time offsets (``4 * time_offset_``), at most
        ``n_samples // 8``; 0 excludes nothing (skattr 0.10 and before). The fitted value is
        ``behavior_gap_``. Unused for ``behavior_distribution="discrete"``.
    delta : float, default=0.1
        Standard deviation of the ``"delta_normal"`` query.
    regularizer_weight : float or "auto", default="auto"
        Final weight ``lambda`` of the Jacobian regulariser; 0 switches it off. ``"auto"``:
        0.1 (the paper's), and 0.03 on recordings shorter than ``480 * n_latents`` training
        samples, where it scored higher on all but one of the short recordings measured (user
        guide, Defaults). The fitted value is ``regularizer_weight_``.
    regularizer_start : int or float, default=0.25
        Step where the regulariser's weight starts its linear ramp up from 0 (an int), or that
        fraction of ``max_iter`` (a float in [0, 1], rounded down to a step).
    regularizer_full : int or float, default=0.5
        Step (int) or fraction of ``max_iter`` (float) where the weight reaches
        ``regularizer_weight``, after a linear ramp.
    n_projections : int, default=1
        Random projections for the Jacobian norm estimate.
    max_iter : int, default=2000
        Training steps.
    batch_size : int or "auto", default="auto"
        References (and negatives) per step; clamped to the number of samples. ``"auto"``:
        a quarter of the training samples, at least 64 and at most 512 (so 512 from 2,048
        samples on): on short recordings a batch that holds a large share of the samples
        overfits them (user guide, Defaults).
    learning_rate : float, default=1e-3
        Adam's learning rate. The paper trains 20,000 steps at 3e-4; the larger default lets
        the default 2,000 steps suffice; 3e-4 leaves the encoder undertrained in 2,000 steps
        wherever there is more than about 1,000 samples (user guide, Defaults).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Where to train; ``"auto"`` takes a GPU when there is one.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, sampling and projections through local generators (torch's global
        state is left alone). With an int, CPU results are reproducible.
    optimizer : str or callable, default=None
        The optimiser: ``None`` is Adam; a string names a class of :mod:`torch.optim`
        (``"AdamW"``, ``"SGD"``, ...), with its multi-tensor update (``foreach=True``) unless
        ``optimizer_params`` says otherwise; a callable ``optimizer(parameters, lr=learning_rate,
        **optimizer_params)`` returns a :class:`torch.optim.Optimizer` (a class, or a
        ``functools.partial`` of one).
    optimizer_params : dict, default=None
        Keyword arguments of the optimiser besides the learning rate (e.g.
        ``{"weight_decay": 1e-4}``).
    validation_fraction : float, default=None
        Hold out this fraction of the samples at the *end* of the series (contiguous, never
        shuffled) and record the loss on them at every check: ``validation_loss_curve_``.
        :class:`~skattr.callbacks.EarlyStopping` stops on it. The map and ``behavior_r2_``
        are still computed on all of ``X``.
    row_norm : {"l2", "l1", "max"} or None, default="max"
        Each sample's map has every row (latent) divided by its norm over the features
        before the mean over samples, in ``attribution_map_``, :meth:`attribute` (for methods
        that average over samples; IGC's sums are left as they are) and :meth:`score`. A
        latent's scale is not identified by training, so raw rows of different latents are
        on arbitrary scales, and the raw pooled AUC measures those scales as much as the map's
        pattern (user guide, Maps on a common scale). ``"max"`` puts a row's largest entry at
        1 whatever the number of features its latent drives (``"l2"`` and ``"l1"`` shrink
        the entries of latents that drive many). ``None`` gives the raw maps.
    inverse_damping : float, default=1.0
        Tikhonov damping of the inverted gradient in ``attribution_map_``, :meth:`score` and
        :meth:`attribute` (``damping`` of
        :class:`~skattr.attribution.InvertedNeuronGradient`): eigenvalues of the correlation
        of the Jacobian's rows below about this value are not divided by. 0 gives the exact
        pseudo-inverse of the paper. On the 23 data families of ``benchmarks/robustness.py``
        (3 seeds) damping 1 with ``row_norm="max"`` raised the family mean of the inverted
        gradient's AUC from 0.900 (exact inverse, rows ``"l2"``) to 0.944 and its worst family
        from 0.714 to 0.769 (user guide, Defaults).
    inverse_window : int or "auto", default="auto"
        With ``inverse_damping > 0``, the inverse of each sample in ``attribution_map_``,
        :meth:`score` and :meth:`attribute` solves with the correlation of the Jacobian's rows
        averaged over this many consecutive samples (``window`` of
        :class:`~skattr.attribution.InvertedNeuronGradient`; the samples must be in time
        order). ``"auto"``: the fitted time offset ``time_offset_``, the lag over which the
        time objective takes the latents to stay close. The correlation is the encoder's local
        geometry; each sample's own estimate carries the encoder's local noise, which the
        inverse divides by. On the 27 data families of ``benchmarks/robustness.py`` it raised
        the family mean from 0.971 to 0.973, the worst family from 0.908 to 0.913 and the
        number of families where the inverse beats the plain gradient from 24 to 26 (user
        guide, Attribution maps). 1 inverts each sample with its own correlation (0.16).
    inverse_map_window : int or "auto", default="auto"
        With ``inverse_damping > 0``, the signed maps of the inverse averaged over this many
        consecutive samples before their absolute values are averaged (``map_window`` of
        :class:`~skattr.attribution.InvertedNeuronGradient`), against noise that is new in
        every sample, such as spike counts. ``"auto"``: from the white fraction of the
        Jacobian's rows over time, between 1 and the inverse's window; 1 where the Jacobian
        moves smoothly. On the 27 data families of ``benchmarks/robustness.py`` it changed the
        map only on the three of spike counts; it raised the weakly tuned one from 0.963 to
        0.973 and the number of families where the inverse beats the plain gradient from 26
        to 27 (user guide, Attribution maps). 1 keeps each sample's own map (0.17).
    unmix_blocks : bool, default=True
        Invert the Jacobian of the embedding with the time block's linear dependence on the
        behaviour block resolved (``block_unmixing_``), in ``attribution_map_``, :meth:`score`
        and :meth:`attribute`. With the time objective on the whole embedding the time block
        may hold a part of the behaviour latents as well, and the inverse then attributes the
        behaviour block to neurons that only the time latents drive. The part is chosen to
        make the behaviour rows of the inverse sparsest over the training samples (an L1
        regression of each behaviour row on the time rows), which does not assume that the
        time-only latents move independently of the behaviour (user guide, Attribution maps).
        Only the behaviour rows change (the exact inverse's time rows would not). On the 27
        data families of ``benchmarks/robustness.py`` (four with time latents coupled to the
        behaviour) it raised the family mean (seeds 0-2) from 0.966 to 0.971 and the worst
        family from 0.907 to 0.908; 0.15's regression of the increments reached 0.967 with a
        worst family of 0.891 (coupled latents). No effect without a behaviour block.
    callbacks : list of Callback, default=None
        :mod:`skattr.callbacks` objects whose hooks the training loop calls (early stopping,
        checkpoints, your own). ``fit`` uses deep copies, kept as ``callbacks_``; the objects
        passed in are not changed.
    verbose : bool, default=False
        Show a progress bar (:class:`~skattr.callbacks.ProgressBar`) with each objective's
        loss and the regulariser apart.
    warm_start : bool, default=False
        Let ``fit`` continue training the fitted encoder for ``max_iter`` more steps instead of
        starting anew. The regulariser's schedule continues from the steps already taken
        (``n_iter_``), with ``regularizer_start``/``regularizer_full`` given as steps counted
        from the first fit, or as fractions of *this* fit's ``max_iter``: to split one long fit
        into chunks with the same ramp, give them as int steps. The loss curves are extended
        and ``n_iter_`` counts all steps; Adam's moment estimates start afresh. The
        architecture, the behaviour/time split and whether ``y`` is given must not change.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained encoder, in eval mode on ``device_``; with ``n_encoders_ > 1`` an
        ensemble of them (their aligned mean).
    n_encoders_ : int
        The number of encoders trained (``n_encoders``, or the value ``"auto"`` chose).
    attribution_map_ : ndarray of shape (n_latents, n_features)
        Inverted neuron gradient on the training data, ``mean_t |pinv(J_f(x_t))^T|`` (the
        inverse damped by ``inverse_damping``, over ``inverse_window`` samples, of the
        embedding unmixed by ``block_unmixing_``, its signed maps averaged over
        ``inverse_map_window`` samples), each sample's rows divided by their ``row_norm``
        first (none with ``row_norm=None``).
    loss_curve_ : dict of str to ndarray of shape (n_steps,)
        Per step: each objective's loss (``"behavior"``, ``"time"``: InfoNCE, or the squared
        error summed over the labels for a supervised behaviour block), the regulariser (0
        while off) and the ``"total"`` loss.
    n_iter_ : int
        Training steps taken (over all warm-started fits).
    time_offset_ : int
        The time offset used (``time_offset``, or the value ``"auto"`` chose).
    time_delta_ : int
        The ``time_delta`` used by the behaviour positives.
    behavior_gap_ : int
        The ``behavior_gap`` used by the behaviour positives.
    regularizer_weight_ : float
        The regulariser's final weight (``regularizer_weight``, or what ``"auto"`` chose).
    block_unmixing_ : ndarray of shape (n_latents, n_latents)
        The linear map of the embedding whose Jacobian the inverted gradient inverts when
        ``unmix_blocks=True``: the identity but for the time rows' behaviour columns, the L1
        regression coefficients of each behaviour row of the inverse (damped by 1, the default,
        whatever ``inverse_damping`` is) on the time rows, over at most 4,000 training samples
        evenly spaced in time (identity without a behaviour block).
    behavior_r2_ : float
        Fitted with ``y`` only: the coefficient of determination of ``y`` by a linear read-out
        of the behaviour block, on the training data (for ``behavior_distribution="discrete"``,
        of ``y``'s one-hot encoding, averaged over its values). The inverted gradient identifies the
        map only if the embedding holds the latents: a low value (below about 0.5) means the
        behaviour block did not learn ``y`` and its map rows should not be trusted. With
        ``behavior_groups``, the mean over groups of each block's R² for its own columns.
    validation_loss_curve_ : ndarray of shape (n_checks, 2)
        With ``validation_fraction``: ``(step, loss)`` at each check of this fit, the loss
        being the mean of the objectives' losses on fixed batches of the held-out samples.
    callbacks_ : list of Callback
        The callbacks of the last fit, in their state after it (with ``verbose``, the
        progress bar first).
    objectives_ : tuple of Objective
        The objectives trained, each with the embedding dimensions ``start:stop`` it spans:
        ``behavior`` on the behaviour block (with ``behavior_groups``, one per group, named
        after it, with its ``columns`` of ``y``), ``time`` on the whole embedding.
    device_ : torch.device
        Device the encoder lives on.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of str
        Names of the features seen during ``fit``, when ``X`` had string column names.

    See Also
    --------
    skattr.attribution.attribute : attribution maps for any torch encoder.
    skattr.metrics.attribution_auc_scorer : grid search over the regulariser against a ground truth.

    Examples
    --------
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, truth = make_synthetic(n_samples=2000, random_state=0)
    >>> model = xCEBRAAttributor(max_iter=20, device="cpu", random_state=0).fit(X, y)
    >>> model.transform(X).shape
    (2000, 6)
    >>> model.attribution_map_.shape
    (6, 50)
    >>> list(model.get_feature_names_out()[[0, 3]])
    ['behavior0', 'time0']
    """

    # The estimator's page in the published API reference, linked from its HTML repr.
    _doc_link_module = "skattr"
    _doc_link_template = DOCS_URL + "generated/skattr.{estimator_name}.html"

    _parameter_constraints: dict = {
        "n_behavior_latents": [Interval(Integral, 0, None, closed="left"), dict],
        "behavior_groups": [dict, None],
        "n_time_latents": [Interval(Integral, 0, None, closed="left")],
        "objective": [StrOptions({"contrastive", "supervised"})],
        "encoder": [StrOptions(set(ENCODERS))],
        "hidden_units": [Interval(Integral, 1, None, closed="left"), None],
        "n_encoders": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "similarity": [StrOptions(set(SIMILARITIES))],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "time_offset": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "behavior_distribution": [StrOptions(set(BEHAVIOR_DISTRIBUTIONS))],
        "time_delta": [Interval(Integral, 1, None, closed="left"),
                       StrOptions({"auto", "time_offset"})],
        "behavior_gap": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "delta": [Interval(Real, 0, None, closed="neither")],
        "regularizer_weight": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "regularizer_start": [
            Interval(Integral, 0, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="both"),
        ],
        "regularizer_full": [
            Interval(Integral, 0, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="both"),
        ],
        "n_projections": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "device": [str],  # "auto", "cpu", "cuda" or "cuda:N": checked by resolve_device in fit
        "random_state": ["random_state"],
        "optimizer": [str, callable, None],
        "optimizer_params": [dict, None],
        "validation_fraction": [Interval(RealNotInt, 0, 1, closed="neither"), None],
        "row_norm": [StrOptions(set(attribution.ROW_NORMS)), None],
        "inverse_damping": [Interval(Real, 0, None, closed="left")],
        "inverse_window": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "inverse_map_window": [Interval(Integral, 1, None, closed="left"),
                               StrOptions({"auto"})],
        "unmix_blocks": ["boolean"],
        "callbacks": [list, None],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        n_behavior_latents: int | dict = 3,
        n_time_latents: int = 3,
        *,
        behavior_groups: dict | None = None,
        objective: str = "contrastive",
        encoder: str = "mlp",
        hidden_units: int | None = None,
        n_encoders: int | str = "auto",
        similarity: str = "euclidean",
        temperature: float = 1.0,
        time_offset: int | str = "auto",
        behavior_distribution: str = "time_delta",
        time_delta: int | str = "auto",
        behavior_gap: int | str = "auto",
        delta: float = 0.1,
        regularizer_weight: float | str = "auto",
        regularizer_start: int | float = 0.25,
        regularizer_full: int | float = 0.5,
        n_projections: int = 1,
        max_iter: int = 2000,
        batch_size: int | str = "auto",
        learning_rate: float = 1e-3,
        device: str = "auto",
        random_state=None,
        optimizer: str | Callable | None = None,
        optimizer_params: dict | None = None,
        validation_fraction: float | None = None,
        row_norm: str | None = "max",
        inverse_damping: float = 1.0,
        inverse_window: int | str = "auto",
        inverse_map_window: int | str = "auto",
        unmix_blocks: bool = True,
        callbacks: list | None = None,
        verbose: bool = False,
        warm_start: bool = False,
    ) -> None:
        self.n_behavior_latents = n_behavior_latents
        self.behavior_groups = behavior_groups
        self.n_time_latents = n_time_latents
        self.objective = objective
        self.encoder = encoder
        self.hidden_units = hidden_units
        self.n_encoders = n_encoders
        self.similarity = similarity
        self.temperature = temperature
        self.time_offset = time_offset
        self.behavior_distribution = behavior_distribution
        self.time_delta = time_delta
        self.behavior_gap = behavior_gap
        self.delta = delta
        self.regularizer_weight = regularizer_weight
        self.regularizer_start = regularizer_start
        self.regularizer_full = regularizer_full
        self.n_projections = n_projections
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.validation_fraction = validation_fraction
        self.row_norm = row_norm
        self.inverse_damping = inverse_damping
        self.inverse_window = inverse_window
        self.inverse_map_window = inverse_map_window
        self.unmix_blocks = unmix_blocks
        self.callbacks = callbacks
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ validation helpers

    def _validate_X(self, X, reset: bool, y=None):
        """Validate ``X`` (and ``y``); float32 stays float32, anything else becomes float64.

        Every error names the argument it is about. A fitted encoder embeds any number of
        samples (windows are extended at the edges); :meth:`fit` checks it has enough to train.
        """
        if hasattr(X, "columns") and 0 in X.shape:
            # An empty DataFrame has no dtypes to convert, and sklearn's message then does not
            # say it is empty; as an array it gets the usual "Found array with 0 ..." error.
            X = np.asarray(X)
        with _naming_argument("X", "a 2-D array (n_samples, n_features) of real numbers"):
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if y is None:
            return X, None
        with _naming_argument("y", "an array (n_samples,) or (n_samples, n_labels) of reals"):
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if len(y) != len(X):
            raise ValueError(
                f"y has {len(y)} rows but X has {len(X)} samples; y must hold the behaviour at "
                "each time step of X."
            )
        return X, (y[:, None] if y.ndim == 1 else y)

    def _check_n_samples(self, n_samples: int, time_offset: int) -> None:
        """Training needs two samples, a full window of the encoder, and a time-offset pair."""
        field = receptive_field(self.encoder)
        if n_samples < max(2, field):
            raise ValueError(
                f"X has {n_samples} sample(s) but fit needs at least {max(2, field)}: two, and "
                f"a full window of the encoder (receptive field {field} for "
                f"encoder={self.encoder!r})."
            )
        _check_lag(n_samples, "time_offset", time_offset)

    def _schedule_step(self, value: int | float) -> int:
        """A schedule point as a step: an int is one, a float a fraction of ``max_iter``."""
        return int(value * self.max_iter) if isinstance(value, float) else int(value)

    def _objectives(self, layout) -> tuple[Objective, ...]:
        """The objectives of a fit, in xCEBRA's layout (the paper's and cebra's).

        ``layout`` (from :func:`_behavior_layout`; ``None`` without ``y``) gives the behaviour
        blocks, side by side from dimension 0, each with its own objective on its columns of
        ``y``. The time-contrastive objective spans the whole embedding, the behaviour blocks
        included. A time objective on a block disjoint from the behaviour block leaves nothing
        that makes it hold the latents the behaviour block lacks, and the inverted gradient
        then loses identifiability (see the user guide). With ``y`` and ``n_time_latents=0``
        the model is the behaviour blocks alone.
        """
        n_latents = self._n_behavior_total() + self.n_time_latents
        time = Objective("time", 0, n_latents, "time_positive")
        if layout is None:
            return (time,)
        behavior, start = [], 0
        for name, columns, size in layout:
            if self.objective == "supervised":
                behavior.append(Objective(name, start, start + size, None, "mse", columns))
            else:
                behavior.append(Objective(name, start, start + size, "behavior_positive",
                                          columns=columns))
            start += size
        return (*behavior, time) if self.n_time_latents > 0 else tuple(behavior)

    def _n_behavior_total(self) -> int:
        """Dimensions of all behaviour blocks together."""
        if isinstance(self.n_behavior_latents, dict):
            return int(sum(self.n_behavior_latents.values()))
        return int(self.n_behavior_latents)

    def _module_and_inputs(
        self, X: np.ndarray, dtype: torch.dtype | None = None, bounds: np.ndarray | None = None
    ) -> tuple[torch.nn.Module, torch.Tensor]:
        """The encoder and its inputs for ``X``, both in ``dtype`` (default: ``X``'s precision);
        windows stay within the trials of ``bounds``.

        Training runs in float32; float64 data are embedded by a float64 copy of the encoder, so
        that embeddings do not depend on how samples are batched or ordered.
        """
        if dtype is None:
            dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        module = self.module_ if dtype == torch.float32 else copy.deepcopy(self.module_).to(dtype)
        # torch.tensor copies, which also accepts read-only (memory-mapped) arrays.
        data = torch.tensor(X, dtype=dtype, device=self.device_)
        return module, time_windows(data, module.receptive_field, bounds)

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, trials=None):
        """Train the encoder on ``X`` (and the behaviour ``y``) and compute the attribution map.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Neural data, rows in time order.
        y : array-like of shape (n_samples,) or (n_samples, n_labels), default=None
            Continuous behaviour. Without it only the time-contrastive objective is trained, on
            the whole embedding.
        trials : array-like of shape (n_samples,), default=None
            For data recorded as trials or sessions: each sample's trial id (a trial is a run
            of consecutive rows with the same id). No time positive, ``time_delta`` label
            change or ``"conv"`` window crosses from one trial into another. Routed as
            metadata (``set_fit_request(trials=True)``), so that ``GroupKFold`` splits by the
            same ids in ``GridSearchCV``.

        Returns
        -------
        self : xCEBRAAttributor
        """
        warm = self.warm_start and hasattr(self, "module_")
        try:
            return self._fit(X, y, trials, warm)
        except TrainingDivergedError as error:
            if warm:
                error.add_note("The estimator keeps the weights it had before this fit.")
            else:
                # Nothing half-trained may pass for a fitted model.
                self._forget_fit()
            raise

    def fit_transform(self, X, y=None, trials=None):
        """:meth:`fit`, then :meth:`transform` of ``X`` with the same ``trials``."""
        return self.fit(X, y, trials=trials).transform(X, trials=trials)

    def _behavior_gap(self, time_offset: int, n_train: int, continuous_y: bool) -> int:
        """The behaviour gap of this fit (0 where no continuous label is contrasted)."""
        if not continuous_y:
            return 0
        if self.behavior_gap == "auto":
            return auto_behavior_gap(time_offset, n_train)
        if 2 * self.behavior_gap + 1 >= n_train:
            raise ValueError(
                f"behavior_gap={self.behavior_gap} excludes every sample of {n_train} from the "
                f"behaviour positives of a reference in the middle; expected at most "
                f"{(n_train - 2) // 2}, or 'auto'."
            )
        return self.behavior_gap

    def _batch_size(self, n_samples: int) -> int:
        """``batch_size``, or for ``"auto"`` a quarter of the training samples within
        ``[AUTO_BATCH_MIN, AUTO_BATCH_MAX]``."""
        if self.batch_size != "auto":
            return self.batch_size
        return min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, n_samples // 4))

    def _hidden_units(self, n_latents: int, n_samples: int, warm: bool) -> int:
        """The encoder's width: ``hidden_units``, or the paper's ``30 * n_latents`` capped for
        short recordings (a warm start keeps the fitted width)."""
        if self.hidden_units is not None:
            return self.hidden_units
        if warm:
            return self._encoder_spec["hidden_units"]
        return min(PAPER_UNITS_PER_LATENT * n_latents,
                   max(n_samples // SAMPLES_PER_UNIT, 5 * n_latents))

    def _n_encoders(self, n_latents: int, n_samples: int, warm: bool) -> int:
        """``n_encoders``, or for ``"auto"`` several on short recordings (a warm start keeps
        the fitted number)."""
        if self.n_encoders != "auto":
            return self.n_encoders
        if warm:
            return self._encoder_spec["n_encoders"]
        # Measured with the MLP only: a "conv" fit, several times dearer, keeps one encoder.
        short = _short_recording(n_latents, n_samples)
        return AUTO_ENCODERS if short and self.encoder == "mlp" else 1

    def _regularizer_weight(self, n_latents: int, n_samples: int, warm: bool) -> float:
        """``regularizer_weight``, or for ``"auto"`` a weaker one on short recordings (a warm
        start keeps the fitted weight)."""
        if self.regularizer_weight != "auto":
            return self.regularizer_weight
        if warm:
            return self.regularizer_weight_
        return (AUTO_SHORT_REGULARIZER_WEIGHT if _short_recording(n_latents, n_samples)
                else AUTO_REGULARIZER_WEIGHT)

    @property
    def n_encoders_(self) -> int:
        """The number of encoders trained (``n_encoders``, or what ``"auto"`` chose)."""
        if "_encoder_spec" not in vars(self):
            raise AttributeError("n_encoders_ is set by fit.")
        return self._encoder_spec["n_encoders"]

    def _time_delta(self, labels: np.ndarray | None, time_offset: int, bounds: np.ndarray,
                    objectives: tuple[Objective, ...], gap: int) -> int:
        """The ``time_delta`` of this fit, for the sampler's training ``labels`` (``None``: no
        behaviour positive): for ``"auto"`` the lag read off the positives they give."""
        if self.time_delta == "time_offset":
            return time_offset
        if self.time_delta != "auto":
            return self.time_delta
        if labels is None or self.behavior_distribution != "time_delta":
            return 1  # no label-change query to take it
        return auto_time_delta(labels, time_offset, bounds, _label_groups(objectives), gap)

    def _fit(self, X, y, trials, warm: bool):
        integer_y = y is not None and np.asarray(y).dtype.kind in "iub"
        y_names = ([str(name) for name in y.columns]
                   if y is not None and hasattr(y, "columns") else None)
        X, y = self._validate_X(X, reset=not warm, y=y)
        bounds = _trial_bounds(trials, len(X))
        n_train = len(X) - self._n_validation(len(X))
        time_offset = (auto_time_offset(X[:n_train]) if self.time_offset == "auto"
                       else self.time_offset)
        self._check_n_samples(n_train, time_offset)
        if isinstance(self.time_delta, Integral):
            _check_lag(n_train, "time_delta", self.time_delta)
        n_latents = self._n_behavior_total() + self.n_time_latents
        if n_latents == 0:
            raise ValueError("n_behavior_latents + n_time_latents must be at least 1; got 0.")
        if y is not None and self._n_behavior_total() == 0:
            raise ValueError("y was given but n_behavior_latents=0: the behaviour block is empty.")
        if y is None and self.behavior_groups is not None:
            raise ValueError("behavior_groups name columns of y, but fit got no y.")
        layout = (None if y is None else
                  _behavior_layout(self.behavior_groups, self.n_behavior_latents, y.shape[1],
                                   y_names))
        # Discrete labels are indexed once, for the checks, the sampler and behavior_r2_.
        discrete = None
        if y is not None and self.behavior_distribution == "discrete":
            discrete = {columns: LabelIndex(y if columns is None else y[:, list(columns)],
                                            nearest=False) for _, columns, _ in layout}
        label_scaling = None
        if y is not None and self.objective == "supervised":
            for _, columns, size in layout:
                _label_scaling(y if columns is None else y[:, list(columns)], size)
            scale = y.std(0)
            label_scaling = y.mean(0), np.where(scale > 0, scale, 1.0)
        elif y is not None:
            _check_labels_vary(y)
            if discrete is not None:
                for index in discrete.values():
                    _check_discrete_labels(index)
            elif integer_y:
                _warn_integer_labels(self.behavior_distribution)
        spec = {"encoder": self.encoder, "n_features": X.shape[1], "n_latents": n_latents,
                "hidden_units": self._hidden_units(n_latents, n_train, warm),
                "n_encoders": self._n_encoders(n_latents, n_train, warm)}
        first_step = self.n_iter_ if warm else 0
        objectives = self._objectives(layout)
        if warm:
            self._check_warm_start(spec, objectives)
        start = self._schedule_step(self.regularizer_start)
        full = self._schedule_step(self.regularizer_full)
        if full < start:
            raise ValueError(
                f"regularizer_full (step {full}) must not come before regularizer_start "
                f"(step {start})."
            )
        weight = self._regularizer_weight(n_latents, n_train, warm)
        # The weight never decreases, so the last step tells whether it is ever on.
        last_step = first_step + self.max_iter - 1
        if weight > 0 and regularizer_weight(last_step, weight, start, full) == 0:
            warnings.warn(
                f"regularizer_start (step {start}) leaves no step of max_iter={self.max_iter} "
                "with the regulariser on; set regularizer_weight=0 to train without it, or move "
                "regularizer_start earlier.",
                UserWarning,
                stacklevel=3,
            )
        device = resolve_device(self.device)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        # A warm start draws batches and projections that differ from the first fit's.
        seed = (seed + first_step) % np.iinfo(np.int32).max
        projection_generator = torch.Generator(device=device).manual_seed(seed + 1)
        train_bounds = _cut_bounds(bounds, 0, n_train)
        train_labels = None
        if y is not None and self.objective == "contrastive":
            train_labels = y[:n_train]
        gap = self._behavior_gap(time_offset, n_train, train_labels is not None
                                 and self.behavior_distribution != "discrete")
        time_delta = self._time_delta(train_labels, time_offset, train_bounds, objectives, gap)
        sampler = ContrastiveSampler(
            n_train, time_offset, train_labels,
            self.behavior_distribution, self.delta, np.random.default_rng(seed),
            time_delta=time_delta, bounds=train_bounds, groups=_label_groups(objectives),
            gap=gap,
            indices=discrete if n_train == len(X) else None,
            # With an accelerator the host's cores are free for the prefetching thread.
            workers=1 if device.type == "cpu" else -1,
        )
        if warm:
            # Train a copy: if training diverges, the fitted encoder is left as it was.
            module = copy.deepcopy(self.module_).to(device)
        else:
            members = [build_encoder(
                spec["encoder"], spec["n_features"], n_latents, spec["hidden_units"],
                torch.Generator().manual_seed((seed + _MEMBER_SEED_STRIDE * k)
                                              % np.iinfo(np.int32).max),
            ) for k in range(spec["n_encoders"])]
            module = (members[0] if len(members) == 1
                      else EncoderEnsemble(members, n_latents)).to(device)
        # An ensemble trains its members side by side, each on its own copy of the objectives.
        trained, trained_objectives = module, list(objectives)
        if isinstance(module, EncoderEnsemble):
            trained = module.stacked()
            trained_objectives = [
                dataclasses.replace(objective, start=objective.start + k * n_latents,
                                    stop=objective.stop + k * n_latents)
                for k in range(len(module.members)) for objective in objectives]
        config = TrainingConfig(
            max_iter=self.max_iter,
            batch_size=min(self._batch_size(n_train), n_train - time_offset),
            learning_rate=self.learning_rate,
            similarity=self.similarity,
            temperature=self.temperature,
            regularizer_weight=weight,
            regularizer_start=start,
            regularizer_full=full,
            n_projections=self.n_projections,
            first_step=first_step,
            prefetch=device.type != "cpu",
            n_members=spec["n_encoders"],
        )
        data = torch.tensor(X, dtype=torch.float32, device=device)
        # The held-out tail is cut off like a trial: no training window reaches into it.
        window_bounds = bounds
        if n_train < len(X):
            window_bounds = np.union1d([0, len(X)] if bounds is None else bounds, [n_train])
        windows = time_windows(data, module.receptive_field, window_bounds)
        targets = _standardised_labels(y, label_scaling, device)
        fitted = _FitInputs(
            X=X, y=y, bounds=bounds, discrete=discrete, spec=spec, device=device,
            objectives=objectives, time_offset=time_offset, time_delta=time_delta,
            behavior_gap=gap,
            regularizer_weight=weight,
            label_scaling=label_scaling,
            previous_curve=self.loss_curve_ if warm else None,
        )
        callbacks = self._training_callbacks()
        result = train(
            trained, windows[:n_train], sampler, trained_objectives, config,
            projection_generator, None if targets is None else targets[:n_train],
            optimizer=self._build_optimizer(trained),
            callbacks=callbacks,
            validate=self._validation_loss(trained, trained_objectives, windows, y, targets,
                                           n_train, fitted),
            snapshot=lambda context: self._snapshot(fitted, context),
        )
        self._set_fitted(fitted, module, result.loss_curve, first_step + result.n_iter,
                         callbacks=callbacks, validation_curve=result.validation_curve)
        return self

    def _n_validation(self, n_samples: int) -> int:
        """Samples held out at the end of the series (``validation_fraction``)."""
        if self.validation_fraction is None:
            return 0
        n_validation = int(round(self.validation_fraction * n_samples))
        if n_validation < 2 or n_samples - n_validation < 2:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {n_samples} samples "
                f"holds out {n_validation}: both parts need at least 2 samples (and more than "
                "time_offset); use a larger fraction or more data."
            )
        return n_validation

    def _validation_loss(self, module, objectives, windows, y, targets, n_train: int,
                         fitted: _FitInputs):
        """``validate()``: the mean loss of the trained ``objectives`` on fixed batches of the
        held-out tail, or ``None`` without ``validation_fraction``."""
        n_validation = len(windows) - n_train
        if n_validation == 0:
            return None
        _check_lag(n_validation, "time_offset (on the validation_fraction held out)",
                   fitted.time_offset)
        labels = y[n_train:] if y is not None and self.objective == "contrastive" else None
        # Built now, so that a held-out part too short for the lags fails before training.
        sampler = ContrastiveSampler(
            n_validation, fitted.time_offset, labels, self.behavior_distribution, self.delta,
            np.random.default_rng(0), time_delta=min(fitted.time_delta, n_validation - 1),
            bounds=_cut_bounds(fitted.bounds, n_train, len(windows)),
            groups=_label_groups(fitted.objectives), gap=fitted.behavior_gap,
        )
        inputs = windows[n_train:]
        batch_size = min(_SCORE_BATCH_SIZE, n_validation - fitted.time_offset)

        def validate() -> float:
            sampler.rng = np.random.default_rng(0)  # the same batches at every check
            return float(np.mean(mean_objective_losses(
                module, inputs, sampler, objectives, self.similarity,
                self.temperature, batch_size, _SCORE_BATCHES,
                None if targets is None else targets[n_train:],
            )))

        return validate

    def _training_callbacks(self) -> list:
        """Deep copies of ``callbacks``, with a progress bar first when ``verbose``."""
        callbacks = copy.deepcopy(list(self.callbacks or []))
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    "callbacks must be a list of skattr.callbacks.Callback instances; got "
                    f"{type(callback).__name__}."
                )
        if self.verbose and not any(isinstance(c, ProgressBar) for c in callbacks):
            callbacks.insert(0, ProgressBar())
        return callbacks

    def _build_optimizer(self, module: torch.nn.Module) -> torch.optim.Optimizer:
        """``optimizer`` (a :mod:`torch.optim` class name or a factory) on ``module``."""
        factory = self.optimizer
        if factory is None:
            factory = torch.optim.Adam
        elif isinstance(factory, str):
            factory = getattr(torch.optim, factory, None)
            if not (isinstance(factory, type) and issubclass(factory, torch.optim.Optimizer)):
                names = sorted(name for name, value in vars(torch.optim).items()
                               if isinstance(value, type)
                               and issubclass(value, torch.optim.Optimizer)
                               and value is not torch.optim.Optimizer)
                raise ValueError(
                    f"optimizer={self.optimizer!r} is not an optimiser of torch.optim; "
                    f"expected one of {names}, or a callable."
                )
        params = dict(self.optimizer_params or {})
        if factory is not self.optimizer and "foreach" in inspect.signature(factory).parameters:
            # A torch.optim class chosen by name: its multi-tensor update, which torch picks by
            # itself only on accelerators; the same update in far fewer kernels per step.
            params.setdefault("foreach", True)
        optimizer = factory(module.parameters(), lr=self.learning_rate, **params)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                "optimizer must return a torch.optim.Optimizer when called as optimizer("
                f"parameters, lr=..., **optimizer_params); got {type(optimizer).__name__}."
            )
        return optimizer

    def _set_fitted(self, fitted: _FitInputs, module: torch.nn.Module,
                    loss_curve: dict[str, np.ndarray], n_iter: int, callbacks=None,
                    validation_curve: np.ndarray | None = None) -> None:
        """Set every fitted attribute (the one place that does), from the fit's inputs and
        the trained ``module`` (in eval mode); those of an earlier fit that this one lacks
        are removed."""
        for name, value in (("callbacks_", callbacks),
                            ("validation_loss_curve_", validation_curve)):
            if value is None:
                self.__dict__.pop(name, None)
            else:
                setattr(self, name, value)
        if fitted.previous_curve is not None:
            loss_curve = {name: np.concatenate([fitted.previous_curve[name], curve])
                          for name, curve in loss_curve.items()}
        if isinstance(module, EncoderEnsemble):
            # Each block of each member onto member 0's, on the data the fit saw.
            data = torch.tensor(fitted.X, dtype=torch.float32, device=fitted.device)
            inputs = time_windows(data, module.receptive_field, fitted.bounds)
            module.align(inputs, list(latent_blocks(fitted.objectives,
                                                    fitted.spec["n_latents"]).values()))
            module.eval()
        self.module_ = module
        self.device_ = fitted.device
        self._encoder_spec = fitted.spec
        self.loss_curve_ = loss_curve
        self.n_iter_ = n_iter
        self.objectives_ = fitted.objectives
        self.time_offset_ = fitted.time_offset
        self.time_delta_ = fitted.time_delta
        self.behavior_gap_ = fitted.behavior_gap
        self.regularizer_weight_ = fitted.regularizer_weight
        self.__dict__.pop("label_mean_", None)
        self.__dict__.pop("label_scale_", None)
        if fitted.label_scaling is not None:
            self.label_mean_, self.label_scale_ = fitted.label_scaling
        self.embedding_names_ = _embedding_names(fitted.objectives, fitted.spec["n_latents"])
        self.__dict__.pop("behavior_r2_", None)
        self.block_unmixing_ = self._block_unmixing(fitted)
        if fitted.y is not None:
            embedding = self._embed(fitted.X, fitted.bounds)
            self.behavior_r2_ = float(np.mean([
                _behavior_r2(embedding[:, o.output_slice],
                             fitted.y if o.columns is None else fitted.y[:, list(o.columns)],
                             None if fitted.discrete is None else fitted.discrete[o.columns])
                for o in fitted.objectives if o.name != "time"
            ]))
        self.attribution_map_ = self._attribute(fitted.X, "inverted-gradient",
                                                bounds=fitted.bounds)

    def _block_unmixing(self, fitted: _FitInputs) -> np.ndarray:
        """``block_unmixing_``: :func:`~skattr._unmixing.block_unmixing` of the inverse of the
        encoder's own Jacobian (damped by ``UNMIXING_DAMPING``) on the training samples of
        :func:`~skattr._unmixing.unmixing_rows`."""
        blocks = latent_blocks(fitted.objectives, fitted.spec["n_latents"])
        behavior = [i for name, dims in blocks.items() if name != "time" for i in dims]
        if not behavior or not blocks.get("time"):
            return np.eye(fitted.spec["n_latents"])
        module, inputs = self._module_and_inputs(fitted.X, torch.float32, fitted.bounds)
        maps = attribution.attribute(module, inputs[unmixing_rows(len(inputs))],
                                     "inverted-gradient", damping=UNMIXING_DAMPING,
                                     return_per_sample=True)
        return block_unmixing(maps, behavior, blocks["time"])

    def _snapshot(self, fitted: _FitInputs, context) -> xCEBRAAttributor:
        """A fitted copy of this estimator at the current step of training (checkpoints)."""
        snapshot = clone(self)
        for name in ("n_features_in_", "feature_names_in_"):  # set by validate_data in fit
            if hasattr(self, name):
                setattr(snapshot, name, getattr(self, name))
        module = copy.deepcopy(context.module).eval()
        if isinstance(module, StackedMembers):
            module = EncoderEnsemble(module.members, fitted.spec["n_latents"])
        snapshot._set_fitted(fitted, module, context.loss_curve(),
                             context.first_step + context.step)
        return snapshot

    def _check_warm_start(self, spec: dict, objectives: tuple[Objective, ...]) -> None:
        """A warm start continues the same encoder on the same objectives."""
        changed = {name: (self._encoder_spec[name], value) for name, value in spec.items()
                   if self._encoder_spec[name] != value}
        if changed:
            details = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in
                                changed.items())
            raise ValueError(
                f"warm_start=True continues the fitted encoder, but its architecture changed "
                f"({details}); set warm_start=False to train a new one."
            )
        if objectives != self.objectives_:
            raise ValueError(
                "warm_start=True continues the fitted objectives, but they changed "
                f"({_describe(self.objectives_)} -> {_describe(objectives)}): give y if and "
                "only if the first fit had it and keep n_behavior_latents, or set "
                "warm_start=False to train a new encoder."
            )

    def _forget_fit(self) -> None:
        """Drop every fitted attribute, so that the estimator is unfitted again."""
        for name in [name for name in vars(self) if name.endswith("_") and
                     not name.startswith("__")] + ["_encoder_spec"]:
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------------ use

    def transform(self, X, trials=None):
        """Embed ``X``: ``(n_samples, n_latents)``, behaviour block then time block.

        Computed in batches without gradients; returned in ``X``'s floating dtype. With
        ``trials`` (as in :meth:`fit`), no ``"conv"`` window crosses a trial boundary.
        """
        check_is_fitted(self)
        X, _ = self._validate_X(X, reset=False)
        return self._embed(X, _trial_bounds(trials, len(X)))

    def _embed(self, X: np.ndarray, bounds: np.ndarray | None = None) -> np.ndarray:
        """:meth:`transform` on validated ``X``."""
        module, inputs = self._module_and_inputs(X, bounds=bounds)
        return _embed_inputs(module, inputs).cpu().numpy().astype(X.dtype, copy=False)

    def attribute(
        self, X, method: str = "inverted-gradient", *, batch_size: int = 1024, trials=None,
        **params
    ) -> np.ndarray:
        """Attribution map ``(n_latents, n_features)`` of the trained encoder on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        method : str, default="inverted-gradient"
            A name in :data:`skattr.attribution.METHODS`: ``"inverted-gradient"``,
            ``"gradient"``, ``"input-x-gradient"``, ``"integrated-gradients"``,
            ``"feature-ablation"``, ``"gradient-shap"``, ``"igc"`` or ``"conductance"``.
        batch_size : int, default=1024
            Samples per pass; bounds memory.
        trials : array-like of shape (n_samples,), default=None
            Trial ids, as in :meth:`fit`: no ``"conv"`` window crosses a trial boundary.
        **params
            Passed to :func:`skattr.attribution.attribute`: its own (``reduction``,
            ``lag_reduction``, ``return_per_sample``, ``verbose``; ``target`` for IGC: one
            column per latent, or the behaviour, e.g. ``target=y``, for which the map has one
            row per column of ``y``, the attribution of its linear read-out from the behaviour
            block; and
            ``layer`` / ``attribute_to_layer_input`` to attribute every unit of a hidden layer
            of ``module_``, named as in ``module_.named_modules()``) and the method's (e.g.
            ``rcond``, ``solver``, ``n_steps``, ``rule``, ``baselines``; the inverted
            gradient's ``damping`` defaults to ``inverse_damping``, its ``output_map`` to
            ``block_unmixing_`` if ``unmix_blocks`` (``output_map=None`` inverts the encoder's
            own Jacobian), its ``window`` and ``map_window`` to ``inverse_window`` and
            ``inverse_map_window`` if damped, ``row_norm`` to
            the estimator's).

        Returns
        -------
        ndarray of shape (n_latents, n_features), float64
            ``(n_units, n_features)`` with ``layer``; ``(n_labels, n_features)`` for IGC of a
            behaviour target.
        """
        check_is_fitted(self)
        X, _ = self._validate_X(X, reset=False)
        return self._attribute(X, method, bounds=_trial_bounds(trials, len(X)),
                               batch_size=batch_size, **params)

    def internal_influence(
        self, X, layer: str | torch.nn.Module, how: str = "gradient", *, trials=None, **params
    ) -> np.ndarray:
        """Influence of the latents on every unit of a hidden layer, ``(n_qoi, n_units)``.

        Which hidden units carry each latent: :func:`skattr.attribution.internal_influence` on
        the trained encoder, in its training precision.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        layer : str or torch.nn.Module
            A layer of ``module_``, e.g. ``"0"`` (the MLP's first linear layer; names as in
            ``module_.named_modules()``).
        how : {"gradient", "gradient-x-activation", "integrated-gradients"}, default="gradient"
        trials : array-like of shape (n_samples,), default=None
            Trial ids, as in :meth:`fit`.
        **params
            Passed on: ``qoi``, ``baselines``, ``n_steps``, ``rule``, ``reduction``,
            ``lag_reduction``, ``batch_size``, ``return_per_sample``.

        Returns
        -------
        ndarray of shape (n_qoi, n_units), float64
            Rows in the order of ``get_feature_names_out()`` when ``qoi`` is ``None``.
        """
        check_is_fitted(self)
        X, _ = self._validate_X(X, reset=False)
        module, inputs = self._module_and_inputs(X, torch.float32, _trial_bounds(trials, len(X)))
        params.setdefault("verbose", self.verbose)
        return attribution.internal_influence(module, inputs, layer, how, **params)

    def _attribute(self, X: np.ndarray, method: str, bounds: np.ndarray | None = None,
                   **params) -> np.ndarray:
        """:meth:`attribute` on validated ``X``.

        Jacobians come from the encoder in its training precision (float32: a float64 copy made
        the map 5x slower at T = 100,000 on a CPU); methods that invert them do so in float64.
        """
        module, inputs = self._module_and_inputs(X, torch.float32, bounds)
        params.setdefault("verbose", self.verbose)
        implementation = attribution.METHODS.get(method, method)
        reduction = params.get("reduction") or getattr(implementation, "default_reduction", None)
        if reduction in ("mean_abs", "mean"):  # a mean over samples, not IGC's sums
            params.setdefault("row_norm", self.row_norm)
        if implementation is attribution.InvertedNeuronGradient:
            params.setdefault("damping", self.inverse_damping)
            if params.get("layer") is None:
                params.setdefault("output_map", self._output_map())
                if params["damping"] > 0:
                    params.setdefault("window", self._inverse_window())
                    params.setdefault("map_window", self.inverse_map_window)
        target = params.get("target")
        if method == "igc" and target is not None:
            module, params["target"] = self._igc_readout(module, inputs, target)
        return attribution.attribute(module, inputs, method, **params)

    def _inverse_window(self) -> int:
        """The inverse's window: ``inverse_window``, or the fitted time offset for ``"auto"``."""
        return self.time_offset_ if self.inverse_window == "auto" else self.inverse_window

    def _output_map(self) -> np.ndarray | None:
        """The linear map of the embedding whose Jacobian the inverted gradient inverts
        (``None``: the encoder's own)."""
        return self.block_unmixing_ if self.unmix_blocks else None

    def _igc_readout(self, module, inputs, target):
        """IGC of a behaviour target: the encoder followed by the behaviour block's linear
        read-out of ``target`` (least squares on these data), and the target as an array.

        A target with one column per latent is the embedding's own (IGC as defined). Any other
        number of columns is taken as behaviour: IGC's model is then the regression of the
        target from the behaviour block, so each row of the map (one per target column) sums
        to the correlation between that column and its read-out.
        """
        target = np.asarray(target.cpu() if torch.is_tensor(target) else target, dtype=float)
        target = target[:, None] if target.ndim == 1 else target
        n_latents = len(self.embedding_names_)
        if target.ndim != 2 or target.shape[1] == n_latents:
            return module, target
        behavior = [o for o in self.objectives_ if o.name != "time"]
        if not behavior:
            raise ValueError(
                f"target has {target.shape[1]} column(s): IGC needs one per latent "
                f"({n_latents}), or a behaviour target for the behaviour block, which this "
                "model (fitted without y) does not have."
            )
        if len(target) != len(inputs):
            raise ValueError(
                f"target has {len(target)} rows but X has {len(inputs)} samples."
            )
        blocks = slice(0, max(o.stop for o in behavior))  # the behaviour blocks, side by side
        block = _embed_inputs(module, inputs)[:, blocks].double().cpu().numpy()
        readout = LinearRegression().fit(block, target)
        return _BlockReadout(module, blocks, readout), target

    def score(self, X, y=None, sample_weight=None, ground_truth=None, trials=None) -> float:
        """Attribution AUC against ``ground_truth``, or a label-free goodness of fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels), default=None
            Behaviour; used by the label-free score only.
        sample_weight : None
            Accepted for :class:`~sklearn.pipeline.Pipeline` and metadata routing; ignored.
        ground_truth : array-like of bool, shape (n_latents, n_features), default=None
            With it: the ROC AUC of the inverted-gradient map on ``X`` (rows as ``row_norm``).
        trials : array-like of shape (n_samples,), default=None
            Trial ids, as in :meth:`fit`: positives and windows stay within trials.

        Returns
        -------
        float
            With ``ground_truth``, the AUC in [0, 1]. Without it, a label-free goodness of fit:
            ``log(B + 1) - InfoNCE`` on ``X``, averaged over the objectives and over fixed
            seeded batches of ``B = min(512, n_samples - time_offset)`` references, i.e. how
            many nats the embedding beats chance by (0 at chance, higher is better). ``B`` does
            not depend on the ``batch_size`` parameter, so that scores compare across settings.
            The behaviour objective counts only if the model was fitted with ``y`` and ``y`` is
            given; the time objective is always scored, on the dimensions it trained (the
            whole embedding). A supervised behaviour block (``objective="supervised"``)
            contributes its coefficient of determination for the standardised ``y`` instead,
            ``1 - MSE / n_labels`` (1 when exact).
        """
        check_is_fitted(self)
        if ground_truth is not None:
            return attribution_auc(ground_truth, self.attribute(X, trials=trials))
        _refuse_dropped_ground_truth(sys._getframe(1))
        X, y = self._validate_X(X, reset=False, y=y)
        _check_lag(X.shape[0], "time_offset", self.time_offset_)
        trained_on_y = any(o.positive == "behavior_positive" for o in self.objectives_)
        if trained_on_y and y is not None:
            _check_lag(X.shape[0], "time_delta", self.time_delta_)
        objectives = [
            objective for objective in self.objectives_
            if objective.positive == "time_positive" or y is not None
        ]
        if y is not None and hasattr(self, "label_mean_") and y.shape[1] != len(self.label_mean_):
            raise ValueError(
                f"y has {y.shape[1]} column(s) but the model regressed {len(self.label_mean_)}."
            )
        if not objectives:
            raise ValueError(
                "score without ground_truth needs y for this model: it was fitted with y and "
                "n_time_latents=0, so it has no time block to score without y."
            )
        bounds = _trial_bounds(trials, len(X))
        sampler = ContrastiveSampler(
            X.shape[0], self.time_offset_, y if trained_on_y else None,
            self.behavior_distribution, self.delta, np.random.default_rng(0),
            time_delta=self.time_delta_, bounds=bounds, groups=_label_groups(self.objectives_),
            gap=self.behavior_gap_,
        )
        module, inputs = self._module_and_inputs(X, bounds=bounds)
        batch_size = min(_SCORE_BATCH_SIZE, X.shape[0] - self.time_offset_)
        label_scaling = ((self.label_mean_, self.label_scale_) if hasattr(self, "label_mean_")
                         else None)
        losses = mean_objective_losses(
            module, inputs, sampler, objectives, self.similarity, self.temperature, batch_size,
            n_batches=_SCORE_BATCHES, targets=_standardised_labels(y, label_scaling, self.device_),
        )
        return float(np.mean([
            1.0 - loss / (objective.stop - objective.start) if objective.loss == "mse"
            else np.log(batch_size + 1) - loss
            for objective, loss in zip(objectives, losses, strict=True)
        ]))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the embedding dimensions: ``behavior0..``, then ``time0..``.

        Without ``y`` at fit time every dimension is time-contrastive and named ``time0..``.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        return self.embedding_names_.copy()

    # ------------------------------------------------------------------ persistence

    def __getstate__(self) -> dict:
        """Pickle state: the encoder's weights as CPU numpy arrays, the device as a string and
        the skattr version, so that a model fitted on a GPU loads anywhere (and with skops)."""
        state = dict(super().__getstate__())
        # The callbacks' state after a fit is a record of training, not part of the model.
        state.pop("callbacks_", None)
        if "module_" in state:
            state["module_"] = _persistence.encoder_weights(state["module_"])
            state["device_"] = str(state["device_"])
            state["objectives_"] = _persistence.objectives_to_json(state["objectives_"])
        state["_skattr_version"] = __version__
        return state

    def __setstate__(self, state: dict) -> None:
        """Rebuild the encoder on the saved device, or on the CPU with a warning if this machine
        lacks it; warn if another skattr version saved the state."""
        state = dict(state)
        saved = state.pop("_skattr_version", None)
        _persistence.check_version(saved)
        state.update(_persistence.upgrade_params(
            {name: state[name] for name in self._get_param_names() if name in state}, saved))
        if isinstance(state.get("module_"), torch.nn.Module):
            # Pickled by skattr before weights were stored as arrays: the module came back
            # whole; only the encoder's description, which warm_start and save need, is missing.
            n_latents = len(state["embedding_names_"])
            state.setdefault("_encoder_spec", {
                "encoder": state["encoder"], "n_features": state["n_features_in_"],
                "n_latents": n_latents, "hidden_units": state["hidden_units"] or 30 * n_latents,
            })
        if "_encoder_spec" in state:
            state["_encoder_spec"] = _persistence.upgrade_spec(state["_encoder_spec"])
        if "module_" in state and not isinstance(state["module_"], torch.nn.Module):
            device = _persistence.device_on_load(state["device_"])
            state["module_"] = _persistence.rebuild_encoder(
                state["_encoder_spec"], state["module_"], device
            )
            state["device_"] = device
        if "module_" in state:
            state["objectives_"] = _persistence.objectives_from_json(
                state.get("objectives_"), state["embedding_names_"]
            )
            # Before time_offset="auto" (skattr 0.2.0) the parameter was the offset used, and
            # the behaviour query took one-step label changes.
            state.setdefault("time_offset_", state["time_offset"])
            state.setdefault("time_delta_", 1)
            state.setdefault("behavior_gap_", 0)  # before 0.11 positives had no gap
            # Before 0.14 the parameter was the weight used.
            state.setdefault("regularizer_weight_", state["regularizer_weight"])
            state.setdefault("block_unmixing_", np.eye(len(state["embedding_names_"])))
        super().__setstate__(state)

    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted estimator to ``path`` without pickle.

        One `safetensors <https://huggingface.co/docs/safetensors>`_ file holds the encoder's
        weights, ``attribution_map_`` and the loss curves; its header holds the parameters and
        the rest of the fitted state as JSON. :meth:`load` reads it back without executing
        anything from the file, so files from others are safe to open.

        Parameters
        ----------
        path : str or path-like
            Where to write (conventionally ``*.safetensors``).

        Examples
        --------
        >>> import tempfile, os
        >>> from skattr import xCEBRAAttributor
        >>> from skattr.datasets import make_synthetic
        >>> X, y, _, _ = make_synthetic(n_samples=300, random_state=0)
        >>> model = xCEBRAAttributor(max_iter=5, device="cpu", random_state=0).fit(X, y)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> model.save(path)
        >>> loaded = xCEBRAAttributor.load(path)
        >>> bool((loaded.transform(X) == model.transform(X)).all())
        True
        """
        check_is_fitted(self)
        params = self.get_params(deep=False)
        if not isinstance(params["random_state"], Integral | None):
            warnings.warn(
                "random_state is a RandomState instance, which a skattr file cannot hold; it is "
                "saved as None (this affects only later refits).",
                UserWarning,
                stacklevel=2,
            )
            params["random_state"] = None
        if params["optimizer"] is not None and not isinstance(params["optimizer"], str):
            warnings.warn(
                f"optimizer={params['optimizer']!r} is not the name of a torch.optim class, "
                "which a skattr file cannot hold; it is saved as None (Adam; this affects only "
                "later refits).",
                UserWarning,
                stacklevel=2,
            )
            params["optimizer"] = None
        params["callbacks"] = None  # tools of a training run, not part of the model
        arrays = {f"module_.{name}": value for name, value in
                  _persistence.encoder_weights(self.module_).items()}
        arrays["attribution_map_"] = self.attribution_map_
        arrays["block_unmixing_"] = self.block_unmixing_
        for name in ("label_mean_", "label_scale_"):
            if hasattr(self, name):
                arrays[name] = getattr(self, name)
        arrays.update({f"loss_curve_.{name}": curve for name, curve in self.loss_curve_.items()})
        if hasattr(self, "validation_loss_curve_"):
            arrays["validation_loss_curve_"] = self.validation_loss_curve_
        fitted = {
            "encoder_spec": self._encoder_spec,
            "n_iter_": int(self.n_iter_),
            "n_features_in_": int(self.n_features_in_),
            "embedding_names_": [str(name) for name in self.embedding_names_],
            "objectives_": _persistence.objectives_to_json(self.objectives_),
            "time_offset_": int(self.time_offset_),
            "time_delta_": int(self.time_delta_),
            "behavior_gap_": int(self.behavior_gap_),
            "regularizer_weight_": float(self.regularizer_weight_),
            **({"behavior_r2_": self.behavior_r2_} if hasattr(self, "behavior_r2_") else {}),
            "loss_names": list(self.loss_curve_),
            "device_": str(self.device_),
        }
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(name) for name in self.feature_names_in_]
        _persistence.write_file(path, arrays, {"params": params, "fitted": fitted})

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> xCEBRAAttributor:
        """Load an estimator saved by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
        device : {"auto", "cpu", "cuda", "cuda:N"}, default=None
            Where to put the encoder; ``None`` means the device it was fitted on if this
            machine has it, else the CPU (with a warning).

        Returns
        -------
        xCEBRAAttributor
            Fitted, ready to ``transform``, ``attribute`` and ``score``.

        Raises
        ------
        ValueError
            If the file is not a skattr file, is corrupted or truncated, or its content is
            inconsistent.
        """
        arrays, metadata = _persistence.read_file(path)
        _persistence.check_version(metadata.get("skattr_version"))
        try:
            params = _persistence.upgrade_params(metadata["params"],
                                                 metadata.get("skattr_version"))
            fitted = metadata["fitted"]
            estimator = cls(**params)
            estimator._validate_params()
            resolved = (
                resolve_device(device) if device is not None
                else _persistence.device_on_load(fitted["device_"])
            )
            weights = {name.removeprefix("module_."): value for name, value in arrays.items()
                       if name.startswith("module_.")}
            estimator._encoder_spec = _persistence.upgrade_spec(fitted["encoder_spec"])
            estimator.module_ = _persistence.rebuild_encoder(
                estimator._encoder_spec, weights, resolved
            )
            estimator.device_ = resolved
            estimator.attribution_map_ = arrays["attribution_map_"]
            # Before 0.15 the inverse was of the encoder's own Jacobian.
            estimator.block_unmixing_ = arrays.get(
                "block_unmixing_", np.eye(int(estimator._encoder_spec["n_latents"])))
            for name in ("label_mean_", "label_scale_", "validation_loss_curve_"):
                if name in arrays:
                    setattr(estimator, name, arrays[name])
            estimator.loss_curve_ = {name: arrays[f"loss_curve_.{name}"] for name in
                                     fitted["loss_names"]}
            estimator.n_iter_ = int(fitted["n_iter_"])
            estimator.n_features_in_ = int(fitted["n_features_in_"])
            estimator.embedding_names_ = np.array(fitted["embedding_names_"], dtype=object)
            estimator.objectives_ = _persistence.objectives_from_json(
                fitted.get("objectives_"), estimator.embedding_names_
            )
            estimator.time_offset_ = int(fitted.get("time_offset_", params["time_offset"]))
            estimator.time_delta_ = int(fitted.get("time_delta_", 1))
            estimator.behavior_gap_ = int(fitted.get("behavior_gap_", 0))
            estimator.regularizer_weight_ = float(fitted.get("regularizer_weight_",
                                                             params["regularizer_weight"]))
            if "behavior_r2_" in fitted:
                estimator.behavior_r2_ = float(fitted["behavior_r2_"])
            if "feature_names_in_" in fitted:
                estimator.feature_names_in_ = np.array(fitted["feature_names_in_"], dtype=object)
            spec = estimator._encoder_spec
            expected = (int(spec["n_latents"]), int(spec["n_features"]))
            found = (len(estimator.embedding_names_), estimator.n_features_in_)
            if found != expected or estimator.attribution_map_.shape != expected:
                raise ValueError(
                    f"{os.fspath(path)!r} is inconsistent: the encoder has (n_latents, "
                    f"n_features) = {expected}, the fitted metadata {found} and the attribution "
                    f"map {estimator.attribution_map_.shape}."
                )
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"{os.fspath(path)!r} is missing or has malformed skattr content "
                f"({type(error).__name__}: {error})."
            ) from error
        return estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

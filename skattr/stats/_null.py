"""Surrogate nulls for attribution maps: which entries would a fit on data without the
relation also show?"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._blocks import normalized
from ._refits import run_refits, threads_per_fit
from ._surrogates import SURROGATES, Surrogate, draw_surrogates

NULLS = ("behavior", "time")


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of the entries of ``p_values``.

    ``q_(i) = min_{j >= i} m p_(j) / j`` over the sorted p-values, capped at 1; rejecting
    where ``q <= alpha`` controls the false discovery rate at ``alpha`` (independent or
    positively dependent tests).

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.2])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.2]
    """
    p_values = np.asarray(p_values, dtype=float)
    flat = p_values.ravel()
    order = np.argsort(flat)
    ranked = flat[order] * len(flat) / np.arange(1, len(flat) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    result = np.empty_like(flat)
    result[order] = adjusted
    return result.reshape(p_values.shape)


def empirical_p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``(1 + #{null >= observed}) / (1 + n)`` per entry: the +1 counts the observed map as
    one draw of the null, so that a p-value is never 0 and the test keeps its level."""
    return (1 + (null >= observed[None]).sum(0)) / (1 + len(null))


def block_contrast(maps: np.ndarray) -> np.ndarray:
    """The statistic the block-level p-values test: each block's log map against the others'.

    For block-level maps ``B`` (``(..., n_blocks, N)``, positive), with
    ``l_b = log B_b - mean_features(log B_b)`` (the block's log map, centred over the features),
    row ``b`` of the result is ``l_b - mean_{c != b} l_c``; with a single block it is ``l_b``.
    It is unchanged by rescaling a block (a block is identified only up to an invertible
    linear map, so its scale is arbitrary) and by rescaling a feature in every block alike (a
    feature's gain enters each block's inverse gradient on it). The second is what makes the
    null narrow: a surrogate fit's behaviour block, which learns no ``y``, holds a mixture of
    the latents the time objective finds and so weighs each feature much as the time block
    does, while a real behaviour block departs from the time block's pattern on the features
    it drives. Zeros are floored at ``1e-12`` times their block's mean.

    Parameters
    ----------
    maps : array-like of shape (..., n_blocks, n_features)
        Non-negative block-level maps (:func:`skattr.stats.block_map`), e.g. one per fit.

    Returns
    -------
    ndarray of the shape of ``maps``

    Examples
    --------
    >>> maps = np.array([[1.0, 2.0, 4.0], [1.0, 1.0, 1.0]])  # behaviour, time
    >>> block_contrast(maps).round(3).tolist()
    [[-0.693, 0.0, 0.693], [0.693, 0.0, -0.693]]
    >>> np.allclose(block_contrast(maps * [[3.0], [5.0]] * [2.0, 7.0, 1.0]),
    ...             block_contrast(maps))
    True
    """
    maps = np.asarray(maps, dtype=float)
    floor = 1e-12 * maps.mean(-1, keepdims=True)
    logs = np.log(np.maximum(maps, np.where(floor > 0, floor, np.finfo(float).tiny)))
    logs -= logs.mean(-1, keepdims=True)
    n_blocks = maps.shape[-2]
    if n_blocks == 1:
        return logs
    others = (logs.sum(-2, keepdims=True) - logs) / (n_blocks - 1)
    return logs - others


@dataclass
class NullResult:
    """A surrogate null of an estimator's attribution maps and the p-values it gives.

    Attributes
    ----------
    block_names : list of str
        The rows of the block-level maps (see :func:`skattr.stats.blocks`).
    tested_block : str
        The block the null is built for (``"behavior"`` or ``"time"``).
    observed_block, null_block : ndarray of shape (n_blocks, N), (n_surrogates, n_blocks, N)
        Block-level maps (:func:`skattr.stats.block_map`, each block over its mean across
        features) of the fit on the data and of each surrogate fit.
    observed_statistic, null_statistic : ndarray of the same shapes
        :func:`block_contrast` of those maps: the statistic the block-level p-values test.
    p_block, q_block : ndarray of shape (n_blocks, N)
        Per-entry empirical p-values of the statistic (with the +1 correction) and their
        Benjamini-Hochberg adjustment over the entries of each block (row).
    observed_rows, null_rows, p_rows, q_rows : ndarray
        The same at the level of single latents (rows ``(K, N)`` of ``attribution_map_``, each
        over its mean across features; BH over each block's entries). Rows of a block may mix
        from fit to fit; prefer the block level.
    surrogates : list of Surrogate
        The draws (offsets, block orders) the null was made from.
    seeds : ndarray of shape (n_surrogates + 1,)
        The ``random_state`` of each fit, the observed fit first.
    """

    block_names: list[str]
    tested_block: str
    observed_block: np.ndarray
    null_block: np.ndarray
    observed_statistic: np.ndarray
    null_statistic: np.ndarray
    p_block: np.ndarray
    q_block: np.ndarray
    observed_rows: np.ndarray
    null_rows: np.ndarray
    p_rows: np.ndarray
    q_rows: np.ndarray
    surrogates: list[Surrogate]
    seeds: np.ndarray

    def significant(self, alpha: float = 0.05) -> np.ndarray:
        """Boolean ``(N,)``: the tested block's features with ``q <= alpha`` (FDR ``alpha``)."""
        return self.q_block[self.block_names.index(self.tested_block)] <= alpha


def check_data(X, y):
    """``X`` as a float array ``(T, N)`` and ``y`` as an array of ``T`` rows (its dtype kept, so
    that the estimator sees integer labels as such), each error naming its argument."""
    X = check_array(X, dtype=np.float64, input_name="X")
    if y is None:
        return X, None
    y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
    if len(y) != len(X):
        raise ValueError(f"y has {len(y)} rows but X has {len(X)} samples.")
    return X, y


def _check_estimator(estimator) -> None:
    from .._estimator import xCEBRAAttributor

    if not isinstance(estimator, xCEBRAAttributor):
        raise TypeError(
            "estimator must be an skattr.xCEBRAAttributor (its fits have the objective blocks "
            f"that the null tests); got {type(estimator).__name__}."
        )


@validate_params(
    {
        "estimator": "no_validation",
        "X": ["array-like"],
        "y": ["array-like", None],
        "n_surrogates": [Interval(Integral, 1, None, closed="left")],
        "null": [StrOptions(set(NULLS))],
        "surrogate": [StrOptions(set(SURROGATES))],
        "min_shift": [Interval(Integral, 1, None, closed="left"), None],
        "block_length": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "n_jobs": [Integral, None],
        "threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def attribution_null(
    estimator,
    X,
    y=None,
    *,
    n_surrogates: int = 99,
    null: str = "behavior",
    surrogate: str = "circular_shift",
    min_shift: int | None = None,
    block_length: int | None = None,
    alpha: float = 0.05,
    n_jobs: int | None = None,
    threads: int | None = None,
    random_state=None,
    verbose: bool = False,
) -> NullResult:
    """Refit ``estimator`` on surrogates without the relation under test; p-values per entry.

    ``null="behavior"`` tests the behaviour block: each surrogate breaks the X-y relation and
    keeps both series' autocorrelation, by a circular shift of ``y`` by a random offset in
    ``[min_shift, T - min_shift]`` (``surrogate="circular_shift"``) or by shuffling ``y``'s
    blocks of ``block_length`` samples (``"block_shuffle"``). ``null="time"`` tests the time
    block: each feature of ``X`` is shifted circularly by its own offset, which keeps every
    feature's autocorrelation and its marginal distribution but breaks what the features share
    in time, the latents the time block must find (``y`` is left as it is). Shuffling time
    points instead would also destroy each feature's autocorrelation, which the time-contrastive
    objective feeds on, and so would test something else.

    Every fit, the observed one included, is a clone of ``estimator`` with its own seed drawn
    from ``random_state``: under the null the observed map is then one more draw from the same
    distribution, which is what makes the p-values ``(1 + #{null >= observed}) / (1 + n)``
    exact. Fits run through joblib (``n_jobs``; any joblib backend, e.g. Dask or Ray).

    The block-level p-values test :func:`block_contrast` of each fit's block-level map: how
    much more a block weighs a feature than the other blocks do, on the log scale and free of
    each block's arbitrary scale. Any statistic computed alike from every fit keeps the level;
    this one was chosen for power (:func:`block_contrast` says why; the comparison with the
    block maps themselves on the same fits is in docs/benchmarks.md, Statistics).

    Parameters
    ----------
    estimator : xCEBRAAttributor
        Cloned; its parameters (``random_state`` aside) are those of every fit.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_labels), default=None
        Needed for ``null="behavior"``.
    n_surrogates : int, default=99
        Surrogate fits. The smallest p-value is ``1 / (n_surrogates + 1)``; Benjamini-Hochberg
        over ``m`` entries of which ``k`` are true needs ``1 / (n + 1) <= k alpha / m``. The
        user guide recommends 99 (49 at least for a block whose features are half driven).
    null : {"behavior", "time"}, default="behavior"
    surrogate : {"circular_shift", "block_shuffle"}, default="circular_shift"
        How ``y`` is decoupled for ``null="behavior"``.
    min_shift : int, default=None
        Smallest shift (of ``y``, or of a feature); ``None`` means ``n_samples // 10``.
    block_length : int, default=None
        Block length of ``"block_shuffle"``; ``None`` means ``min_shift``.
    alpha : float, default=0.05
        The significance level the null must be able to reach: too few surrogates for it are
        refused.
    n_jobs : int, default=None
        Concurrent fits (joblib's meaning: ``None`` is 1 outside a ``parallel_backend``
        context, ``-1`` all workers).
    threads : int, default=None
        torch threads of each fit; ``None`` shares this machine's cores among the ``n_jobs``
        fits. Give the same value to get identical results on different backends.
    random_state : int, RandomState instance or None, default=None
        Seeds the surrogates and the fits' seeds.
    verbose : bool, default=False
        A progress bar over the fits.

    Returns
    -------
    NullResult

    Examples
    --------
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, _ = make_synthetic(n_samples=400, random_state=0)
    >>> model = xCEBRAAttributor(max_iter=5, batch_size=64, device="cpu")
    >>> result = attribution_null(model, X, y, n_surrogates=3, alpha=0.5, random_state=0)
    >>> result.p_block.shape, float(result.p_block.min()) >= 1 / 4
    ((2, 50), True)
    """
    _check_estimator(estimator)
    X, y = check_data(X, y)
    n_samples, n_features = X.shape
    if null == "behavior" and y is None:
        raise ValueError("null='behavior' tests the behaviour block and needs y; got y=None.")
    if null == "behavior" and estimator.behavior_groups is not None:
        raise ValueError(
            "attribution_null tests one behaviour block, but the estimator has "
            "behavior_groups; fit one group's columns at a time (behavior_groups=None, y = "
            "those columns) to test it."
        )
    if 1.0 / (n_surrogates + 1) > alpha:
        needed = int(np.ceil(1.0 / alpha - 1.0 - 1e-9))
        raise ValueError(
            f"n_surrogates={n_surrogates} gives p-values no smaller than "
            f"1/{n_surrogates + 1} = {1.0 / (n_surrogates + 1):.3g} > alpha={alpha}: at least "
            f"{needed} surrogates are needed (the user guide recommends 99)."
        )
    min_shift = n_samples // 10 if min_shift is None else min_shift
    if n_samples - 2 * min_shift < 1:
        raise ValueError(
            f"X has {n_samples} samples, too few to shift by at least min_shift={min_shift} "
            f"both ways: circular shifts need n_samples > 2 * min_shift."
        )
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    kind = "feature_shift" if null == "time" else surrogate
    draws = draw_surrogates(kind, n_surrogates, n_samples, n_features, min_shift,
                            block_length or min_shift, rng)
    seeds = rng.integers(0, 2**31 - 1, n_surrogates + 1)
    refits = run_refits(estimator, X, y, [Surrogate("observed"), *draws], seeds, n_jobs,
                        threads_per_fit(n_jobs, threads), verbose, f"{null} null")
    observed, nulls = refits[0], refits[1:]
    names = list(observed.blocks)
    null_block = np.stack([refit.block_map for refit in nulls])
    # Rows compared as the blocks are, each over its mean: a latent's scale is as arbitrary.
    observed_rows = normalized(observed.row_map)
    null_rows = normalized(np.stack([refit.row_map for refit in nulls]))
    observed_statistic = block_contrast(observed.block_map)
    null_statistic = block_contrast(null_block)
    p_block = empirical_p_values(observed_statistic, null_statistic)
    p_rows = empirical_p_values(observed_rows, null_rows)
    q_rows = np.empty_like(p_rows)
    for latents in observed.blocks.values():
        q_rows[latents] = benjamini_hochberg(p_rows[latents])
    return NullResult(
        block_names=names,
        tested_block=null,
        observed_block=observed.block_map, null_block=null_block,
        observed_statistic=observed_statistic, null_statistic=null_statistic, p_block=p_block,
        q_block=np.stack([benjamini_hochberg(row) for row in p_block]),
        observed_rows=observed_rows, null_rows=null_rows, p_rows=p_rows, q_rows=q_rows,
        surrogates=draws, seeds=seeds,
    )


__all__ = ["NULLS", "NullResult", "attribution_null", "benjamini_hochberg", "block_contrast",
           "empirical_p_values"]

"""Stability of attribution maps across seeds: does a refit give the same map?"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ..metrics import attribution_auc
from ._null import _check_estimator, check_data
from ._refits import run_refits, threads_per_fit
from ._surrogates import Surrogate


def agreement(maps: np.ndarray) -> np.ndarray:
    """Mean Pearson correlation, over pairs of seeds, of each block's map across features.

    ``maps`` is ``(n_seeds, n_blocks, N)``; returns ``(n_blocks,)``: 1 when every seed gives a
    block the same pattern over features up to scale, near 0 when the patterns are unrelated.

    Examples
    --------
    >>> maps = np.array([[[1.0, 2.0, 3.0]], [[2.0, 4.0, 6.1]], [[1.0, 2.1, 2.9]]])
    >>> bool(agreement(maps)[0] > 0.99)
    True
    """
    n_seeds = len(maps)
    if n_seeds < 2:
        raise ValueError(f"agreement needs maps of at least 2 seeds; got {n_seeds}.")
    centred = maps - maps.mean(-1, keepdims=True)
    unit = centred / np.linalg.norm(centred, axis=-1, keepdims=True)
    pairs = np.einsum("sbn,tbn->stb", unit, unit)
    upper = np.triu_indices(n_seeds, k=1)
    return pairs[upper].mean(0)


@dataclass
class StabilityResult:
    """Block-level maps over seeds and how much they agree.

    Attributes
    ----------
    block_names : list of str
    seeds : ndarray of shape (n_seeds,)
    block_maps : ndarray of shape (n_seeds, n_blocks, N)
    mean, std : ndarray of shape (n_blocks, N)
        Mean and standard deviation over seeds of the block-level maps.
    agreement : ndarray of shape (n_blocks,)
        :func:`agreement` of each block.
    row_maps : ndarray of shape (n_seeds, K, N)
        The row-level maps (``attribution_map_``) of each fit.
    auc : ndarray of shape (n_seeds,) or None
        With a ground truth: the AUC of each fit's row-level map.
    auc_mean, auc_std : float or None
    """

    block_names: list[str]
    seeds: np.ndarray
    block_maps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    agreement: np.ndarray
    row_maps: np.ndarray
    auc: np.ndarray | None = None
    auc_mean: float | None = None
    auc_std: float | None = None


@validate_params(
    {
        "estimator": "no_validation",
        "X": ["array-like"],
        "y": ["array-like", None],
        "n_seeds": [Interval(Integral, 2, None, closed="left")],
        "ground_truth": ["array-like", None],
        "n_jobs": [Integral, None],
        "threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def seed_stability(
    estimator,
    X,
    y=None,
    *,
    n_seeds: int = 5,
    ground_truth=None,
    n_jobs: int | None = None,
    threads: int | None = None,
    random_state=None,
    verbose: bool = False,
) -> StabilityResult:
    """Refit ``estimator`` with ``n_seeds`` seeds; the spread and agreement of its maps.

    Parameters
    ----------
    estimator : xCEBRAAttributor
        Cloned for each seed (its own ``random_state`` is replaced by the seeds).
    X, y : array-like
        The training data, as for ``fit``.
    n_seeds : int, default=5
    ground_truth : array-like of bool, shape (K, N), default=None
        With it, each fit's row-level AUC and their mean and spread.
    n_jobs, threads, random_state, verbose
        As for :func:`skattr.stats.attribution_null`.

    Returns
    -------
    StabilityResult

    Examples
    --------
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, truth = make_synthetic(n_samples=400, random_state=0)
    >>> model = xCEBRAAttributor(max_iter=5, batch_size=64, device="cpu")
    >>> result = seed_stability(model, X, y, n_seeds=2, ground_truth=truth, random_state=0)
    >>> result.block_maps.shape, result.auc.shape
    ((2, 2, 50), (2,))
    """
    _check_estimator(estimator)
    X, y = check_data(X, y)
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    seeds = rng.integers(0, 2**31 - 1, n_seeds)
    refits = run_refits(estimator, X, y, [Surrogate("observed")] * n_seeds, seeds, n_jobs,
                        threads_per_fit(n_jobs, threads), verbose, "seeds")
    block_maps = np.stack([refit.block_map for refit in refits])
    row_maps = np.stack([refit.row_map for refit in refits])
    auc = None
    if ground_truth is not None:
        auc = np.array([attribution_auc(ground_truth, row_map) for row_map in row_maps])
    return StabilityResult(
        block_names=list(refits[0].blocks), seeds=seeds, block_maps=block_maps,
        mean=block_maps.mean(0), std=block_maps.std(0), agreement=agreement(block_maps),
        row_maps=row_maps, auc=auc,
        auc_mean=None if auc is None else float(auc.mean()),
        auc_std=None if auc is None else float(auc.std()),
    )


__all__ = ["StabilityResult", "agreement", "seed_stability"]

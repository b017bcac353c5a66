"""Refits of an estimator on surrogate data or other seeds, through joblib.

Each refit is one joblib task, so ``joblib.parallel_backend("dask")`` (a ``dask.distributed``
cluster) or Ray's joblib backend spreads them over machines with no other code. Every task sets
its own torch thread count and restores it: fits that share cores each with all of them
oversubscribe the machine (OpenMP threads spin), which makes them many times slower than one
after another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import joblib
import numpy as np
import torch
from sklearn.base import clone
from tqdm.auto import tqdm

from ._blocks import block_map, blocks
from ._surrogates import Surrogate


@dataclass
class Refit:
    """What one refit gives: the (normalised) block-level map and the row-level map
    (``attribution_map_``) on its training data, and the latents of each block of the model."""

    block_map: np.ndarray
    row_map: np.ndarray
    blocks: dict[str, list[int]]


@contextmanager
def torch_threads(n_threads: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n_threads`` for the duration, then restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _refit(estimator, X, y, surrogate: Surrogate, seed: int, n_threads: int) -> Refit:
    with torch_threads(n_threads):
        X_fit, y_fit = surrogate.apply(X, y)
        model = clone(estimator).set_params(random_state=seed, verbose=False)
        model.fit(X_fit, y_fit)
        return Refit(block_map(model, X_fit), model.attribution_map_,
                     {name: latents.tolist() for name, latents in blocks(model).items()})


def threads_per_fit(n_jobs: int | None, threads: int | None) -> int:
    """``threads``, or this machine's cores shared among ``n_jobs`` concurrent fits."""
    if threads is not None:
        return threads
    return max(1, (os.cpu_count() or 1) // max(1, joblib.effective_n_jobs(n_jobs)))


def run_refits(estimator, X, y, surrogates: list[Surrogate], seeds, n_jobs, n_threads: int,
               verbose: bool, description: str) -> list[Refit]:
    """One refit of a clone of ``estimator`` per ``(surrogate, seed)``, in order."""
    tasks = (joblib.delayed(_refit)(estimator, X, y, surrogate, int(seed), n_threads)
             for surrogate, seed in zip(surrogates, seeds, strict=True))
    results = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    return list(tqdm(results, total=len(surrogates), disable=not verbose, desc=description,
                     unit="fit"))


__all__ = ["Refit", "run_refits", "threads_per_fit", "torch_threads"]

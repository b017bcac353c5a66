"""Milliseconds per xCEBRA training step at T = 10k, 100k and 1M, on the labels people record.

Real behaviour labels repeat (an animal at a wall, tracking quantised to pixels, a condition
held for a trial). This script times a full training step (2 objectives in the paper's layout:
behaviour on 0:3, time on 0:6, Euclidean InfoNCE, Jacobian regulariser on, N = 50, MLP of width
180) on four kinds of labels:

``distinct``
    ``make_synthetic``'s 3-D truncated walk (no value repeats);
``clipped``
    a 3-D Gaussian random walk (steps of 0.03) clipped to [-1, 1]: it rests at the walls and
    corners for long stretches (96,281 distinct values in 10^6 samples);
``quantised``
    ``make_synthetic``'s walk rounded to a grid of 0.05 (40 levels per axis);
``discrete``
    8 conditions held for 100 samples each, with ``behavior_distribution="discrete"``.

Side by side in the same run: cebra 0.6.1's own xCEBRA step (``benchmarks/_cebra_step.py``,
when cebra is installed; continuous labels only, its nearest neighbour is a brute-force search)
and, for the sampler alone, the previous sampler (one k-d tree over all T labels) and T up to
10M.

Usage::

    pip install cebra==0.6.1   # optional, for the cebra columns
    python benchmarks/training_step.py [--labels clipped quantised] [--sizes 10000 100000]

Prints Markdown tables (those in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.spatial import cKDTree

from skattr._encoders import build_encoder
from skattr._sampling import ContrastiveSampler
from skattr._training import Objective, TrainingConfig, _batch_indices, _step
from skattr.datasets import make_synthetic

LABEL_KINDS = ("distinct", "clipped", "quantised", "discrete")
OBJECTIVES = [Objective("behavior", 0, 3, "behavior_positive"),
              Objective("time", 0, 6, "time_positive")]


def make_labels(kind: str, n_samples: int, walk: np.ndarray) -> np.ndarray:
    """Labels of ``kind`` for ``n_samples`` steps (``walk``: make_synthetic's behaviour)."""
    if kind == "distinct":
        return walk[:n_samples]
    if kind == "clipped":
        steps = np.random.default_rng(1).normal(0.0, 0.03, (n_samples, 3))
        return np.clip(np.cumsum(steps, axis=0), -1.0, 1.0)
    if kind == "quantised":
        return np.round(walk[:n_samples] * 20) / 20
    if kind == "discrete":
        return ((np.arange(n_samples) // 100) % 8)[:, None].astype(float)
    raise ValueError(f"labels must be one of {LABEL_KINDS}; got {kind!r}.")


def distribution_of(kind: str) -> str:
    return "discrete" if kind == "discrete" else "time_delta"


class AllSamplesTreeSampler(ContrastiveSampler):
    """The previous sampler: one k-d tree over all T labels, repeats included."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.all_samples_tree = cKDTree(self.labels)

    def behavior_positive(self, reference):
        return self.all_samples_tree.query(self.query(reference), k=1)[1].astype(np.int64)


def time_steps(X, y, distribution, batch_size, n_steps, warmup=3):
    """(ms per training step, ms per batch drawn) for skattr's step."""
    sampler = ContrastiveSampler(len(X), 10, y, distribution, 0.1, np.random.default_rng(0))
    encoder = build_encoder("mlp", X.shape[1], 6, 180, torch.Generator().manual_seed(0))
    config = TrainingConfig(n_steps, batch_size, 1e-3, "euclidean", 1.0, 0.1, 0, 0, 1)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
    inputs = torch.tensor(X, dtype=torch.float32)
    record = torch.zeros(len(OBJECTIVES) + 2)
    generator = torch.Generator().manual_seed(0)

    def step():
        indices = _batch_indices(sampler.sample(batch_size), OBJECTIVES, pin=False)
        _step(encoder, inputs, indices, OBJECTIVES, config, 0.1, generator, optimizer, record,
              None)

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    step_ms = (time.perf_counter() - start) / n_steps * 1e3
    return step_ms, time_draws(sampler, batch_size, n_steps)


def time_draws(sampler, batch_size, n_draws):
    sampler.sample(batch_size)
    start = time.perf_counter()
    for _ in range(n_draws):
        sampler.sample(batch_size)
    return (time.perf_counter() - start) / n_draws * 1e3


def step_table(args, X, walk, cebra_version):
    print("| labels | distinct values | T | B | skattr ms/step | of which sampling "
          "| cebra ms/step | of which sampling | cebra / skattr |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in args.labels:
        for batch_size in args.batch_sizes:
            for n_samples in args.sizes:
                y = make_labels(kind, n_samples, walk)
                distinct = len(np.unique(y, axis=0))
                step_ms, sample_ms = time_steps(X[:n_samples], y, distribution_of(kind),
                                                batch_size, args.steps)
                cebra = ratio = "n/a"
                if cebra_version and kind != "discrete" and n_samples <= args.cebra_max:
                    few = max(3, args.steps // 4)
                    cebra_ms, cebra_sample_ms = _quiet_cebra(X[:n_samples], y, batch_size, few)
                    cebra = f"{cebra_ms:.1f} | {cebra_sample_ms:.1f}"
                    ratio = f"{cebra_ms / step_ms:.1f}x"
                else:
                    cebra = "n/a | n/a"
                print(f"| {kind} | {distinct:,} | {n_samples:,} | {batch_size:,} | "
                      f"{step_ms:.1f} | {sample_ms:.1f} | {cebra} | {ratio} |", flush=True)


def sampler_table(args, walk):
    print("\n| labels | T | distinct values | index build s | B | ms per draw "
          "| previous sampler (k-d tree over all T) ms per draw |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in args.labels:
        for n_samples in args.sampler_sizes:
            y = make_labels(kind, n_samples, walk)
            start = time.perf_counter()
            sampler = ContrastiveSampler(n_samples, 10, y, distribution_of(kind), 0.1,
                                         np.random.default_rng(0))
            build_s = time.perf_counter() - start
            previous = None
            if kind != "discrete" and n_samples <= args.previous_max:
                previous = AllSamplesTreeSampler(n_samples, 10, y, "time_delta", 0.1,
                                                 np.random.default_rng(0))
            for batch_size in args.batch_sizes:
                ms = time_draws(sampler, batch_size, args.steps)
                old = ("n/a" if previous is None
                       else f"{time_draws(previous, batch_size, max(2, args.steps // 10)):.1f}")
                print(f"| {kind} | {n_samples:,} | {len(sampler.index.values):,} | "
                      f"{build_s:.2f} | {batch_size:,} | {ms:.2f} | {old} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", nargs="+", default=list(LABEL_KINDS), choices=LABEL_KINDS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--sampler-sizes", type=int, nargs="+",
                        default=[10_000, 1_000_000, 10_000_000])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 5000])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cebra-max", type=int, default=100_000,
                        help="largest T for cebra (its step grows linearly with T)")
    parser.add_argument("--previous-max", type=int, default=1_000_000,
                        help="largest T for the previous sampler")
    parser.add_argument("--skip-steps", action="store_true", help="only the sampler table")
    args = parser.parse_args()
    walk = make_synthetic(n_samples=max(args.sizes + args.sampler_sizes), n_time_neurons=1,
                          n_behavior_neurons=1, random_state=0)[1]
    X = make_synthetic(n_samples=max(args.sizes), random_state=0)[0]
    cebra_version = _cebra_version()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; "
          f"cebra {cebra_version or 'not installed'}\n")
    if not args.skip_steps:
        step_table(args, X, walk, cebra_version)
    sampler_table(args, walk)


def _cebra_version():
    try:
        import cebra
    except ImportError:
        return None
    return cebra.__version__


def _quiet_cebra(X, y, batch_size, n_steps):
    """cebra's step timing, without the lines cebra prints when it builds its objectives."""
    import contextlib
    import io
    import warnings

    from _cebra_step import cebra_ms_per_step

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cebra_ms_per_step(X, y, batch_size, n_steps)


if __name__ == "__main__":
    main()

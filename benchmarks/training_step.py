"""Milliseconds per xCEBRA training step at T = 10k, 100k and 1M samples.

The behaviour positive needs the nearest neighbour of a query among all T labels. skattr answers it
with a k-d tree built once per fit; this script times a full training step (2 objectives,
regulariser on, N = 50, K = 3 + 3, MLP of width 180) with that sampler and, side by side in the same
run, (a) the same step with a brute-force search over all T labels, and (b) cebra 0.6.1's own
xCEBRA step (``benchmarks/_cebra_step.py``) when cebra is installed.

Usage::

    pip install cebra==0.6.1   # optional, for the cebra columns
    python benchmarks/training_step.py [--sizes 10000 100000 1000000] [--batch-sizes 512 5000]

Prints a Markdown table (the one in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from skattr._encoders import build_encoder
from skattr._sampling import ContrastiveSampler
from skattr._training import Objective, TrainingConfig, _step
from skattr.datasets import make_synthetic


class BruteForceSampler(ContrastiveSampler):
    """The same sampler, with the nearest neighbour found by an argmin over all T labels."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_tensor = torch.as_tensor(self.labels, dtype=torch.float32)

    def nearest(self, queries):
        distances = torch.cdist(torch.as_tensor(queries, dtype=torch.float32), self.label_tensor)
        return distances.argmin(1).numpy()


def time_steps(X, y, sampler_class, batch_size, n_steps, warmup=3):
    n_samples = len(X)
    sampler = sampler_class(n_samples, 10, y, "time_delta", 0.1, np.random.default_rng(0))
    encoder = build_encoder("mlp", X.shape[1], 6, 180, torch.Generator().manual_seed(0))
    objectives = [Objective("behavior", slice(0, 3), "behavior_positive"),
                  Objective("time", slice(3, 6), "time_positive")]
    config = TrainingConfig(n_steps, batch_size, 1e-3, "euclidean", 1.0, 0.1, 0, 0, 1)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
    inputs = torch.tensor(X, dtype=torch.float32)
    record = torch.zeros(len(objectives) + 2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(warmup):
        _step(encoder, inputs, sampler, objectives, config, 0.1, generator, optimizer, record)
    start = time.perf_counter()
    for _ in range(n_steps):
        _step(encoder, inputs, sampler, objectives, config, 0.1, generator, optimizer, record)
    step_ms = (time.perf_counter() - start) / n_steps * 1e3
    start = time.perf_counter()
    for _ in range(n_steps):
        sampler.sample(batch_size)
    sample_ms = (time.perf_counter() - start) / n_steps * 1e3
    return step_ms, sample_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 5000])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--brute-force-max", type=int, default=100_000,
                        help="largest T for the brute-force comparison (it grows linearly)")
    args = parser.parse_args()
    X, y, _, _ = make_synthetic(n_samples=max(args.sizes), random_state=0)
    cebra_version = _cebra_version()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; "
          f"cebra {cebra_version or 'not installed'}\n")
    print("| T | B | skattr ms/step | of which sampling | brute-force NN ms/step "
          "| of which sampling | cebra ms/step | of which sampling |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch_size in args.batch_sizes:
        for n_samples in args.sizes:
            data = X[:n_samples], y[:n_samples]
            row = time_steps(*data, ContrastiveSampler, batch_size, args.steps)
            brute = cebra = ("n/a", "n/a")
            if n_samples <= args.brute_force_max:
                few = max(3, args.steps // 4)
                brute = _format(time_steps(*data, BruteForceSampler, batch_size, few))
                if cebra_version:
                    cebra = _format(_quiet_cebra(*data, batch_size, few))
            print(f"| {n_samples:,} | {batch_size:,} | {row[0]:.1f} | {row[1]:.1f} | "
                  f"{brute[0]} | {brute[1]} | {cebra[0]} | {cebra[1]} |", flush=True)


def _format(timings):
    return tuple(f"{value:.1f}" for value in timings)


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

"""Where one xCEBRA training step goes: sampling, encoder forward, losses, regulariser, backward.

The step of ``skattr._training._step``, taken apart phase by phase and timed with
``time.perf_counter`` (T = 100k distinct labels, N = 50, an encoder of width ``30 K``,
behaviour on the first half of the ``K`` latents, time on all, Euclidean InfoNCE, regulariser
on), then one InfoNCE forward + backward alone.

Usage::

    python benchmarks/step_breakdown.py [--batch-size 5000] [--steps 10]
    python benchmarks/step_breakdown.py --encoder conv --n-features 80 --n-latents 8 \
        --batch-size 512 --steps 5 [--hidden-units 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from skattr._encoders import build_encoder, time_windows
from skattr._losses import infonce
from skattr._regularizers import jacobian_penalty
from skattr._sampling import ContrastiveSampler
from skattr._training import (
    Objective,
    TrainingConfig,
    _batch_indices,
    _embed_batch,
    _objective_losses,
    _step,
)
from skattr.datasets import make_synthetic

OBJECTIVES: list[Objective] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--encoder", choices=["mlp", "conv"], default="mlp")
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--n-latents", type=int, default=6)
    parser.add_argument("--hidden-units", type=int, default=None, help="width (30 K)")
    args = parser.parse_args()
    width = args.hidden_units or 30 * args.n_latents
    size, n_steps, n_latents = args.batch_size, args.steps, args.n_latents
    OBJECTIVES[:] = [Objective("behavior", 0, n_latents // 2, "behavior_positive"),
                     Objective("time", 0, n_latents, "time_positive")]
    half = args.n_features // 2
    X, y, _, _ = make_synthetic(n_samples=100_000, n_time_neurons=half,
                                n_behavior_neurons=args.n_features - half, random_state=0)
    sampler = ContrastiveSampler(len(X), 10, y, "time_delta", 0.1, np.random.default_rng(0))
    encoder = build_encoder(args.encoder, args.n_features, n_latents, width,
                            torch.Generator().manual_seed(0))
    config = TrainingConfig(n_steps, size, 1e-3, "euclidean", 1.0, 0.1, 0, 0, 1)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
    inputs = time_windows(torch.tensor(X, dtype=torch.float32), encoder.receptive_field)
    print(f"{args.encoder} encoder, N = {args.n_features}, K = {n_latents}, "
          f"width {width}, {torch.get_num_threads()} threads")
    record, generator = torch.zeros(4), torch.Generator().manual_seed(0)

    def whole_step():
        indices = _batch_indices(sampler.sample(size), OBJECTIVES, pin=False)
        _step(encoder, inputs, indices, OBJECTIVES, config, 0.1, generator, optimizer, record,
              None)

    for _ in range(3):
        whole_step()
    start = time.perf_counter()
    for _ in range(n_steps):
        whole_step()
    print(f"B = {size:,}: {(time.perf_counter() - start) / n_steps * 1e3:.1f} ms per step")
    phases = dict.fromkeys(["sampling", "forward", "losses", "regulariser VJP", "backward"], 0.0)
    for _ in range(n_steps):
        marks = [time.perf_counter()]
        indices = _batch_indices(sampler.sample(size), OBJECTIVES, pin=False)
        marks.append(time.perf_counter())
        references, reference, others = _embed_batch(encoder, inputs, indices, size, True)
        marks.append(time.perf_counter())
        total = sum(_objective_losses(reference, others, OBJECTIVES, "euclidean", 1.0, None))
        marks.append(time.perf_counter())
        penalty = jacobian_penalty(references, reference, [o.output_slice for o in OBJECTIVES],
                                   1, generator)
        marks.append(time.perf_counter())
        optimizer.zero_grad()
        (total + 0.1 * penalty).backward()
        marks.append(time.perf_counter())
        for name, begin, end in zip(phases, marks, marks[1:], strict=False):
            phases[name] += (end - begin) / n_steps * 1e3
    print("  " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in phases.items()))
    embeddings = [torch.randn(size, n_latents, requires_grad=True) for _ in range(3)]
    start = time.perf_counter()
    for _ in range(n_steps):
        infonce(*embeddings, "euclidean", 1.0).backward()
    print(f"  one InfoNCE forward + backward (K = {n_latents}): "
          f"{(time.perf_counter() - start) / n_steps * 1e3:.1f} ms")


if __name__ == "__main__":
    main()

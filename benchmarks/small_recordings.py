"""Why short recordings (T = 1,000) are the family's worst settings: the training or the map.

For the two settings of ``robustness.py`` with 1,000 samples (the paper's ground truth and the
mirrored one), each training variant of ``VARIANTS`` is fitted per seed and scored with several
maps of the same fit: the default (damped inverse, rows on their largest entry), the inverse at
other dampings with rows raw or on their largest entry, and the plain gradient. Each fit also
reports what its two blocks hold: the linear R² of the *time* latents from the behaviour block
and of the *behaviour* latents from the time block (both near 0 when the blocks separate, as at
T = 20,000: ``--reference`` adds those two settings at T = 20,000 with the defaults).

If no map of a fit scores well while the blocks hold each other's latents, the limit is the
training; if some map does, it is the map.

Usage::

    python benchmarks/small_recordings.py --jobs 2
    python benchmarks/small_recordings.py --variants defaults "lr 3e-4" --seeds 1 --reference
    python benchmarks/small_recordings.py --variants defaults "batch 512 (0.12)" --held-out
    python benchmarks/small_recordings.py --variants defaults "λ 0.03" --only-other-short
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _variants import run_cells  # noqa: E402 (after the path it is found on)
from robustness import BASE, SETTINGS, cell_key  # noqa: E402

SMALL = {name: SETTINGS[name] for name in ("T=1k", "T=1k mirrored")}
REFERENCE = {"T=20k": {}, "T=20k mirrored": SETTINGS["mirrored blocks"]}
# A length outside the family, between its 1,000 and 5,000 samples: where rules for short
# recordings (the batch, the width, the ensemble) hand over to the long-recording defaults.
HELD_OUT = {"T=1.5k": {"n_samples": 1_500}}
# Short recordings of other kinds than the family's two: a rule chosen on those two is checked
# here on data it was not chosen on (and at 2,000 samples, still under the short-recording
# rules of 6 latents).
OTHER_SHORT = {
    "T=1k Poisson": {"n_samples": 1_000, "observation": "poisson", "mean_count": 1.0},
    "T=1k tanh": {"n_samples": 1_000, "nonlinearity": "tanh"},
    "T=1k OU latents": {"n_samples": 1_000, "latent_dynamics": "ou"},
    "T=1k split 2+4": {"n_samples": 1_000, "n_time_latents": 2, "n_behavior_latents": 4},
    "T=2k": {"n_samples": 2_000},
}
VARIANTS: dict[str, dict] = {
    "defaults": {},
    "0.10 defaults (no gap, width 180)": {"behavior_gap": 0, "hidden_units": 180},
    "no gap": {"behavior_gap": 0},
    "width 180": {"hidden_units": 180},
    "lr 3e-4": {"learning_rate": 3e-4},
    "time_offset 10": {"time_offset": 10},
    "lr 3e-4, time_offset 10": {"learning_rate": 3e-4, "time_offset": 10},
    "500 steps": {"max_iter": 500},
    "lr 3e-4, 1,000 steps": {"learning_rate": 3e-4, "max_iter": 1000},
    "AdamW, weight decay 0.1": {"optimizer": "AdamW", "optimizer_params": {"weight_decay": 0.1}},
    "supervised": {"objective": "supervised"},
    "supervised, lr 3e-4": {"objective": "supervised", "learning_rate": 3e-4},
    "hidden 60": {"hidden_units": 60},
    "hidden 60, lr 3e-4": {"hidden_units": 60, "learning_rate": 3e-4},
    "batch 32": {"batch_size": 32},
    "batch 64": {"batch_size": 64},
    "batch 125 (an eighth)": {"batch_size": 125},
    "batch 128": {"batch_size": 128},
    "batch 256": {"batch_size": 256},
    "batch 512 (0.12)": {"batch_size": 512},
    "batch 64, 8 encoders": {"batch_size": 64, "n_encoders": 8},
    "batch 64, 4,000 steps": {"batch_size": 64, "max_iter": 4000},
    "λ 0.3": {"regularizer_weight": 0.3},
    "λ 1": {"regularizer_weight": 1.0},
    "4,000 steps": {"max_iter": 4000},
    "temperature 0.5": {"temperature": 0.5},
    "temperature 2": {"temperature": 2.0},
    "lr 3e-4, λ 1": {"learning_rate": 3e-4, "regularizer_weight": 1.0},
    "λ 0.03": {"regularizer_weight": 0.03},
    "4 projections": {"n_projections": 4},
    "cosine": {"similarity": "cosine"},
    "λ 0.01": {"regularizer_weight": 0.01},
}
# Maps of one fit: (column, attribute() keyword arguments).
MAPS = [("default", {})] + [
    (f"inverse d={damping:g}/{norm or 'raw'}", {"damping": damping, "row_norm": norm})
    for damping in (0.0, 0.1, 1.0, 10.0) for norm in (None, "max")
] + [(f"gradient/{norm or 'raw'}", {"method": "gradient", "row_norm": norm})
     for norm in (None, "max")]


def block_r2(embedding: np.ndarray, latents: np.ndarray) -> float:
    """Mean linear R² (in-sample least squares with an intercept) of each column of
    ``latents`` from ``embedding``."""
    design = np.column_stack([embedding, np.ones(len(embedding))])
    fitted = design @ np.linalg.lstsq(design, latents, rcond=None)[0]
    residual = ((latents - fitted) ** 2).sum(0)
    return float(np.mean(1 - residual / ((latents - latents.mean(0)) ** 2).sum(0)))


def run_cell(setting: dict, seed: int, params: dict) -> dict:
    """Fit one model, score every map and measure the blocks (in a worker: one torch
    thread)."""
    import torch

    torch.set_num_threads(1)
    from skattr import xCEBRAAttributor
    from skattr.datasets import make_synthetic
    from skattr.metrics import attribution_auc

    kwargs = {**BASE, **setting}
    X, y, latents, truth = make_synthetic(**kwargs, random_state=seed)
    n_behavior, n_time = kwargs.get("n_behavior_latents", 3), kwargs.get("n_time_latents", 3)
    start = time.perf_counter()
    model = xCEBRAAttributor(n_behavior, n_time, **{"device": "cpu", "random_state": seed,
                                                    **params}).fit(X, y)
    result = {"seconds": time.perf_counter() - start, "behavior_r2": float(model.behavior_r2_),
              "time_offset_": int(model.time_offset_), "time_delta_": int(model.time_delta_)}
    for column, map_params in MAPS:
        result[column] = attribution_auc(
            truth, model.attribution_map_ if not map_params else model.attribute(X, **map_params))
    embedding = model.transform(X)
    behavior, time_block = embedding[:, :n_behavior], embedding[:, n_behavior:]
    result["time latents from behaviour block"] = block_r2(behavior, latents[:, n_behavior:])
    result["behaviour latents from time block"] = block_r2(time_block, latents[:, :n_behavior])
    # On short recordings independent random walks correlate by chance, so the true latents
    # of one block already explain part of the other's: count only what a block adds to them.
    true_behavior, true_time = latents[:, :n_behavior], latents[:, n_behavior:]
    result["time latents from behaviour block, beyond the true behaviour latents"] = (
        block_r2(np.hstack([behavior, true_behavior]), true_time)
        - block_r2(true_behavior, true_time))
    result["behaviour latents from time block, beyond the true time latents"] = (
        block_r2(np.hstack([time_block, true_time]), true_behavior)
        - block_r2(true_time, true_behavior))
    return result


def _keyed_cell(name, setting, seed, variant):
    os.environ["OMP_NUM_THREADS"] = "1"
    key = "small:" + cell_key(name, setting, seed, VARIANTS[variant], "skattr")
    return key, f"{name} | {variant}", seed, run_cell(setting, seed, VARIANTS[variant])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting")
    parser.add_argument("--variants", nargs="*", default=None, choices=list(VARIANTS),
                        help="training variants to run (default: all)")
    parser.add_argument("--reference", action="store_true",
                        help="add T = 20,000 (both ground truths) with the defaults")
    parser.add_argument("--held-out", action="store_true",
                        help="add T = 1,500 (not in the family) for each variant")
    parser.add_argument("--other-short", action="store_true",
                        help="add short recordings of other kinds (OTHER_SHORT) for each variant")
    parser.add_argument("--only-other-short", action="store_true",
                        help="run OTHER_SHORT alone, without the family's two settings")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--cache", default="benchmarks/small_recordings_cache.jsonl",
                        help="JSON-lines file of finished cells ('' for none)")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    lengths = {**({} if args.only_other_short else SMALL),
               **(HELD_OUT if args.held_out else {}),
               **(OTHER_SHORT if args.other_short or args.only_other_short else {})}
    rows = [(name, setting, variant) for variant in (args.variants or VARIANTS)
            for name, setting in lengths.items()]
    if args.reference:
        rows += [(name, setting, "defaults") for name, setting in REFERENCE.items()]
    cells = [(name, setting, seed, variant) for name, setting, variant in rows for seed in seeds]

    def key(name, setting, seed, variant):
        return "small:" + cell_key(name, setting, seed, VARIANTS[variant], "skattr")

    def report(row, seed, result):
        print(f"  {row:<45} seed {seed}: default {result['default']:.3f}  "
              f"gradient/max {result['gradient/max']:.3f}  ({result['seconds']:.0f} s)",
              flush=True)

    done = run_cells(cells, key, _keyed_cell, args.jobs,
                     Path(args.cache) if args.cache else None, report)
    columns = [column for column, _ in MAPS] + [
        "time latents from behaviour block", "behaviour latents from time block",
        "time latents from behaviour block, beyond the true behaviour latents",
        "behaviour latents from time block, beyond the true time latents", "behavior_r2"]
    # Cells cached before a column was added lack it (nan).
    table = {f"{name} | {variant}": {
        column: [done[key(name, setting, seed, variant)].get(column, np.nan) for seed in seeds]
        for column in columns} for name, setting, variant in rows}
    print(f"\nmean over seeds {seeds}\n")
    print("| setting | variant | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for row, values in table.items():
        print(f"| {row} | " + " | ".join(f"{np.mean(values[c]):.3f}" for c in columns) + " |")
    return table


if __name__ == "__main__":
    main()

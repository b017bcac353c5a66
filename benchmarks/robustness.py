"""Attribution quality over a family of data sets unlike the demo, for choosing defaults.

Each setting varies ``skattr.datasets.make_synthetic`` away from the paper's generator: the
number of samples, the step size and kind of the latents' dynamics, observation noise and Poisson
spike counts, the depth and nonlinearity of the mixing, the latent split and the number of
neurons. For every setting and seed it fits :class:`skattr.xCEBRAAttributor` (its defaults, unless
``--params`` overrides some) and records the ROC AUC of the inverted neuron gradient and of the
plain neuron gradient against the ground truth. It prints one row per setting (mean and worst
over seeds), then the mean over all settings and the worst setting.

Finished cells are cached in ``--cache`` (one JSON line per cell, keyed by setting, seed and
parameters), so an interrupted run resumes, and runs with other parameters share the file.

Usage::

    python benchmarks/robustness.py                    # 27 settings x 3 seeds, defaults
    python benchmarks/robustness.py --quick            # 3 small settings x 1 seed (CI)
    python benchmarks/robustness.py --params '{"time_offset": 10}' --jobs 2
    python benchmarks/robustness.py --cebra            # cebra 0.6.1's xCEBRA, side by side

Fits run in ``--jobs`` worker processes, each limited to one torch thread (two processes with two
threads each on two cores run many times slower than one after the other).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _cache import append_cache, estimator_params, read_cache  # noqa: E402 (after the path it is found on)

# Each setting: keyword arguments of make_synthetic. The latent split and the number of neurons
# are also what the estimator is told (n_behavior_latents, n_time_latents).
BASE = {"n_samples": 20_000}
SETTINGS: dict[str, dict] = {
    "T=1k": {"n_samples": 1_000},
    "T=100k": {"n_samples": 100_000},
    "step 0.03": {"step_std": 0.03},
    "step 0.3": {"step_std": 0.3},
    "clipped walk": {"latent_dynamics": "clipped"},
    "OU latents": {"latent_dynamics": "ou"},
    "smooth latents": {"latent_dynamics": "smooth"},
    "noise 0.1": {"noise": 0.1},
    "Poisson, 1 count/bin": {"observation": "poisson", "mean_count": 1.0},
    "Poisson, weak tuning": {"observation": "poisson", "mean_count": 1.0, "modulation": 0.5},
    "linear mixing": {"n_layers": 1},
    "depth 4": {"n_layers": 4},
    "tanh": {"nonlinearity": "tanh"},
    "softplus": {"nonlinearity": "softplus"},
    "split 2+4": {"n_time_latents": 2, "n_behavior_latents": 4},
    "split 4+2": {"n_time_latents": 4, "n_behavior_latents": 2},
    "split 6+3": {"n_time_latents": 6, "n_behavior_latents": 3},
    "200 neurons": {"n_time_neurons": 100, "n_behavior_neurons": 100},
    "time scales 0.03 / 0.2": {"latent_dynamics": "ou", "step_std": 0.03,
                               "behavior_step_std": 0.2},
    "T=5k OU tanh Poisson": {"n_samples": 5_000, "latent_dynamics": "ou",
                             "nonlinearity": "tanh", "observation": "poisson",
                             "mean_count": 2.0},
    # Other ground truths: in the paper's, every time row is all True, which rewards a map
    # whose time rows are merely larger than its behaviour rows.
    "disjoint blocks": {"connectivity": "disjoint"},
    "mirrored blocks": {"connectivity": "mirrored"},
    "T=1k mirrored": {"n_samples": 1_000, "connectivity": "mirrored"},
    # Time-only latents that move with the behaviour in part (an internal state that follows
    # it): against the unmixing's assumption (skattr/_unmixing.py) that they do not.
    "coupled latents 0.3": {"latent_coupling": 0.3},
    "coupled latents 0.6": {"latent_coupling": 0.6},
    "coupled 0.6, disjoint": {"latent_coupling": 0.6, "connectivity": "disjoint"},
    "coupled 0.6, mirrored": {"latent_coupling": 0.6, "connectivity": "mirrored"},
}
QUICK = {
    "T=1k": SETTINGS["T=1k"],
    # 3,000 samples: one encoder under n_encoders="auto" (from 2,880 for 6 latents), as
    # everywhere in the family but T = 1k; T = 1k guards the ensemble.
    "Poisson, 1 count/bin": {**SETTINGS["Poisson, 1 count/bin"], "n_samples": 3_000},
    "split 2+4": {**SETTINGS["split 2+4"], "n_samples": 3_000},
}


def dataset(setting: dict, seed: int):
    """The data of one cell: ``(X, y, ground_truth, n_behavior, n_time)``."""
    from skattr.datasets import make_synthetic

    kwargs = {**BASE, **setting}
    X, y, _, truth = make_synthetic(**kwargs, random_state=seed)
    return X, y, truth, kwargs.get("n_behavior_latents", 3), kwargs.get("n_time_latents", 3)


def run_cell(setting: dict, seed: int, params: dict, method: str) -> dict:
    """Fit one model on one data set and score its maps (in a worker: one torch thread)."""
    import torch

    torch.set_num_threads(1)
    from skattr.metrics import attribution_auc

    X, y, truth, n_behavior, n_time = dataset(setting, seed)
    start = time.perf_counter()
    if method == "skattr":
        from skattr import xCEBRAAttributor

        model = xCEBRAAttributor(n_behavior, n_time, **{"device": "cpu", "random_state": seed,
                                                        **params})
        model.fit(X, y)
        inverted, gradient = model.attribution_map_, model.attribute(X, method="gradient")
        # The inverse of the encoder's own Jacobian, without the blocks' unmixing (0.14's map).
        extra = {"inverted_own": attribution_auc(truth, model.attribute(X, output_map=None))}
    else:
        sys.path.insert(0, str(Path(__file__).parent))  # worker processes start without it
        from _cebra_xcebra import cebra_maps

        inverted, gradient = cebra_maps(X, y, n_behavior, n_time, seed, **params)
        extra = {}
    return {
        "inverted_gradient": attribution_auc(truth, inverted),
        "gradient": attribution_auc(truth, gradient),
        "seconds": time.perf_counter() - start,
        **extra,
    }


def cell_key(name: str, setting: dict, seed: int, params: dict, method: str) -> str:
    """The cache key of a cell: for skattr with *all* estimator parameters, so that cells of
    earlier defaults are not mistaken for the current ones."""
    if method == "skattr":
        params = estimator_params(params, drop=("device", "random_state", "verbose"))
    return json.dumps([method, name, setting, seed, params], sort_keys=True, default=str)


def run(settings: dict, seeds: list[int], params: dict, method: str, jobs: int,
        cache: Path | None) -> dict[str, list[dict]]:
    """Scores of every (setting, seed) cell, read from ``cache`` where it has them."""
    from joblib import Parallel, delayed

    done = read_cache(cache)
    cells = [(name, setting, seed) for name, setting in settings.items() for seed in seeds]
    todo = [cell for cell in cells if cell_key(*cell, params, method) not in done]
    print(f"{len(cells) - len(todo)} of {len(cells)} cells cached; running {len(todo)}",
          flush=True)
    # One thread per worker process: torch's OpenMP threads oversubscribe the cores otherwise.
    results = Parallel(n_jobs=jobs, return_as="generator_unordered", verbose=0)(
        delayed(_keyed_cell)(name, setting, seed, params, method) for name, setting, seed in todo
    )
    for key, name, seed, result in results:
        done[key] = result
        print(f"  {name:<24} seed {seed}: inverted {result['inverted_gradient']:.3f}  "
              f"gradient {result['gradient']:.3f}  ({result['seconds']:.0f} s)", flush=True)
        append_cache(cache, key, result)
    return {name: [done[cell_key(name, setting, seed, params, method)] for seed in seeds]
            for name, setting in settings.items()}


def _keyed_cell(name, setting, seed, params, method):
    os.environ["OMP_NUM_THREADS"] = "1"
    return cell_key(name, setting, seed, params, method), name, seed, run_cell(
        setting, seed, params, method)


def summarise(scores: dict[str, list[dict]]) -> dict:
    """Per setting the mean and worst AUC of each map; over settings the mean and the worst."""
    rows = {}
    for name, cells in scores.items():
        inverted = np.array([cell["inverted_gradient"] for cell in cells])
        gradient = np.array([cell["gradient"] for cell in cells])
        rows[name] = {"inverted_mean": inverted.mean(), "inverted_min": inverted.min(),
                      "gradient_mean": gradient.mean(), "gradient_min": gradient.min(),
                      "inverted_all": inverted.tolist()}
        if all("inverted_own" in cell for cell in cells):
            rows[name]["own_mean"] = float(np.mean([cell["inverted_own"] for cell in cells]))
    means = np.array([row["inverted_mean"] for row in rows.values()])
    gradient_means = np.array([row["gradient_mean"] for row in rows.values()])
    worst = min(rows, key=lambda name: rows[name]["inverted_mean"])
    return {
        "rows": rows,
        "inverted_mean": float(means.mean()),
        "worst_setting": worst,
        "inverted_worst": float(rows[worst]["inverted_mean"]),
        "inverted_worst_fit": float(min(row["inverted_min"] for row in rows.values())),
        "gradient_mean": float(gradient_means.mean()),
        "settings_where_inverted_beats_gradient": int((means > gradient_means).sum()),
    }


def print_table(summary: dict, label: str) -> None:
    """The summary as markdown; the inverse of the encoder's own Jacobian (``unmix_blocks``
    off) in a last column where every cell has it."""
    own = all("own_mean" in row for row in summary["rows"].values())
    print(f"\n{label}\n")
    print("| setting | inverted gradient: mean | worst seed | seeds | gradient: mean | worst |"
          + (" not unmixed: mean |" if own else ""))
    print("|---|---:|---:|---|---:|---:|" + ("---:|" if own else ""))
    for name, row in summary["rows"].items():
        seeds = " / ".join(f"{value:.3f}" for value in row["inverted_all"])
        print(f"| {name} | {row['inverted_mean']:.3f} | {row['inverted_min']:.3f} | {seeds} | "
              f"{row['gradient_mean']:.3f} | {row['gradient_min']:.3f} |"
              + (f" {row['own_mean']:.3f} |" if own else ""))
    own_mean = np.mean([row["own_mean"] for row in summary["rows"].values()]) if own else 0
    print(f"| **all settings** | **{summary['inverted_mean']:.3f}** | "
          f"{summary['inverted_worst_fit']:.3f} | | {summary['gradient_mean']:.3f} | |"
          + (f" {own_mean:.3f} |" if own else ""))
    print(f"\nworst setting: {summary['worst_setting']} "
          f"(inverted gradient {summary['inverted_worst']:.3f}); inverted above gradient in "
          f"{summary['settings_where_inverted_beats_gradient']} of {len(summary['rows'])}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 small settings, 1 seed")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per setting (3; quick 1)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument("--settings", nargs="*", default=None, help="names of settings to run")
    parser.add_argument("--params", default="{}", help="estimator parameters as JSON")
    parser.add_argument("--cebra", action="store_true", help="cebra 0.6.1 instead of skattr")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--cache", default="benchmarks/robustness_cache.jsonl",
                        help="JSON-lines file of finished cells ('' for none)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else SETTINGS
    if args.settings:
        settings = {name: settings[name] for name in args.settings}
    seeds = list(range(args.first_seed, args.first_seed + (args.seeds or (1 if args.quick
                                                                         else 3))))
    params = json.loads(args.params)
    method = "cebra" if args.cebra else "skattr"
    scores = run(settings, seeds, params, method, args.jobs, Path(args.cache) if args.cache
                 else None)
    summary = summarise(scores)
    print_table(summary, f"{method} {json.dumps(params)}, seeds {seeds}")
    return summary


if __name__ == "__main__":
    main()

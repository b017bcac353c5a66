"""The xCEBRA paper's synthetic benchmark: every attribution method, regulariser off and on,
contrastive and supervised encoders, AUC with a 95 % bootstrap interval over data sets.

Each seed is one data set of ``make_synthetic`` (the paper's generator: 100,000 samples, 3 + 3
latents, 25 + 25 neurons) with its own random mixing. On each, four encoders are trained
(``objective`` contrastive / supervised x ``regularizer_weight`` 0 / 0.1, everything else at
skattr's defaults), and every method's map is scored by ROC AUC against the ground truth:

- inverted gradient (xCEBRA), gradient, input x gradient, integrated gradients (zero baseline,
  50 Gauss-Legendre steps), feature ablation (zero baseline), gradient SHAP with zero and with
  shuffled baselines (5 samples, no noise), and label-free IGC (the absolute value of its map).

Maps are computed on ``--map-samples`` evenly spaced samples of the 100,000 (all methods see the
same ones; the inverted gradient on all of them is ``attribution_map_``, also reported). The
table gives, per method and encoder, the mean AUC over seeds with a 95 % percentile bootstrap
interval over the seeds (1,000 resamples), and the linear R² of the true latents from the
embedding (``LinearRegression`` on the map samples).

Finished cells (one seed x one encoder) are cached in ``--cache``; an interrupted run resumes.
Sized for 2 CPU cores in under an hour: 10 seeds x 4 encoders of 2,000 steps at batch 512, two
at a time with one thread each. The paper's own configuration (batch 5,000, 20,000 steps,
learning rate 3e-4, regulariser on at 2,500 and full at 5,000) is meant for a GPU::

    python benchmarks/paper_table.py                               # 2 CPU cores
    python benchmarks/paper_table.py --paper --jobs 1 --device cuda  # the paper's set-up
    python benchmarks/paper_table.py --cebra                        # + cebra 0.6.1's xCEBRA
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

N_SAMPLES = 100_000
ENCODERS = {
    "contrastive, λ=0": {"objective": "contrastive", "regularizer_weight": 0.0},
    "contrastive, λ=0.1": {"objective": "contrastive", "regularizer_weight": 0.1},
    "supervised, λ=0": {"objective": "supervised", "regularizer_weight": 0.0},
    "supervised, λ=0.1": {"objective": "supervised", "regularizer_weight": 0.1},
}
PAPER = {"batch_size": 5000, "max_iter": 20_000, "learning_rate": 3e-4,
         "regularizer_start": 2500, "regularizer_full": 5000}
METHODS = {
    "inverted gradient": ("inverted-gradient", {}),
    "gradient": ("gradient", {}),
    "input x gradient": ("input-x-gradient", {}),
    "integrated gradients": ("integrated-gradients", {"n_steps": 50}),
    "feature ablation": ("feature-ablation", {}),
    "gradient SHAP (zeros)": ("gradient-shap", {"baselines": "zeros", "n_samples": 5}),
    "gradient SHAP (shuffle)": ("gradient-shap", {"baselines": "shuffle", "n_samples": 5}),
    "IGC (label-free)": ("igc", {"n_steps": 50}),
}


def score_maps(encoder, X, latents, truth, seed) -> dict:
    """Every method's AUC and the linear R² of the latents, for a trained torch encoder."""
    import torch
    from sklearn.linear_model import LinearRegression

    from skattr.attribution import attribute
    from skattr.metrics import attribution_auc

    inputs = torch.as_tensor(X, dtype=torch.float32)
    aucs = {}
    for name, (method, params) in METHODS.items():
        if method == "gradient-shap":
            params = {**params, "random_state": seed}
        attribution = attribute(encoder, inputs, method, **params)
        aucs[name] = attribution_auc(truth, np.abs(attribution))
    with torch.no_grad():
        embedding = encoder(inputs).numpy()
    r2 = LinearRegression().fit(embedding, latents).score(embedding, latents)
    return {"auc": aucs, "latent_r2": float(r2)}


def run_cell(seed: int, encoder_name: str, params: dict, map_samples: int,
             n_samples: int = N_SAMPLES) -> dict:
    import torch

    torch.set_num_threads(1)
    from skattr import xCEBRAAttributor
    from skattr.datasets import make_synthetic
    from skattr.metrics import attribution_auc

    X, y, latents, truth = make_synthetic(n_samples, random_state=seed)
    subset = np.linspace(0, n_samples - 1, min(map_samples, n_samples)).astype(int)
    start = time.perf_counter()
    if encoder_name == "cebra xCEBRA":
        sys.path.insert(0, str(Path(__file__).parent))  # worker processes start without it
        from _cebra_xcebra import cebra_encoder

        encoder, full_map = cebra_encoder(X, y, 3, 3, seed)
    else:
        model = xCEBRAAttributor(3, 3, random_state=seed, **params).fit(X, y)
        encoder, full_map = model.module_.cpu(), model.attribution_map_
    fit_seconds = time.perf_counter() - start
    result = score_maps(encoder, X[subset], latents[subset], truth, seed)
    result["auc"]["inverted gradient, all samples"] = attribution_auc(truth, full_map)
    result["fit_seconds"] = fit_seconds
    return result


def cell_key(seed: int, encoder_name: str, params: dict, map_samples: int,
             n_samples: int) -> str:
    """The cache key of a cell, with *all* estimator parameters (defaults included), so that
    cells of earlier defaults (e.g. raw maps before ``row_norm``) are not mistaken for the
    current ones."""
    full = estimator_params(params, drop=("random_state", "verbose"))
    return json.dumps([seed, encoder_name, full, map_samples, n_samples], sort_keys=True,
                      default=str)


def _keyed(seed, encoder_name, params, map_samples, n_samples):
    os.environ["OMP_NUM_THREADS"] = "1"
    return (cell_key(seed, encoder_name, params, map_samples, n_samples), seed, encoder_name,
            run_cell(seed, encoder_name, params, map_samples, n_samples))


def bootstrap_interval(values: np.ndarray, n_bootstrap: int = 1000, seed: int = 0):
    """95 % percentile bootstrap interval of the mean of ``values`` (resampling data sets)."""
    rng = np.random.default_rng(seed)
    means = rng.choice(values, (n_bootstrap, len(values)), replace=True).mean(1)
    return np.percentile(means, [2.5, 97.5])


def main(argv: list[str] | None = None) -> dict:
    from joblib import Parallel, delayed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--n-samples", type=int, default=N_SAMPLES)
    parser.add_argument("--map-samples", type=int, default=10_000)
    parser.add_argument("--max-iter", type=int, default=None, help="override the steps")
    parser.add_argument("--paper", action="store_true", help="the paper's batch and steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cebra", action="store_true", help="add cebra 0.6.1's xCEBRA")
    parser.add_argument("--cache", default="benchmarks/paper_table_cache.jsonl")
    args = parser.parse_args(argv)
    common = {"device": args.device, **(PAPER if args.paper else {})}
    if args.max_iter:
        common["max_iter"] = args.max_iter
    encoders = {name: {**common, **params} for name, params in ENCODERS.items()}
    if args.cebra:
        encoders["cebra xCEBRA"] = {}
    cache = Path(args.cache) if args.cache else None
    done = read_cache(cache)
    cells = [(seed, name, params) for seed in range(args.seeds)
             for name, params in encoders.items()]

    def key(seed, name, params):
        return cell_key(seed, name, params, args.map_samples, args.n_samples)

    todo = [cell for cell in cells if key(*cell) not in done]
    print(f"{len(cells) - len(todo)} of {len(cells)} cells cached; running {len(todo)}",
          flush=True)
    for cell_id, seed, name, result in Parallel(n_jobs=args.jobs,
                                                return_as="generator_unordered")(
        delayed(_keyed)(*cell, args.map_samples, args.n_samples) for cell in todo
    ):
        done[cell_id] = result
        print(f"  seed {seed} {name}: inverted {result['auc']['inverted gradient']:.3f} "
              f"({result['fit_seconds']:.0f} s)", flush=True)
        append_cache(cache, cell_id, result)
    results = {name: [done[key(seed, name, params)] for seed in range(args.seeds)]
               for name, params in encoders.items()}
    return report(results)


def report(results: dict[str, list[dict]]) -> dict:
    """Print the table (methods x encoders) and return it."""
    names = list(results)
    methods = list(next(iter(results.values()))[0]["auc"])
    table = {}
    print("\n| method | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for method in methods:
        cells = []
        for name in names:
            values = np.array([cell["auc"][method] for cell in results[name]])
            low, high = bootstrap_interval(values)
            table[(method, name)] = (values.mean(), low, high)
            cells.append(f"{values.mean():.3f} [{low:.3f}, {high:.3f}]")
        print(f"| {method} | " + " | ".join(cells) + " |")
    r2 = [np.mean([cell["latent_r2"] for cell in results[name]]) for name in names]
    print("| linear R² of the latents | " + " | ".join(f"{v:.3f}" for v in r2) + " |")
    return {"table": {f"{m} / {n}": v for (m, n), v in table.items()}}


if __name__ == "__main__":
    main()

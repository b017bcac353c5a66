"""How the rows of a map are put on one scale, compared over the robustness family.

The pooled ROC AUC (one AUC over all ``K x N`` entries, as in the paper) compares entries of
different latents with each other. A latent's scale is not identified (each objective's block is
learnt up to an invertible linear map), so a row whose latent the encoder learnt with a small
gain has a large pseudo-inverse and outranks every other row. This benchmark fits each cell of
``robustness.py``'s family once, then scores the inverted and the plain neuron gradient with the
rows left as they are and normalised in several ways:

- ``raw``: ``mean_t |M_t|`` (``M_t`` the per-sample map), the paper's aggregate;
- ``max`` / ``l1`` / ``l2``: that mean with each row divided by its max, sum or Euclidean norm;
- ``sample-l2`` / ``sample-l1``: each sample's rows divided by their norm before the mean;
- ``sd``: each row in units of one standard deviation of its latent over the data (the inverse's
  row ``k`` times ``std(z_k)``: the change of each feature for a one-SD change of the latent;
  the gradient's row divided by it).

Finished cells are cached (``--cache``), keyed by setting, seed and estimator parameters.

Usage::

    python benchmarks/map_normalization.py --jobs 2
    python benchmarks/map_normalization.py --params '{"regularizer_weight": 1.0}' --jobs 2
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
from _variants import print_variant_table, run_cells  # noqa: E402 (after the path it is found on)
from robustness import SETTINGS, cell_key, dataset  # noqa: E402

AFTER = ("raw", "max", "l1", "l2", "sd")
PER_SAMPLE = ("sample-l1", "sample-l2")


def normalized_maps(per_sample_batches, latent_scale: np.ndarray) -> dict[str, np.ndarray]:
    """Every variant of the reduced map from batches of per-sample maps ``(B, K, N)``;
    ``latent_scale`` multiplies row ``k`` for the ``"sd"`` variant. The norms are skattr's own
    (:func:`skattr.metrics.normalize_rows`), so the variants are what ``row_norm`` computes."""
    from skattr.metrics import normalize_rows

    sums = {name: 0.0 for name in ("raw", *PER_SAMPLE)}
    count = 0
    for batch in per_sample_batches:
        values = np.abs(batch)
        sums["raw"] = sums["raw"] + values.sum(0)
        for name in PER_SAMPLE:
            sums[name] = sums[name] + normalize_rows(values, name.removeprefix("sample-")).sum(0)
        count += len(batch)
    maps = {name: total / count for name, total in sums.items()}
    for norm in ("max", "l1", "l2"):
        maps[norm] = normalize_rows(maps["raw"], norm)
    maps["sd"] = maps["raw"] * latent_scale[:, None]
    return maps


def run_cell(setting: dict, seed: int, params: dict) -> dict:
    """Fit one model and score every variant of both maps (in a worker: one torch thread)."""
    import torch

    torch.set_num_threads(1)
    from skattr import xCEBRAAttributor
    from skattr.metrics import attribution_auc

    X, y, truth, n_behavior, n_time = dataset(setting, seed)
    start = time.perf_counter()
    model = xCEBRAAttributor(n_behavior, n_time, **{"device": "cpu", "random_state": seed,
                                                    **params}).fit(X, y)
    result = {"seconds": time.perf_counter() - start,
              "behavior_r2": float(model.behavior_r2_)}
    latent_sd = model.transform(X).std(0)
    result["latent_sd"] = latent_sd.tolist()
    for method, latent_scale in (("inverted-gradient", latent_sd), ("gradient", 1 / latent_sd)):
        batches = (model.attribute(X[i:i + 2048], method=method, return_per_sample=True,
                                   row_norm=None)
                   for i in range(0, len(X), 2048))
        maps = normalized_maps(batches, latent_scale)
        for variant, values in maps.items():
            result[f"{method}/{variant}"] = attribution_auc(truth, values)
        # Kept, so that other normalisations can be scored later without refitting.
        result[f"{method}/raw-map"] = maps["raw"].tolist()
    return result


def normalization_key(name: str, setting: dict, seed: int, params: dict) -> str:
    """A cell's cache key: robustness.py's, marked so that the two benchmarks' cells differ."""
    return "normalization:" + cell_key(name, setting, seed, params, "skattr")


def _keyed_cell(name, setting, seed, params):
    os.environ["OMP_NUM_THREADS"] = "1"
    return normalization_key(name, setting, seed, params), name, seed, run_cell(
        setting, seed, params)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting")
    parser.add_argument("--settings", nargs="*", default=None, help="names of settings to run")
    parser.add_argument("--params", default="{}", help="estimator parameters as JSON")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--cache", default="benchmarks/map_normalization_cache.jsonl",
                        help="JSON-lines file of finished cells ('' for none)")
    args = parser.parse_args(argv)
    settings = {name: SETTINGS[name] for name in args.settings} if args.settings else SETTINGS
    params = json.loads(args.params)

    def key(name, setting, seed):
        return normalization_key(name, setting, seed, params)

    def report(name, seed, result):
        print(f"  {name:<24} seed {seed}: " + "  ".join(
            f"{variant} {result['inverted-gradient/' + variant]:.3f}"
            for variant in (*AFTER, *PER_SAMPLE)), flush=True)

    cells = [(name, settings[name], seed) for name in settings for seed in range(args.seeds)]
    done = run_cells(cells, key, lambda *cell: _keyed_cell(*cell, params), args.jobs,
                     Path(args.cache) if args.cache else None, report)
    variants = [f"{method}/{variant}" for method in ("inverted-gradient", "gradient")
                for variant in (*AFTER, *PER_SAMPLE)]
    table = {name: {variant: [done[key(name, settings[name], seed)][variant]
                              for seed in range(args.seeds)] for variant in variants}
             for name in settings}
    labels = [v.replace("inverted-gradient", "inv").replace("gradient", "grad") for v in variants]
    return print_variant_table(table, variants, labels,
                               f"mean AUC over seeds, {json.dumps(params)}")

if __name__ == "__main__":
    main()

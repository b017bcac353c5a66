"""The inverse's damping and the rows' norm, compared over the robustness family.

The exact pseudo-inverse of each sample's Jacobian divides by the small eigenvalues of the
correlation of its rows: where two latents' gradients nearly coincide, the inverse's entries
are large and change from sample to sample, and an entry that is zero on average is not zero in
magnitude. ``damping`` (:class:`skattr.attribution.InvertedNeuronGradient`) stops dividing by
eigenvalues below about its value; as it grows the map tends to the plain gradient's. This
benchmark fits each cell of ``robustness.py``'s family once and scores, with the estimator's own
``attribute``, the inverted gradient at several dampings and the plain gradient, each with every
sample's rows left as they are (``raw``, the paper's aggregate), divided by their L2 norm or by
their largest entry (``row_norm``).

The fit does not depend on ``row_norm`` or ``inverse_damping``, so the cells are keyed without
them. Finished cells are cached (``--cache``).

Usage::

    python benchmarks/inverse_damping.py --jobs 2
    python benchmarks/inverse_damping.py --seeds 2 --settings "linear mixing" "T=1k"
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
from _cache import append_cache, read_cache  # noqa: E402 (after the path it is found on)
from robustness import SETTINGS, cell_key, dataset  # noqa: E402

DAMPINGS = (0.0, 0.1, 0.3, 1.0, 3.0)
NORMS = ("raw", "l2", "max")
MAP_PARAMS = ("row_norm", "inverse_damping")


def variants() -> list[str]:
    """Column names: ``inverse d=<damping>/<norm>`` and ``gradient/<norm>``."""
    return [f"inverse d={damping:g}/{norm}" for damping in DAMPINGS for norm in NORMS] + [
        f"gradient/{norm}" for norm in NORMS]


def run_cell(setting: dict, seed: int, params: dict) -> dict:
    """Fit one model and score every variant (in a worker: one torch thread)."""
    import torch

    torch.set_num_threads(1)
    from skattr import xCEBRAAttributor
    from skattr.metrics import attribution_auc, normalize_rows

    X, y, truth, n_behavior, n_time = dataset(setting, seed)
    start = time.perf_counter()
    model = xCEBRAAttributor(n_behavior, n_time, **{"device": "cpu", "random_state": seed,
                                                    **params}).fit(X, y)
    result = {"seconds": time.perf_counter() - start, "behavior_r2": float(model.behavior_r2_)}
    per_method = {f"inverse d={damping:g}": {"damping": damping} for damping in DAMPINGS}
    per_method["gradient"] = {"method": "gradient"}
    for name, method_params in per_method.items():
        # Raw signed per-sample maps once, then each norm of skattr's own (what row_norm does).
        per_sample = np.abs(model.attribute(X, return_per_sample=True, row_norm=None,
                                            **method_params))
        for norm in NORMS:
            rows = per_sample if norm == "raw" else normalize_rows(per_sample, norm)
            result[f"{name}/{norm}"] = attribution_auc(truth, rows.mean(0))
    return result


def damping_key(name: str, setting: dict, seed: int, params: dict) -> str:
    """A cell's cache key: robustness.py's without the map's parameters, marked as this
    benchmark's."""
    fit_params = {key: value for key, value in params.items() if key not in MAP_PARAMS}
    return "damping:" + cell_key(name, setting, seed, {**fit_params, "row_norm": None,
                                                       "inverse_damping": 0.0}, "skattr")


def _keyed_cell(name, setting, seed, params):
    os.environ["OMP_NUM_THREADS"] = "1"
    return damping_key(name, setting, seed, params), name, seed, run_cell(setting, seed, params)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument("--settings", nargs="*", default=None, help="names of settings to run")
    parser.add_argument("--params", default="{}", help="estimator parameters as JSON")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--cache", default="benchmarks/inverse_damping_cache.jsonl",
                        help="JSON-lines file of finished cells ('' for none)")
    args = parser.parse_args(argv)
    from joblib import Parallel, delayed

    settings = {name: SETTINGS[name] for name in args.settings} if args.settings else SETTINGS
    params = json.loads(args.params)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    cache = Path(args.cache) if args.cache else None
    done = read_cache(cache)
    cells = [(name, settings[name], seed) for name in settings for seed in seeds]
    todo = [cell for cell in cells if damping_key(*cell, params) not in done]
    print(f"{len(cells) - len(todo)} of {len(cells)} cells cached; running {len(todo)}",
          flush=True)
    for cell_id, name, seed, result in Parallel(
            n_jobs=args.jobs, return_as="generator_unordered")(
            delayed(_keyed_cell)(name, setting, seed, params) for name, setting, seed in todo):
        done[cell_id] = result
        append_cache(cache, cell_id, result)
        print(f"  {name:<24} seed {seed}: exact/l2 {result['inverse d=0/l2']:.3f}  "
              f"d=1/max {result['inverse d=1/max']:.3f}  ({result['seconds']:.0f} s)",
              flush=True)
    columns = variants()
    table = {name: {column: [done[damping_key(name, settings[name], seed, params)][column]
                             for seed in seeds] for column in columns}
             for name in settings}
    print(f"\nmean AUC over seeds {seeds}, {json.dumps(params)}\n")
    print("| setting | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{np.mean(row[c]):.3f}" for c in columns) + " |")
    means = {c: float(np.mean([np.mean(row[c]) for row in table.values()])) for c in columns}
    worst = {c: float(min(np.mean(row[c]) for row in table.values())) for c in columns}
    worst_fit = {c: float(min(min(row[c]) for row in table.values())) for c in columns}
    print("| **mean** | " + " | ".join(f"**{means[c]:.3f}**" for c in columns) + " |")
    print("| worst setting | " + " | ".join(f"{worst[c]:.3f}" for c in columns) + " |")
    print("| worst fit | " + " | ".join(f"{worst_fit[c]:.3f}" for c in columns) + " |")
    return {"table": table, "mean": means, "worst": worst}


if __name__ == "__main__":
    main()

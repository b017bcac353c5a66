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
from _variants import print_variant_table, run_cells  # noqa: E402 (after the path it is found on)
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
    settings = {name: SETTINGS[name] for name in args.settings} if args.settings else SETTINGS
    params = json.loads(args.params)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))

    def key(name, setting, seed):
        return damping_key(name, setting, seed, params)

    def report(name, seed, result):
        print(f"  {name:<24} seed {seed}: exact/l2 {result['inverse d=0/l2']:.3f}  "
              f"d=1/max {result['inverse d=1/max']:.3f}  ({result['seconds']:.0f} s)",
              flush=True)

    cells = [(name, settings[name], seed) for name in settings for seed in seeds]
    done = run_cells(cells, key, lambda *cell: _keyed_cell(*cell, params), args.jobs,
                     Path(args.cache) if args.cache else None, report)
    columns = variants()
    table = {name: {column: [done[key(name, settings[name], seed)][column] for seed in seeds]
                    for column in columns} for name in settings}
    return print_variant_table(table, columns, columns,
                               f"mean AUC over seeds {seeds}, {json.dumps(params)}")

if __name__ == "__main__":
    main()

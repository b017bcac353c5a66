"""The blocks' unmixing before the inverse, screened over the robustness family.

With the time objective on the whole embedding the time block may hold a part of the behaviour
latents (``skattr/_unmixing.py``). This benchmark fits each cell of ``robustness.py``'s family
once with the estimator's defaults, keeps its signed per-sample Jacobians and its embedding
(``--dump-dir``, outside the repository: about 24 MB a cell), and scores from them, with the
defaults' map otherwise (damping 1, rows on their largest entry):

- ``gradient``: the plain gradient;
- ``own``: the inverse of the encoder's own Jacobian (0.14's map);
- ``values``: the time block's *values* regressed on the behaviour block's, removed;
- ``increments <lag>``: the same with increments over ``lag`` samples (``offset``: the fit's
  time offset), every row of the map from the unmixed inverse;
- ``behaviour rows``: the increments over the offset, the behaviour rows from the unmixed
  inverse and the time rows from the encoder's own (``unmix_blocks=True`` in 0.15);
- ``sparse``: the unmixing that makes the behaviour rows sparsest, from the inverse on at most
  4,000 kept samples evenly spaced (:func:`skattr._unmixing.block_unmixing`; from 0.16), the
  time rows from the encoder's own;
- ``sparse, window``: the same with the behaviour rows solved with the correlation of the
  Jacobian's rows averaged over the fit's time offset (``inverse_window="auto"``, from 0.17;
  at T = 100,000 over the kept samples, each about 5 samples apart).
- ``sparse, windows``: the same with the signed maps of the behaviour rows averaged over the
  samples that their white fraction calls for, at most the time offset
  (``inverse_map_window="auto"``, from 0.18).

Both regressions remove whatever the blocks share, and so assume that the time-only latents do
not move with the behaviour; the family's ``coupled`` settings break that assumption, which the
sparse unmixing does not make.

At T = 100,000 the Jacobians of 20,000 samples drawn at random are kept; every other setting
keeps all samples.

Usage::

    python benchmarks/unmixing_screen.py --jobs 2
    python benchmarks/unmixing_screen.py --jobs 2 --first-seed 3 --seeds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _variants import print_variant_table  # noqa: E402 (after the path it is found on)
from robustness import SETTINGS, dataset  # noqa: E402

KEPT_SAMPLES = 20_000
LAGS = (1, 5, 20, "offset")


def dump_path(directory: Path, name: str, seed: int) -> Path:
    return directory / f"{name.replace('/', '_').replace(' ', '_')}_s{seed}.npz"


def dump_cell(directory: Path, name: str, seed: int) -> str:
    """Fit one cell and keep its Jacobians and embedding (in a worker: one torch thread)."""
    import torch

    torch.set_num_threads(1)
    from skattr import xCEBRAAttributor

    path = dump_path(directory, name, seed)
    if path.exists():
        return f"{name} seed {seed}: kept"
    X, y, truth, n_behavior, n_time = dataset(SETTINGS[name], seed)
    start = time.perf_counter()
    model = xCEBRAAttributor(n_behavior, n_time, device="cpu", random_state=seed).fit(X, y)
    seconds = time.perf_counter() - start
    rows = np.sort(np.random.default_rng(0).choice(len(X), min(KEPT_SAMPLES, len(X)),
                                                   replace=False))
    jacobians = model.attribute(X[rows], method="gradient", return_per_sample=True,
                                row_norm=None)
    np.savez(path, J=jacobians.astype(np.float32), Z=model.transform(X).astype(np.float32),
             truth=truth, lag=model.time_offset_, n_behavior=n_behavior, seconds=seconds)
    return f"{name} seed {seed}: fitted in {seconds:.0f} s"


def damped_rows(jacobians: np.ndarray, window: int = 1, map_window: int | str = 1,
                mapped: int | None = None) -> np.ndarray:
    """Each sample's damped inverse (damping 1), rows on their largest entry, ``|.|``; with
    ``window > 1`` solved with the rows' correlation averaged over that many samples; with
    ``map_window`` the signed maps of the first ``mapped`` rows (all rows by default) averaged
    over that many samples first (``"auto"``: from their white fraction, at most ``window``)."""
    import torch

    from skattr.attribution.inverted_gradient import (
        WhiteFraction,
        damped_inverse,
        moving_average,
        row_correlation,
    )
    from skattr.metrics import normalize_rows

    jacobians = torch.as_tensor(jacobians, dtype=torch.float64)
    correlations, units, _ = row_correlation(jacobians)
    correlation = None if window == 1 else moving_average(correlations, window)
    maps = damped_inverse(jacobians, 1.0, correlation)
    rows = slice(0, mapped)
    if map_window == "auto":
        white = WhiteFraction()
        white.update(units[:, rows])
        map_window = white.window(window)
    if map_window > 1:
        maps[:, rows] = moving_average(maps[:, rows], map_window)
    return normalize_rows(np.abs(maps.numpy()), "max")


def regression_unmixing(embedding: np.ndarray, behavior: list[int], time_only: list[int],
                        lag: int | None) -> np.ndarray:
    """The identity but for minus the coefficients of the time dimensions regressed on the
    behaviour dimensions: their increments over ``lag`` samples (0.15's ``block_unmixing_``),
    or with ``lag=None`` their values."""
    embedding = embedding.astype(np.float64)
    if lag is not None:
        embedding = embedding[lag:] - embedding[:-lag]
    centred = embedding - embedding.mean(0)
    coefficients = np.linalg.lstsq(centred[:, behavior], centred[:, time_only], rcond=None)[0]
    unmixing = np.eye(embedding.shape[1])
    unmixing[np.ix_(time_only, behavior)] = -coefficients.T
    return unmixing


def sparse_unmixing(jacobians: np.ndarray, behavior: list[int], time_only: list[int]):
    """The estimator's ``block_unmixing_`` from the kept Jacobians: the damped inverse on at
    most as many of them as the estimator takes, evenly spaced."""
    import torch

    from skattr._unmixing import UNMIXING_DAMPING, block_unmixing, unmixing_rows
    from skattr.attribution.inverted_gradient import damped_inverse

    maps = damped_inverse(torch.as_tensor(jacobians[unmixing_rows(len(jacobians))],
                                          dtype=torch.float64), UNMIXING_DAMPING).numpy()
    return block_unmixing(maps, behavior, time_only)


def score_cell(path: Path) -> dict[str, float]:
    """Every variant's ROC AUC on one kept cell."""
    from skattr.metrics import attribution_auc, normalize_rows

    cell = np.load(path)
    jacobians, embedding, truth = cell["J"].astype(np.float64), cell["Z"], cell["truth"]
    n_behavior = int(cell["n_behavior"])
    behavior = list(range(n_behavior))
    time_only = list(range(n_behavior, embedding.shape[1]))
    own = damped_rows(jacobians)
    unmixings = {"values": regression_unmixing(embedding, behavior, time_only, None)}
    for lag in LAGS:
        unmixings[f"increments {lag}"] = regression_unmixing(
            embedding, behavior, time_only, int(cell["lag"]) if lag == "offset" else lag)
    scores = {"gradient": attribution_auc(truth, normalize_rows(np.abs(jacobians), "max")
                                          .mean(0)),
              "own": attribution_auc(truth, own.mean(0))}
    for name, unmixing in unmixings.items():
        unmixed = damped_rows(unmixing @ jacobians)
        scores[name] = attribution_auc(truth, unmixed.mean(0))
        if name == "increments offset":
            unmixed[:, n_behavior:] = own[:, n_behavior:]
            scores["behaviour rows"] = attribution_auc(truth, unmixed.mean(0))
    # The sparse unmixing leaves the time columns of U alone: its time rows are the own's.
    unmixed = sparse_unmixing(jacobians, behavior, time_only) @ jacobians
    lag = int(cell["lag"])
    for name, window, map_window in (("sparse", 1, 1), ("sparse, window", lag, 1),
                                     ("sparse, windows", lag, "auto")):
        sparse = damped_rows(unmixed, window, map_window, n_behavior)
        sparse[:, n_behavior:] = own[:, n_behavior:]
        scores[name] = attribution_auc(truth, sparse.mean(0))
    return scores


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument("--settings", nargs="*", default=None, help="names of settings to run")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--dump-dir", default="/tmp/skattr_unmixing",
                        help="where each cell's Jacobians are kept")
    args = parser.parse_args(argv)
    from joblib import Parallel, delayed

    directory = Path(args.dump_dir)
    directory.mkdir(parents=True, exist_ok=True)
    names = args.settings or list(SETTINGS)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    os.environ["OMP_NUM_THREADS"] = "1"
    for line in Parallel(n_jobs=args.jobs, return_as="generator_unordered")(
            delayed(dump_cell)(directory, name, seed) for name in names for seed in seeds):
        print(line, flush=True)
    table: dict[str, dict[str, list[float]]] = {}
    for name in names:
        for seed in seeds:
            for variant, value in score_cell(dump_path(directory, name, seed)).items():
                table.setdefault(name, {}).setdefault(variant, []).append(value)
    columns = list(next(iter(table.values())))
    summary = print_variant_table(table, columns, columns, f"seeds {seeds}, ROC AUC")
    ahead = {c: sum(np.mean(row[c]) > np.mean(row["gradient"]) for row in table.values())
             for c in columns if c != "gradient"}
    print("\nabove the plain gradient in " + ", ".join(f"{c}: {n} of {len(table)}"
                                                      for c, n in ahead.items()))
    return summary


if __name__ == "__main__":
    main()

"""Calibration and power of ``skattr.stats.attribution_null``, and the same null on Dask.

- ``calibration``: ``y`` independent of ``X`` (``X`` and ``y`` from different seeds of
  ``make_synthetic``), ``--repetitions`` nulls of 19 surrogates each: the false-positive rate of
  the behaviour block's block-level p-values at alpha = 0.05 over all entries and repetitions
  (exactly 0.05 in expectation for an exchangeable null);
- ``power``: ``make_synthetic`` at T = 20,000 (or a setting of the robustness benchmark,
  ``--setting``) with the defaults and ``--surrogates`` (the user guide's recommendation):
  recall of the behaviour block's true entries at FDR 0.05 and the false discovery proportion;
- ``dask``: one null with ``n_jobs=1`` and on a 2-worker ``dask.distributed.LocalCluster``,
  one torch thread per fit in both: identical p-values, and the wall time of each.

Calibration and power report the block-level p-values of ``attribution_null`` (the statistic
``block_contrast``) and, from the same fits, those of the normalised block maps themselves (the
statistic of skattr 0.6.0), so that the two compare without refitting.

Usage::

    python benchmarks/null_calibration.py calibration [--repetitions 10] [--jobs 2]
    python benchmarks/null_calibration.py power [--surrogates 49] [--jobs 2] [--setting NAME]
    python benchmarks/null_calibration.py dask
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import joblib
import numpy as np

from skattr import xCEBRAAttributor
from skattr.datasets import make_synthetic
from skattr.stats import attribution_null, benjamini_hochberg, empirical_p_values

sys.path.insert(0, str(Path(__file__).parent))
from robustness import BASE, SETTINGS  # noqa: E402 (after the path it is found on)

# Calibration and the Dask comparison train short fits on small data: the level of an
# exchangeable null does not depend on how good the fits are.
SHORT = dict(max_iter=300, batch_size=256, device="cpu")


def save_maps(path: str | None, results: list, **extra) -> None:
    """The observed and null maps of ``results`` in one ``.npz`` (other statistics of the same
    fits can then be computed without refitting)."""
    if path is None:
        return
    np.savez(path, observed_block=np.stack([r.observed_block for r in results]),
             null_block=np.stack([r.null_block for r in results]),
             observed_rows=np.stack([r.observed_rows for r in results]),
             null_rows=np.stack([r.null_rows for r in results]),
             block_names=np.array(results[0].block_names), **extra)


def behaviour_p_values(result) -> dict[str, np.ndarray]:
    """The behaviour block's p-values under each statistic, from the same fits."""
    row = result.block_names.index("behavior")
    return {"contrast": result.p_block[row],
            "block map": empirical_p_values(result.observed_block, result.null_block)[row]}


def calibration(repetitions: int, jobs: int, save: str | None) -> None:
    rates, results = {}, []
    for repetition in range(repetitions):
        X = make_synthetic(n_samples=2000, random_state=repetition)[0]
        y = make_synthetic(n_samples=2000, random_state=1000 + repetition)[1]
        result = attribution_null(xCEBRAAttributor(**SHORT), X, y, n_surrogates=19,
                                  random_state=repetition, n_jobs=jobs, threads=1)
        results.append(result)
        for name, p in behaviour_p_values(result).items():
            rates.setdefault(name, []).append(float(np.mean(p <= 0.05)))
            print(f"repetition {repetition}, {name}: false-positive rate {rates[name][-1]:.3f} "
                  f"(p-values: min {p.min():.2f}, median {np.median(p):.2f})", flush=True)
    for name, rate in rates.items():
        print(f"{name}: over {repetitions} repetitions x 50 entries, false-positive rate at "
              f"alpha = 0.05 {np.mean(rate):.3f} (per repetition "
              f"{' '.join(f'{r:.2f}' for r in rate)})")
    save_maps(save, results)


def power(surrogates: int, jobs: int, save: str | None, setting: str | None) -> None:
    kwargs = {**BASE, **(SETTINGS[setting] if setting else {})}
    n_behavior = kwargs.get("n_behavior_latents", 3)
    X, y, _, truth = make_synthetic(**kwargs, random_state=0)
    model = xCEBRAAttributor(n_behavior, kwargs.get("n_time_latents", 3))
    start = time.perf_counter()
    result = attribution_null(model, X, y, n_surrogates=surrogates, random_state=0,
                              n_jobs=jobs, threads=1, verbose=True)
    seconds = time.perf_counter() - start
    driven = truth[:n_behavior].any(0)  # features the behaviour latents drive
    print(f"{setting or 'make_synthetic'}, {surrogates} surrogates, {seconds / 60:.1f} min")
    for name, p in behaviour_p_values(result).items():
        q = benjamini_hochberg(p)
        found = q <= 0.05
        false = (found & ~driven).sum()
        print(f"{name}: recall {found[driven].mean():.3f} ({found[driven].sum()} of "
              f"{driven.sum()}), false discovery proportion {false / max(1, found.sum()):.3f} "
              f"({false} of {found.sum()} discoveries); q of true entries: max "
              f"{q[driven].max():.3f}; q of the others: min {q[~driven].min():.3f}")
    save_maps(save, [result], driven=driven)


def dask() -> None:
    import distributed

    X = make_synthetic(n_samples=2000, random_state=0)[0]
    y = make_synthetic(n_samples=2000, random_state=0)[1]
    kwargs = dict(n_surrogates=19, random_state=7, threads=1)
    start = time.perf_counter()
    serial = attribution_null(xCEBRAAttributor(**SHORT), X, y, n_jobs=1, **kwargs)
    serial_s = time.perf_counter() - start
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        start = time.perf_counter()
        on_dask = attribution_null(xCEBRAAttributor(**SHORT), X, y, n_jobs=-1, **kwargs)
        dask_s = time.perf_counter() - start
    same = np.array_equal(serial.p_block, on_dask.p_block) and np.array_equal(
        serial.p_rows, on_dask.p_rows)
    print(f"20 fits: n_jobs=1 {serial_s:.1f} s, 2-worker Dask LocalCluster {dask_s:.1f} s; "
          f"identical p-values: {same}; identical null maps: "
          f"{np.array_equal(serial.null_block, on_dask.null_block)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["calibration", "power", "dask"])
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--surrogates", type=int, default=49)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--save", help="an .npz file for the observed and null maps")
    parser.add_argument("--setting", choices=list(SETTINGS), default=None,
                        help="power on this setting of benchmarks/robustness.py")
    args = parser.parse_args()
    if args.part == "calibration":
        calibration(args.repetitions, args.jobs, args.save)
    elif args.part == "power":
        power(args.surrogates, args.jobs, args.save, args.setting)
    else:
        dask()


if __name__ == "__main__":
    main()

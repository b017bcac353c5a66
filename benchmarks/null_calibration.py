"""Calibration and power of ``skattr.stats.attribution_null``, and the same null on Dask.

- ``calibration``: ``y`` independent of ``X`` (``X`` and ``y`` from different seeds of
  ``make_synthetic``), ``--repetitions`` nulls of 19 surrogates each: the false-positive rate of
  the behaviour block's block-level p-values at alpha = 0.05 over all entries and repetitions
  (exactly 0.05 in expectation for an exchangeable null);
- ``power``: ``make_synthetic`` at T = 20,000 with the defaults and ``--surrogates`` (the
  user guide's recommendation): recall of the behaviour block's true entries at FDR 0.05 and the
  false discovery proportion;
- ``dask``: one null with ``n_jobs=1`` and on a 2-worker ``dask.distributed.LocalCluster``,
  one torch thread per fit in both: identical p-values, and the wall time of each.

Usage::

    python benchmarks/null_calibration.py calibration [--repetitions 10] [--jobs 2]
    python benchmarks/null_calibration.py power [--surrogates 49] [--jobs 2]
    python benchmarks/null_calibration.py dask
"""

from __future__ import annotations

import argparse
import time

import joblib
import numpy as np

from skattr import xCEBRAAttributor
from skattr.datasets import make_synthetic
from skattr.stats import attribution_null

# Calibration and the Dask comparison train short fits on small data: the level of an
# exchangeable null does not depend on how good the fits are.
SHORT = dict(max_iter=300, batch_size=256, device="cpu")


def calibration(repetitions: int, jobs: int) -> None:
    rates = []
    for repetition in range(repetitions):
        X = make_synthetic(n_samples=2000, random_state=repetition)[0]
        y = make_synthetic(n_samples=2000, random_state=1000 + repetition)[1]
        result = attribution_null(xCEBRAAttributor(**SHORT), X, y, n_surrogates=19,
                                  random_state=repetition, n_jobs=jobs, threads=1)
        behaviour = result.p_block[result.block_names.index("behavior")]
        rates.append(float(np.mean(behaviour <= 0.05)))
        print(f"repetition {repetition}: false-positive rate {rates[-1]:.3f} "
              f"(p-values: min {behaviour.min():.2f}, median {np.median(behaviour):.2f})",
              flush=True)
    print(f"\nover {repetitions} repetitions x 50 entries: false-positive rate at alpha = 0.05 "
          f"{np.mean(rates):.3f} (per repetition {min(rates):.2f} .. {max(rates):.2f})")


def power(surrogates: int, jobs: int) -> None:
    X, y, _, truth = make_synthetic(n_samples=20_000, random_state=0)
    start = time.perf_counter()
    result = attribution_null(xCEBRAAttributor(), X, y, n_surrogates=surrogates,
                              random_state=0, n_jobs=jobs, threads=1, verbose=True)
    seconds = time.perf_counter() - start
    driven = truth[:3].any(0)  # features the behaviour latents drive
    found = result.significant(0.05)
    recall = found[driven].mean()
    discoveries = max(1, found.sum())
    fdp = (found & ~driven).sum() / discoveries
    q = result.q_block[result.block_names.index("behavior")]
    print(f"{surrogates} surrogates, {seconds / 60:.1f} min: recall {recall:.3f} "
          f"({found[driven].sum()} of {driven.sum()}), false discovery proportion {fdp:.3f} "
          f"({(found & ~driven).sum()} of {found.sum()} discoveries); q of true entries: max "
          f"{q[driven].max():.3f}; q of the others: min {q[~driven].min():.3f}")


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
    args = parser.parse_args()
    if args.part == "calibration":
        calibration(args.repetitions, args.jobs)
    elif args.part == "power":
        power(args.surrogates, args.jobs)
    else:
        dask()


if __name__ == "__main__":
    main()

"""Fits side by side on a few cores: do they collapse when torch's threads oversubscribe them?

Each scenario runs in fresh processes (``python benchmarks/threads.py --worker ...``), so that
torch's thread pools start as a user's would:

``alone``
    one fit;
``one after the other``
    two fits in sequence (the reference);
``side by side``
    two fits as two processes started together (two notebooks, two terminals, a test run next
    to a fit);
``beside a busy core``
    one fit while another process keeps one core busy (a pure-Python loop);
``grid n_jobs=1`` / ``grid n_jobs=2``
    ``GridSearchCV`` over two regulariser weights with 2 folds (4 fits and a refit).

Each fit: ``make_synthetic`` with T = 20,000, ``max_iter`` steps, the inverted-gradient map at
the end. Usage::

    python benchmarks/threads.py [--max-iter 400] [--env OMP_WAIT_POLICY=ACTIVE]

Prints a Markdown table (the one in docs/benchmarks.md) of wall times and their ratio to the
reference.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def worker(kind: str, max_iter: int, n_jobs: int) -> None:
    from sklearn.model_selection import GridSearchCV, KFold

    from skattr import xCEBRAAttributor
    from skattr.datasets import make_synthetic

    X, y, _, _ = make_synthetic(n_samples=20_000, random_state=0)
    model = xCEBRAAttributor(max_iter=max_iter, device="cpu", random_state=0)
    if kind == "fit":
        model.fit(X, y)
    else:
        GridSearchCV(model, {"regularizer_weight": [0.0, 0.1]}, cv=KFold(2),
                     n_jobs=n_jobs).fit(X, y)


def run(n_processes: int, *args: str, env: dict | None = None) -> float:
    """Seconds for ``n_processes`` workers started together to all finish."""
    command = [sys.executable, __file__, "--worker", *args]
    start = time.perf_counter()
    processes = [subprocess.Popen(command, env={**os.environ, **(env or {})})
                 for _ in range(n_processes)]
    for process in processes:
        if process.wait() != 0:
            raise RuntimeError(f"worker {command} failed")
    return time.perf_counter() - start


def beside_busy_process(*args: str, env: dict | None = None) -> float:
    """Seconds for one worker while a pure-Python loop keeps one core busy."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        return run(1, *args, env=env)
    finally:
        busy.kill()
        busy.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=400)
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "MAX_ITER", "N_JOBS"))
    parser.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="environment variables of the workers (e.g. OMP_NUM_THREADS=1)")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    if args.worker:
        kind, max_iter, n_jobs = args.worker
        worker(kind, int(max_iter), int(n_jobs))
        return
    fit = ("fit", str(args.max_iter), "1")
    alone = run(1, *fit, env=env)
    sequential = alone + run(1, *fit, env=env)
    side_by_side = run(2, *fit, env=env)
    busy = beside_busy_process(*fit, env=env)
    grid_1 = run(1, "grid", str(args.max_iter), "1", env=env)
    grid_2 = run(1, "grid", str(args.max_iter), "2", env=env)
    print(f"{os.cpu_count()} cores, max_iter={args.max_iter}, T = 20,000, "
          f"environment {env or 'as is'}\n")
    print("| scenario | wall s | ratio |")
    print("|---|---:|---:|")
    print(f"| one fit alone | {alone:.1f} | |")
    print(f"| two fits one after the other | {sequential:.1f} | 1.00 |")
    print(f"| two fits side by side | {side_by_side:.1f} | {side_by_side / sequential:.2f} |")
    print(f"| one fit beside a busy core | {busy:.1f} | {busy / alone:.2f} (to alone) |")
    print(f"| GridSearchCV n_jobs=1 (5 fits) | {grid_1:.1f} | 1.00 |")
    print(f"| GridSearchCV n_jobs=2 (5 fits) | {grid_2:.1f} | {grid_2 / grid_1:.2f} |")


if __name__ == "__main__":
    main()

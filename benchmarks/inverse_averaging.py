"""Does averaging the inverse over time before taking magnitudes mend the weak settings?

The default map is ``mean_t |pinv(J_f(x_t))^T|`` with each sample's rows on a common scale
(``row_norm="l2"``). Entries that are truly zero but noisy from sample to sample average to a
positive value under the absolute value. This benchmark fits the defaults once per setting of
``benchmarks/robustness.py`` and scores, from that one fit:

- ``signed w``: the signed mean of the per-sample (row-normalised) inverses over consecutive
  windows of ``w`` samples, then the mean of its magnitude over windows (``w = 1`` is the
  default map, ``w = T`` the magnitude of the signed mean over all samples);
- ``pinv(mean J) w``: the pseudo-inverse of the Jacobian averaged over each window;
- ``linear decoder``: the coefficients of a least-squares regression of ``X`` on the embedding
  (``|B|``, ``X ~ Z B``), the inverse of a linear encoder read off the data.

Usage::

    python benchmarks/inverse_averaging.py --settings "linear mixing" tanh --seed 0

Cells are cached in ``--cache`` (one JSON line per setting and seed). One torch thread.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _cache import append_cache, estimator_params, read_cache  # noqa: E402 (after the path it is found on)
from robustness import SETTINGS, dataset  # noqa: E402

WINDOWS = (1, 10, 50, 250, 1000, None)  # None: one window of all samples


def windowed_magnitude(maps: torch.Tensor, window: int | None) -> torch.Tensor:
    """``maps`` ``(T, K, N)`` averaged (signed) over consecutive windows of ``window`` samples
    (a last, incomplete window dropped; ``None``: all samples), then the mean magnitude over
    windows, ``(K, N)``."""
    return window_means(maps, window).abs().mean(0)


def window_means(maps: torch.Tensor, window: int | None) -> torch.Tensor:
    """The signed means of ``maps`` ``(T, ...)`` over consecutive windows of ``window`` samples
    (``None``: all samples), ``(n_windows, ...)``."""
    window = len(maps) if window is None else min(window, len(maps))
    n_windows = len(maps) // window
    return maps[: n_windows * window].reshape(n_windows, window, *maps.shape[1:]).mean(1)


def run_cell(name: str, seed: int) -> dict:
    """Fit the defaults on one setting and score every variant of the map."""
    from sklearn.linear_model import LinearRegression

    from skattr import xCEBRAAttributor
    from skattr.metrics import attribution_auc, normalize_rows

    X, y, truth, n_behavior, n_time = dataset(SETTINGS[name], seed)
    model = xCEBRAAttributor(n_behavior, n_time, device="cpu", random_state=seed).fit(X, y)
    # the per-sample maps the default map is the mean magnitude of, and the signed Jacobians
    inverse = torch.as_tensor(model.attribute(X, return_per_sample=True))
    jac = torch.as_tensor(model.attribute(X, method="gradient", row_norm=None,
                                          return_per_sample=True))
    result = {"default": attribution_auc(truth, model.attribution_map_),
              "gradient": attribution_auc(truth, model.attribute(X, method="gradient"))}
    for window in WINDOWS:
        label = "T" if window is None else str(window)
        result[f"signed {label}"] = attribution_auc(
            truth, windowed_magnitude(inverse, window).numpy())
        maps = normalize_rows(torch.linalg.pinv(window_means(jac, window)).transpose(1, 2), "l2")
        result[f"pinv(mean J) {label}"] = attribution_auc(truth, np.abs(maps).mean(0))
    decoder = LinearRegression().fit(model.transform(X), X).coef_.T
    result["linear decoder"] = attribution_auc(truth, np.abs(decoder))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", required=True, help="names of robustness settings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="inverse_averaging_cache.jsonl",
                        help="JSON-lines file of finished cells ('' for none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache = Path(args.cache) if args.cache else None
    done = read_cache(cache)
    params = estimator_params({}, drop=("device", "random_state", "verbose"))
    rows = {}
    for name in args.settings:
        key = json.dumps([name, args.seed, params], sort_keys=True, default=str)
        if key not in done:
            done[key] = run_cell(name, args.seed)
            append_cache(cache, key, done[key])
        rows[name] = done[key]
    columns = list(next(iter(rows.values())))
    print("| setting | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
    for label, reduce in (("mean", np.mean), ("worst", np.min)):
        print(f"| **{label}** | "
              + " | ".join(f"{reduce([row[c] for row in rows.values()]):.3f}" for c in columns)
              + " |")


if __name__ == "__main__":
    main()

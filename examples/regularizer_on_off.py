"""Does the Jacobian regulariser matter? xCEBRA with and without it on the synthetic benchmark.

Fits :class:`skattr.xCEBRAAttributor` with ``regularizer_weight`` 0 and 0.1 on the same data and
prints the ROC AUC of the inverted and of the plain neuron gradient for each (the comparison of
the paper's Figure 2, on one data set). About two minutes on 2 CPU cores::

    python examples/regularizer_on_off.py
"""

from __future__ import annotations

import argparse

from skattr import xCEBRAAttributor
from skattr.datasets import make_synthetic
from skattr.metrics import attribution_auc


def main(n_samples: int = 20_000, max_iter: int = 2000, seed: int = 0) -> dict:
    X, y, _, ground_truth = make_synthetic(n_samples=n_samples, random_state=seed)
    results = {}
    for weight in (0.0, 0.1):
        model = xCEBRAAttributor(regularizer_weight=weight, max_iter=max_iter, random_state=seed)
        model.fit(X, y)
        results[weight] = {
            method: attribution_auc(ground_truth, model.attribute(X, method=method))
            for method in ("inverted-gradient", "gradient")
        }
        print(f"lambda = {weight}: " + ", ".join(
            f"{method} AUC {auc:.3f}" for method, auc in results[weight].items()))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--max-iter", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.n_samples, args.max_iter, args.seed)

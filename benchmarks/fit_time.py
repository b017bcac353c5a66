"""Wall time of default fits, and a fingerprint of what they learn, to compare two versions.

Each case is a default-constructed :class:`skattr.xCEBRAAttributor` (``random_state=0``) fitted
``--repeats`` times in this process:

``tiny``
    60 samples x 5 features of Gaussian noise (the size of sklearn's check data), all threads;
``T=1k``
    ``make_synthetic(n_samples=1000, random_state=0)``, ``--max-iter`` steps, one thread (four
    encoders under ``n_encoders="auto"``);
``T=5k``
    ``make_synthetic(n_samples=5000, random_state=0)``, ``--max-iter`` steps, one thread (one
    encoder).

For each it prints the seconds of every repeat, the inverted-gradient AUC and a SHA-256 of the
embedding and the map (equal digests: the same fit bit for bit). To compare versions, run it
against each checkout in turn, alone on the machine::

    PYTHONPATH=/path/to/old/checkout python benchmarks/fit_time.py
    python benchmarks/fit_time.py
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np
import torch

import skattr
from skattr import xCEBRAAttributor
from skattr.datasets import make_synthetic


def _case(name: str, max_iter: int):
    if name == "tiny":
        rng = np.random.default_rng(0)
        return rng.normal(size=(60, 5)), rng.normal(size=60), None, {}
    n_samples = {"T=1k": 1000, "T=5k": 5000}[name]
    X, y, _, ground_truth = make_synthetic(n_samples=n_samples, random_state=0)
    return X, y, ground_truth, {"max_iter": max_iter}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["tiny", "T=1k", "T=5k"],
                        choices=["tiny", "T=1k", "T=5k"])
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"skattr {skattr.__version__} from {skattr.__file__}")
    for name in args.cases:
        torch.set_num_threads(threads if name == "tiny" else 1)
        X, y, ground_truth, params = _case(name, args.max_iter)
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model = xCEBRAAttributor(random_state=0, **params).fit(X, y)
            seconds.append(time.perf_counter() - start)
        digest = hashlib.sha256(np.ascontiguousarray(model.transform(X)).tobytes()
                                + np.ascontiguousarray(model.attribution_map_).tobytes())
        auc = ("" if ground_truth is None
               else f", AUC {model.score(X, ground_truth=ground_truth):.5f}")
        print(f"{name}: {' / '.join(f'{s:.1f}' for s in seconds)} s{auc}, "
              f"sha256 {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()

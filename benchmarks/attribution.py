"""Attribution speed and memory: skattr against the way cebra and captum users compute maps today.

Side by side in one run, on the same float32 MLP encoder (width 30 K, random weights) and the same
data, for T = 10k and 100k samples and (N, K) = (50, 6) and (100, 8):

- inverted neuron gradient: ``skattr.attribution.attribute(..., "inverted-gradient")`` against
  cebra 0.6.1's recipe, re-implemented here so that cebra need not be installed: the Jacobian by
  one backward pass per latent over batches of 1,024 samples, then ``scipy.linalg.pinv`` of each
  sample's ``K x N`` Jacobian in a Python loop;
- integrated gradients (50 steps, Gauss-Legendre, zero baseline), feature ablation (zero baseline,
  one feature at a time) and gradient SHAP (5 samples, zero baseline): skattr against captum's
  ``IntegratedGradients``, ``FeatureAblation`` and ``GradientShap`` called once per latent
  (``target=k``), over the same batches of 1,024 samples. captum's feature ablation gets
  ``perturbations_per_eval=N``, its fastest setting, so both ablate all features in one forward.

- all 180 units of the first hidden layer (``layer="1"``, the GELU after ``Linear(50, 180)``)
  at T = 100k: ``attribute(..., layer=...)`` with the gradient and integrated gradients
  against captum's ``NeuronGradient`` and ``NeuronIntegratedGradients`` called once per unit
  (timed on ``--captum-units`` units, 36 and 2 by default, and scaled to 180: captum's cost is
  one call per unit).

Every pair is checked to agree before it is timed. The peak memory of skattr's methods at
T = 1M is measured in a fresh process each (peak resident set size, which includes the 200 MB of
float32 data and the interpreter with torch, about 350 MB).

With ``--cebra-python`` (a Python with cebra 0.6.1 and skattr installed), cebra's own
``jacobian-based-batched`` map is timed too (``benchmarks/_cebra_attribution.py``), which inverts
each sample twice (lstsq and pinv) in one call.

Usage::

    python benchmarks/attribution.py [--sizes 10000 100000] [--memory-size 1000000]
                                     [--cebra-python /path/to/cebra-env/bin/python]
    python benchmarks/attribution.py --layer-only   # the hidden-layer table alone

Prints Markdown tables (those in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import scipy.linalg
import torch

from skattr._encoders import build_encoder
from skattr.attribution import attribute

BATCH = 1024
SHAPES = [(50, 6), (100, 8)]
PERTURBATION_METHODS = {
    "integrated-gradients": {},
    "feature-ablation": {},
    "gradient-shap": {"random_state": 0},
}


def encoder(n_features: int, n_latents: int) -> torch.nn.Module:
    return build_encoder(
        "mlp", n_features, n_latents, 30 * n_latents, torch.Generator().manual_seed(0)
    ).eval()


def data(n_samples: int, n_features: int) -> torch.Tensor:
    return torch.randn(n_samples, n_features, generator=torch.Generator().manual_seed(1))


def cebra_inverted_gradient(model: torch.nn.Module, X: torch.Tensor) -> np.ndarray:
    """mean_t |pinv(J(x_t))^T| the cebra way: K backward passes per batch, a scipy pinv loop."""
    jacobians = []
    for start in range(0, len(X), BATCH):
        inputs = X[start : start + BATCH].clone().requires_grad_(True)
        outputs = model(inputs)
        jacobians.append(torch.stack([
            torch.autograd.grad(outputs[:, k].sum(), inputs, retain_graph=True)[0]
            for k in range(outputs.shape[1])
        ], dim=1).numpy())
    jacobians = np.concatenate(jacobians)
    inverted = np.empty_like(jacobians)
    for t, jacobian in enumerate(jacobians):
        inverted[t] = scipy.linalg.pinv(jacobian).T
    return np.abs(inverted).mean(0)


def captum_per_latent(model: torch.nn.Module, X: torch.Tensor, name: str) -> np.ndarray:
    """mean_t |attribution| with captum, one call per latent and batch."""
    from captum.attr import FeatureAblation, GradientShap, IntegratedGradients

    n_latents, n_features = model[-1].out_features, X.shape[1]
    total = torch.zeros(n_latents, n_features, dtype=torch.float64)
    for start in range(0, len(X), BATCH):
        inputs = X[start : start + BATCH]
        for k in range(n_latents):
            if name == "integrated-gradients":
                maps = IntegratedGradients(model).attribute(
                    inputs, baselines=0.0, target=k, n_steps=50, method="gausslegendre"
                )
            elif name == "feature-ablation":
                maps = FeatureAblation(model).attribute(
                    inputs, baselines=0.0, target=k, perturbations_per_eval=n_features
                )
            else:
                torch.manual_seed(0)
                maps = GradientShap(model).attribute(
                    inputs, baselines=torch.zeros(1, n_features), target=k, n_samples=5
                )
            total[k] += maps.detach().abs().sum(0).double()
    return (total / len(X)).numpy()


def timed(function, model, X, *args, **kwargs):
    """Result and seconds of ``function(model, X, ...)``, after a warm-up call on two batches
    (first calls pay for lazy initialisation in torch, LAPACK and captum)."""
    function(model, X[: 2 * BATCH], *args, **kwargs)
    start = time.perf_counter()
    result = function(model, X, *args, **kwargs)
    return result, time.perf_counter() - start


def cebra_itself(python: str, n_samples: int, n_features: int, n_latents: int):
    """cebra 0.6.1's own map and seconds, from ``_cebra_attribution.py`` run by ``python``."""
    output = subprocess.run(
        [python, "benchmarks/_cebra_attribution.py", str(n_samples), str(n_features),
         str(n_latents)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": "benchmarks"},
    ).stdout.split("\n")
    return np.array(json.loads(output[1])), float(output[0])


def compare(
    n_samples: int,
    n_features: int,
    n_latents: int,
    cebra_python: str | None = None,
    methods: tuple[str, ...] = ("inverted-gradient", *PERTURBATION_METHODS),
) -> list[tuple]:
    """Rows ``(method, reference, skattr seconds, reference seconds)`` for one data shape."""
    model, X = encoder(n_features, n_latents), data(n_samples, n_features)
    rows = []
    if "inverted-gradient" in methods:
        rows += _compare_inverted_gradient(model, X, n_latents, cebra_python)
    return rows + _compare_perturbations(model, X, methods)


def _compare_inverted_gradient(model, X, n_latents, cebra_python) -> list[tuple]:
    ours, ours_time = timed(attribute, model, X, "inverted-gradient", batch_size=BATCH)
    theirs, their_time = timed(cebra_inverted_gradient, model, X)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-6)
    rows = [("inverted-gradient", "cebra recipe: scipy pinv loop", ours_time, their_time)]
    if cebra_python:
        theirs, their_time = cebra_itself(cebra_python, len(X), X.shape[1], n_latents)
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-6)
        rows.append(("inverted-gradient", "cebra 0.6.1 jacobian-based-batched", ours_time,
                     their_time))
    return rows


def _compare_perturbations(model, X, methods) -> list[tuple]:
    rows = []
    for name, params in PERTURBATION_METHODS.items():
        if name not in methods:
            continue
        ours, ours_time = timed(attribute, model, X, name, batch_size=BATCH, **params)
        theirs, their_time = timed(captum_per_latent, model, X, name)
        # gradient SHAP draws at random: the two agree in expectation only.
        tolerance = 0.15 if name == "gradient-shap" else 1e-4
        np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance * ours.max())
        rows.append((name, "captum, once per latent", ours_time, their_time))
    return rows


# The first hidden layer of the MLP encoder with K = 6: Linear(50, 180) and its GELU, module "1".
LAYER = "1"
LAYER_METHODS = {"gradient": {}, "integrated-gradients": {"internal_batch_size": 4096}}


def captum_per_unit(model, X, name: str, units) -> np.ndarray:
    """mean_t |attribution| of each hidden unit in ``units`` with captum's neuron methods, one
    call per unit and batch."""
    from captum.attr import NeuronGradient, NeuronIntegratedGradients

    layer = dict(model.named_modules())[LAYER]
    total = torch.zeros(len(units), X.shape[1], dtype=torch.float64)
    for start in range(0, len(X), BATCH):
        inputs = X[start : start + BATCH]
        for row, unit in enumerate(units):
            if name == "gradient":
                maps = NeuronGradient(model, layer).attribute(inputs, unit)
            else:
                maps = NeuronIntegratedGradients(model, layer).attribute(
                    inputs, unit, baselines=0.0, n_steps=50, method="gausslegendre"
                )
            total[row] += maps.detach().abs().sum(0).double()
    return (total / len(X)).numpy()


def compare_layer(n_samples: int, captum_units: dict[str, int]) -> list[tuple]:
    """Rows ``(method, units timed with captum, skattr s, captum s for all units)`` for all 180
    units of the first hidden layer. captum's cost is one call per unit, so its time for all
    units is extrapolated linearly from ``captum_units[method]`` units (all 180 would take
    hours for integrated gradients); the maps are checked equal on those units first."""
    model, X = encoder(50, 6), data(n_samples, 50)
    n_units = dict(model.named_modules())["0"].out_features
    rows = []
    for name, params in LAYER_METHODS.items():
        ours, ours_time = timed(attribute, model, X, name, batch_size=BATCH, layer=LAYER,
                                **params)
        units = list(range(min(n_units, captum_units[name])))
        theirs, their_time = timed(captum_per_unit, model, X, name, units)
        np.testing.assert_allclose(ours[units], theirs, rtol=1e-4, atol=1e-7)
        rows.append((name, len(units), ours_time, their_time * n_units / len(units)))
    return rows


def peak_memory(method: str, n_samples: int, n_features: int, n_latents: int) -> float:
    """Peak resident memory in MiB of one attribute() call, in a fresh process."""
    # VmHWM, the peak of this process's own memory: ru_maxrss would also count the parent's
    # peak, which Linux carries across fork and exec.
    code = (
        "import sys\n"
        "sys.path.insert(0, 'benchmarks')\n"
        "from attribution import encoder, data, attribute, BATCH, PERTURBATION_METHODS\n"
        f"model, X = encoder({n_features}, {n_latents}), data({n_samples}, {n_features})\n"
        f"attribute(model, X, {method!r}, batch_size=BATCH,"
        f" **PERTURBATION_METHODS.get({method!r}, {{}}))\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(status.split()[0])\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return int(output.split()[-1]) / 1024  # VmHWM is in KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--memory-size", type=int, default=1_000_000)
    parser.add_argument("--cebra-python", help="a python with cebra 0.6.1 and skattr installed")
    parser.add_argument("--methods", nargs="+", default=["inverted-gradient",
                                                         *PERTURBATION_METHODS])
    parser.add_argument("--no-memory", action="store_true", help="skip the T = 1M memory runs")
    parser.add_argument("--layer-only", action="store_true",
                        help="only the hidden-layer table (all 180 units vs captum per unit)")
    parser.add_argument("--layer-size", type=int, default=100_000)
    parser.add_argument("--captum-units", type=int, nargs=2, default=[36, 2],
                        metavar=("GRADIENT", "IG"),
                        help="units captum is timed on for each method (then scaled to 180)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    layer_table(args.layer_size, dict(zip(LAYER_METHODS, args.captum_units, strict=True)))
    if args.layer_only:
        return
    print("| T | N | K | method | skattr (s) | reference | reference (s) | speed-up |")
    print("|---:|---:|---:|---|---:|---|---:|---:|")
    for n_samples in args.sizes:
        for n_features, n_latents in SHAPES:
            rows = compare(n_samples, n_features, n_latents, args.cebra_python,
                           tuple(args.methods))
            for name, reference, ours, theirs in rows:
                print(f"| {n_samples:,} | {n_features} | {n_latents} | {name} | {ours:.2f} | "
                      f"{reference} | {theirs:.2f} | {theirs / ours:.1f}x |", flush=True)
    if args.no_memory:
        return
    print(f"\nPeak resident memory of one attribute() call at T = {args.memory_size:,}, "
          "N = 50, K = 6 (fresh process each):\n")
    print("| method | peak RSS (MiB) |")
    print("|---|---:|")
    for method in ["inverted-gradient", "gradient", *PERTURBATION_METHODS]:
        print(f"| {method} | {peak_memory(method, args.memory_size, 50, 6):,.0f} |", flush=True)


def layer_table(n_samples: int, captum_units: dict[str, int]) -> None:
    print(f"All 180 units of the first hidden layer (GELU after Linear(50, 180); K = 6) at "
          f"T = {n_samples:,}:\n")
    print("| method | skattr, all units (s) | captum units timed | captum, all units (s) "
          "| speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, timed_units, ours, theirs in compare_layer(n_samples, captum_units):
        print(f"| {name} | {ours:.2f} | {timed_units} | {theirs:.1f} | {theirs / ours:.1f}x |",
              flush=True)
    print()


if __name__ == "__main__":
    main()

"""Several encoders on short recordings: how to combine them, against one encoder.

On the two settings of ``robustness.py`` with 1,000 samples, each data seed gets ``--members``
encoders fitted apart (one encoder each, ``n_encoders=1``, ``random_state`` 100, 101, ...: their
own initialisation *and* their own batches). Each fit's own map is scored, and four ways of
combining them:

- ``mean embedding``: the members aligned block by block to the first and averaged
  (:class:`skattr._encoders.EncoderEnsemble`, what ``n_encoders`` builds), its inverted gradient;
- ``mean of maps``: the mean of the members' own maps;
- ``mean of aligned maps``: the mean of the aligned members' maps;
- ``lowest loss``: the map of the member whose total loss over its last 200 steps is lowest.

``--side-by-side`` adds the estimator's own ``n_encoders=--members`` (members trained side by
side on shared batches), seeded by the data seed as ``robustness.py`` does.

Usage::

    python benchmarks/ensembles.py --members 4 --side-by-side
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from robustness import BASE, SETTINGS  # noqa: E402 (after the path it is found on)

SMALL = ("T=1k", "T=1k mirrored")
COMBINATIONS = ("one encoder", "mean embedding", "mean of maps", "mean of aligned maps",
                "lowest loss")


def run_cell(name: str, seed: int, n_members: int, side_by_side: bool) -> dict:
    """Fit the members of one data set and score every combination (in a worker: one torch
    thread)."""
    import torch

    torch.set_num_threads(1)
    from skattr import attribution, xCEBRAAttributor
    from skattr._encoders import EncoderEnsemble
    from skattr._training import latent_blocks
    from skattr.datasets import make_synthetic
    from skattr.metrics import attribution_auc

    X, y, _, truth = make_synthetic(**{**BASE, **SETTINGS[name]}, random_state=seed)
    models = [xCEBRAAttributor(3, 3, n_encoders=1, device="cpu", random_state=100 + k).fit(X, y)
              for k in range(n_members)]
    inputs = torch.tensor(X, dtype=torch.float32)
    blocks = list(latent_blocks(models[0].objectives_, 6).values())

    def inverted_map(module):
        return attribution.attribute(module, inputs, "inverted-gradient", damping=1.0,
                                     row_norm="max")

    def aligned_alone(k):  # member k mapped onto member 0, alone
        pair = EncoderEnsemble([models[0].module_, models[k].module_], 6)
        pair.align(inputs, blocks)
        alone = EncoderEnsemble([models[k].module_], 6)
        alone.weight.copy_(pair.weight[1:]), alone.bias.copy_(pair.bias[1:])
        return inverted_map(alone)

    ensemble = EncoderEnsemble([model.module_ for model in models], 6)
    ensemble.align(inputs, blocks)
    final_loss = [float(np.mean(model.loss_curve_["total"][-200:])) for model in models]
    result = {
        "one encoder": float(np.mean([attribution_auc(truth, m.attribution_map_)
                                      for m in models])),
        "mean embedding": attribution_auc(truth, inverted_map(ensemble)),
        "mean of maps": attribution_auc(truth, np.mean([m.attribution_map_ for m in models], 0)),
        "mean of aligned maps": attribution_auc(truth, np.mean(
            [models[0].attribution_map_] + [aligned_alone(k) for k in range(1, n_members)], 0)),
        "lowest loss": attribution_auc(truth, models[int(np.argmin(final_loss))].attribution_map_),
    }
    if side_by_side:
        model = xCEBRAAttributor(3, 3, n_encoders=n_members, device="cpu",
                                 random_state=seed).fit(X, y)
        result["side by side (n_encoders)"] = attribution_auc(truth, model.attribution_map_)
    return result


def _cell(name, seed, n_members, side_by_side):
    os.environ["OMP_NUM_THREADS"] = "1"
    return name, seed, run_cell(name, seed, n_members, side_by_side)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4, help="encoders per data set")
    parser.add_argument("--seeds", type=int, default=3, help="data seeds per setting")
    parser.add_argument("--side-by-side", action="store_true",
                        help="also fit the estimator with n_encoders=--members")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    from joblib import Parallel, delayed

    cells = [(name, seed) for name in SMALL for seed in range(args.seeds)]
    done = Parallel(n_jobs=args.jobs)(delayed(_cell)(name, seed, args.members,
                                                     args.side_by_side)
                                      for name, seed in cells)
    columns = list(done[0][2])
    print(f"\n{args.members} encoders per data set; mean over data seeds 0-{args.seeds - 1} "
          "(per seed in brackets)\n")
    print("| combination | " + " | ".join(SMALL) + " |")
    print("|---|" + "---:|" * len(SMALL))
    table = {}
    for column in columns:
        cells_text = []
        for name in SMALL:
            values = [result[column] for n, _, result in done if n == name]
            table[(column, name)] = values
            cells_text.append(f"{np.mean(values):.3f} ({' / '.join(f'{v:.3f}' for v in values)})")
        print(f"| {column} | " + " | ".join(cells_text) + " |")
    return table


if __name__ == "__main__":
    main()

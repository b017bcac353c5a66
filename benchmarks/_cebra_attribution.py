"""cebra 0.6.1's own inverted-gradient map, timed on the encoder of ``benchmarks/attribution.py``.

Run in an environment with cebra 0.6.1 (and skattr) installed; ``attribution.py`` calls it in a
subprocess when ``--cebra-python`` is given. cebra's ``jacobian-based-batched`` method computes the
Jacobian with one backward pass per latent and inverts every sample twice, by
``scipy.linalg.lstsq`` and by ``scipy.linalg.pinv``; both are part of its one call.

Usage::

    python benchmarks/_cebra_attribution.py T N K   # prints seconds, then the map as JSON
"""

from __future__ import annotations

import json
import sys
import time

import cebra.attribution
import numpy as np
from attribution import BATCH, data, encoder


def main() -> None:
    n_samples, n_features, n_latents = (int(value) for value in sys.argv[1:4])
    model, X = encoder(n_features, n_latents), data(n_samples, n_features)
    def build(inputs):
        return cebra.attribution.init(
            "jacobian-based-batched", model=model, input_data=inputs.clone().requires_grad_(True),
            output_dimension=n_latents,
        )

    build(X[: 2 * BATCH]).compute_attribution_map(batch_size=BATCH)  # warm-up, as for the others
    method = build(X)
    start = time.perf_counter()
    result = method.compute_attribution_map(batch_size=BATCH)
    seconds = time.perf_counter() - start
    print(seconds)
    print(json.dumps(np.abs(result["jf-inv-svd"]).mean(0).tolist()))


if __name__ == "__main__":
    main()

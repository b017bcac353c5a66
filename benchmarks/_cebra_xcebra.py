"""Train cebra 0.6.1's xCEBRA and return its maps, for side-by-side benchmarks.

The set-up is the authors' xCEBRA example (``Demo_xCEBRA_RatInABox`` in
``../shared/reference``), with the MLP of the paper's synthetic benchmark: the time objective on
the whole embedding (slice ``0:K``, distribution ``time``, offset 10), the behaviour objective on
its block (slice ``0:n_behavior``, ``time_delta`` on the label), ``FixedEuclideanInfoNCE`` at
temperature 1 for both, the ``offset1-model-mse-clip-5-5`` encoder (``N -> 30K -> 30K -> 10K -> K``,
GELU, output clamped to [-5, 5]), ``JacobianReg`` ramped linearly from 0 at 25 % to 0.1 at 50 % of
the steps (``LinearRampUp``), Adam at 3e-4, batch 512, and as many steps as skattr's default.

The maps are computed from cebra's trained encoder with ``skattr.attribution.attribute``:
``mean_t |pinv(J_f)^T|`` and ``mean_t |J_f|``, the quantities cebra's ``jacobian-based``
method returns as ``jf-inv-svd`` and ``jf`` (checked equal to cebra's recipe in
``benchmarks/attribution.py``); cebra's own attribution module needs ``cvxpy``, which the
training does not. Needs ``pip install cebra==0.6.1``; cebra is imported inside the function.
"""

from __future__ import annotations

import numpy as np
import torch

STEPS = 2000
BATCH = 512
LEARNING_RATE = 3e-4
TIME_OFFSET = 10
REGULARIZER_WEIGHT = 0.1


def cebra_maps(X: np.ndarray, y: np.ndarray, n_behavior: int, n_time: int, seed: int,
               **params) -> tuple[np.ndarray, np.ndarray]:
    """Fit cebra's xCEBRA on ``(X, y)``; return ``(inverted-gradient map, gradient map)``."""
    from skattr.attribution import attribute

    encoder, inverted = cebra_encoder(X, y, n_behavior, n_time, seed, **params)
    return inverted, attribute(encoder, torch.as_tensor(X, dtype=torch.float32), "gradient")


def cebra_encoder(X: np.ndarray, y: np.ndarray, n_behavior: int, n_time: int, seed: int,
                  steps: int = STEPS, time_offset: int = TIME_OFFSET,
                  regularizer_weight: float = REGULARIZER_WEIGHT):
    """Fit cebra's xCEBRA on ``(X, y)``; return its encoder (eval mode, the whole embedding as
    output) and its inverted-gradient map on ``X``."""
    import cebra.data
    import cebra.models
    import cebra.models.jacobian_regularizer
    import cebra.solver
    from cebra.solver.schedulers import LinearRampUp

    from skattr.attribution import attribute

    torch.manual_seed(seed)  # cebra draws its initialisation and batches from torch's global RNG
    n_latents = n_behavior + n_time
    neural = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32))
    label = torch.as_tensor(np.ascontiguousarray(y, dtype=np.float32))
    data = cebra.data.DatasetxCEBRA(neural, device="cpu", label=label)
    loader = cebra.data.ContrastiveMultiObjectiveLoader(
        dataset=data, num_steps=steps, batch_size=min(BATCH, len(X) - time_offset)).to("cpu")
    config = cebra.solver.MultiObjectiveConfig(loader)
    config.set_slice(0, n_behavior)
    config.set_loss("FixedEuclideanInfoNCE", temperature=1.0)
    config.set_distribution("time_delta", time_delta=1, label_name="label")
    config.push()
    config.set_slice(0, n_latents)
    config.set_loss("FixedEuclideanInfoNCE", temperature=1.0)
    config.set_distribution("time", time_offset=time_offset)
    config.push()
    config.finalize()
    model = cebra.models.init(
        name="offset1-model-mse-clip-5-5", num_neurons=X.shape[1], num_units=30 * n_latents,
        num_output=n_latents,
    )
    data.configure_for(model)
    optimizer = torch.optim.Adam(
        list(model.parameters()) + list(config.criterion.parameters()), lr=LEARNING_RATE)
    solver = cebra.solver.init(
        name="multiobjective-solver", model=model, feature_ranges=config.feature_ranges,
        regularizer=cebra.models.jacobian_regularizer.JacobianReg(), renormalize=False,
        use_sam=False, criterion=config.criterion, optimizer=optimizer, tqdm_on=False,
    )
    scheduler = LinearRampUp(
        n_splits=len(config.feature_ranges), step_to_switch_on_reg=steps // 4,
        step_to_switch_off_reg=steps // 2, start_weight=0.0, end_weight=regularizer_weight,
    )
    solver.fit(loader=loader, valid_loader=None, log_frequency=None,
               scheduler_regularizer=scheduler, scheduler_loss=None)
    encoder = solver.model.eval()
    encoder.split_outputs = False
    return encoder, attribute(encoder, neural, "inverted-gradient")

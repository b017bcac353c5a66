"""Time one xCEBRA training step in cebra 0.6.1, for a side-by-side comparison with skattr.

Used by ``benchmarks/training_step.py`` to put the reference implementation's ms/step next to
skattr's. It builds the multi-objective set-up of cebra's RatInABox/xCEBRA demo notebook
(``DatasetxCEBRA`` + ``ContrastiveMultiObjectiveLoader`` + ``MultiObjectiveConfig`` +
``"multiobjective-solver"`` + ``JacobianReg`` + ``LinearRampUp``), with the configuration that
skattr's benchmark uses: 2 objectives (behaviour ``time_delta`` positive on slice 0:3, time
positive with offset 10 on slice 0:6), Euclidean InfoNCE at temperature 1, Jacobian regulariser
weight 0.1 from the first step, Adam with lr 1e-3, CPU.

Needs ``pip install cebra==0.6.1`` (and torch). cebra is imported inside the function, so this
module can be imported without it.
"""

from __future__ import annotations

import time

import numpy as np
import torch


def cebra_ms_per_step(X: np.ndarray, y: np.ndarray, batch_size: int, n_steps: int,
                      warmup: int = 3) -> tuple[float, float]:
    """Milliseconds per cebra 0.6.1 xCEBRA training step, and the part spent drawing the batch.

    Args:
        X: neural data, shape (T, n_neurons); cast to float32.
        y: continuous behaviour label, shape (T, d); cast to float32.
        batch_size: number of reference samples per step (negatives are another batch_size).
        n_steps: number of timed steps.
        warmup: number of untimed steps run first.

    Returns:
        (ms per step, ms per step spent in ``next()`` on cebra's loader). One step is drawing a
        batch from ``ContrastiveMultiObjectiveLoader`` (priors, positive sampling -- the
        ``time_delta`` positive does a brute-force nearest-neighbour search over all T labels --
        and indexing the data) plus ``solver.step`` (forward of reference/positives/negatives,
        the two InfoNCE losses, the Jacobian regulariser, backward, Adam step).

    cebra functions called (all public API of cebra 0.6.1):

    - ``cebra.data.DatasetxCEBRA(neural, device=, label=...)`` and ``dataset.configure_for(model)``
    - ``cebra.data.ContrastiveMultiObjectiveLoader(dataset=, num_steps=, batch_size=).to(device)``
    - ``cebra.solver.MultiObjectiveConfig``: ``set_slice``/``set_loss``/``set_distribution``/
      ``push``/``finalize``, then ``config.criterion`` and ``config.feature_ranges``
    - ``cebra.models.init("offset1-model-mse-clip-5-5", num_neurons=, num_units=, num_output=)``
    - ``cebra.models.jacobian_regularizer.JacobianReg()``
    - ``cebra.solver.init("multiobjective-solver", ...)``
      (``ContrastiveMultiobjectiveSolverxCEBRA``)
    - ``cebra.solver.schedulers.LinearRampUp(...).get_weights(step)``
    - ``solver.step(batch, weights_regularizer=, weights_loss=None)`` -- the public single-step
      method. ``solver.fit`` would run the same loop (``iter(loader)`` -> ``get_weights`` ->
      ``step``) but gives no per-step timing, so we drive the loop ourselves, after doing the
      set-up ``fit`` does first: ``solver._set_fitted_params(loader)`` (private; only records the
      input dimension), ``solver.to(device)`` and ``solver.model.train()``.
    """
    import cebra
    import cebra.data
    import cebra.models
    import cebra.models.jacobian_regularizer
    import cebra.solver
    from cebra.solver.schedulers import LinearRampUp

    device = "cpu"
    lr = 1e-3
    regularizer_weight = 0.1
    num_output = 6
    num_units = 180
    n_total = warmup + n_steps

    neural = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32))
    label = torch.as_tensor(np.ascontiguousarray(y, dtype=np.float32))
    data = cebra.data.DatasetxCEBRA(neural, device=device, label=label)

    # The loader yields len(loader) == num_steps batches, like in the demo's solver.fit.
    loader = cebra.data.ContrastiveMultiObjectiveLoader(
        dataset=data, num_steps=n_total, batch_size=batch_size).to(device)
    config = cebra.solver.MultiObjectiveConfig(loader)

    config.set_slice(0, 3)
    config.set_loss("FixedEuclideanInfoNCE", temperature=1.0)
    config.set_distribution("time_delta", time_delta=1, label_name="label")
    config.push()

    config.set_slice(0, 6)  # the time objective spans the whole embedding (the paper's layout)
    config.set_loss("FixedEuclideanInfoNCE", temperature=1.0)
    config.set_distribution("time", time_offset=10)
    config.push()

    config.finalize()
    criterion = config.criterion
    feature_ranges = config.feature_ranges

    # NOTE: "offset1-model-mse-clip-5-5" requires but ignores num_units; its hidden widths are
    # num_output * 30 = 180, num_output * 30 = 180 and num_output * 10 = 60
    # (50 -> 180 -> 180 -> 60 -> 6, GELU, output clamped to [-5, 5]).
    neural_model = cebra.models.init(
        name="offset1-model-mse-clip-5-5",
        num_neurons=data.neural.shape[1],
        num_units=num_units,
        num_output=num_output,
    ).to(device)
    data.configure_for(neural_model)

    optimizer = torch.optim.Adam(
        list(neural_model.parameters()) + list(criterion.parameters()), lr=lr, weight_decay=0)
    regularizer = cebra.models.jacobian_regularizer.JacobianReg()

    # renormalize=False: the demo renormalises because it uses cosine losses; with the Euclidean
    # loss (and the unnormalised "mse-clip" model) the slices are used as they are.
    solver = cebra.solver.init(
        name="multiobjective-solver",
        model=neural_model,
        feature_ranges=feature_ranges,
        regularizer=regularizer,
        renormalize=False,
        use_sam=False,
        criterion=criterion,
        optimizer=optimizer,
        tqdm_on=False,
    ).to(device)

    # Weight 0.1 on both objectives' regularisers from step 0 on (start == end weight, and
    # stay_constant_after_switch_off is set by LinearRampUp).
    scheduler = LinearRampUp(
        n_splits=len(feature_ranges),
        step_to_switch_on_reg=0,
        step_to_switch_off_reg=1,
        start_weight=regularizer_weight,
        end_weight=regularizer_weight,
    )

    # What MultiobjectiveSolverBase.fit does before its loop.
    solver._set_fitted_params(loader)
    solver.to(loader.device)
    solver.model.train()

    iterator = iter(loader)

    def one_step(step):
        t0 = time.perf_counter()
        batch = next(iterator)
        t1 = time.perf_counter()
        solver.step(batch, weights_regularizer=scheduler.get_weights(step=step),
                    weights_loss=None)
        return t1 - t0

    for step in range(warmup):
        one_step(step)
    sample_time = 0.0
    start = time.perf_counter()
    for step in range(warmup, n_total):
        sample_time += one_step(step)
    total_time = time.perf_counter() - start

    regularizer_values = [solver.log.get(("regularizer", i), [])
                          for i in range(len(feature_ranges))]
    if not all(values and values[-1] > 0 for values in regularizer_values):
        raise RuntimeError("cebra's Jacobian regulariser was not computed")

    return total_time / n_steps * 1e3, sample_time / n_steps * 1e3

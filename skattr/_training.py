"""The optimisation loop of xCEBRA: sampled batches, InfoNCE per objective, scheduled Jacobian
regulariser, Adam, progress, loss curves, and what happens on divergence or interruption."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ._losses import infonce
from ._regularizers import jacobian_penalty, regularizer_weight
from ._sampling import BatchPrefetcher, ContrastiveSampler, SerialBatches


@dataclass(frozen=True)
class Objective:
    """An objective: its name, the embedding dimensions ``start:stop`` it trains, its positive.

    ``positive`` names the sampled :class:`~skattr._sampling.Batch` attribute that holds the
    positives (``"time_positive"`` or ``"behavior_positive"``) of a contrastive objective.
    Objectives may overlap: in xCEBRA's layout the time objective spans the whole embedding,
    the behaviour block included.
    """

    name: str
    start: int
    stop: int
    positive: str | None
    # "infonce" (contrastive, against ``positive``) or "mse" (the block regresses the
    # standardised label at the reference: the paper's supervised baseline; no positive).
    loss: str = "infonce"
    # A behaviour objective's columns of ``y`` (one of several behaviour groups); ``None``:
    # all of them.
    columns: tuple[int, ...] | None = None

    @property
    def output_slice(self) -> slice:
        return slice(self.start, self.stop)


def latent_blocks(objectives, n_latents: int) -> dict[str, list[int]]:
    """Each latent in the block of the narrowest objective that trains it, by objective name.

    In xCEBRA's layout the time objective spans the whole embedding, so the ``"time"`` block
    holds the dimensions only it trains and the ``"behavior"`` block the behaviour
    objective's. Blocks are listed in the order of their first latent.
    """
    owner = [None] * n_latents
    for objective in sorted(objectives, key=lambda o: o.stop - o.start):
        for i in range(objective.start, objective.stop):
            if owner[i] is None:
                owner[i] = objective.name
    blocks: dict[str, list[int]] = {}
    for i, name in enumerate(owner):
        blocks.setdefault(name, []).append(i)
    return blocks


@dataclass
class TrainingConfig:
    """Hyper-parameters of the loop, already validated by the estimator."""

    max_iter: int
    batch_size: int
    learning_rate: float
    similarity: str
    temperature: float
    regularizer_weight: float
    regularizer_start: int
    regularizer_full: int
    n_projections: int
    # Steps already taken by earlier fits (warm start): the regulariser's schedule continues.
    first_step: int = 0
    # Loss values stay on the device and are read back (one sync) every this many steps.
    check_every: int = 50
    # Draw batches on a background thread while the device computes (for accelerators; on a
    # CPU the thread would compete with the computation for the same cores).
    prefetch: bool = False
    # Encoders trained side by side (an ensemble's stacked members, each with its own copy of
    # the objectives): the loss is their mean, so each member's gradient is its own loss's.
    n_members: int = 1


@dataclass
class TrainingResult:
    """Loss curves (one array per objective, the regulariser and the total) and steps taken."""

    loss_curve: dict[str, np.ndarray] = field(default_factory=dict)
    n_iter: int = 0
    interrupted: bool = False
    # (step, loss) of the held-out part at each check, when there is one.
    validation_curve: np.ndarray | None = None


@dataclass
class TrainingContext:
    """What the training loop shares with its callbacks (:mod:`skattr.callbacks`).

    Attributes
    ----------
    module : torch.nn.Module
        The encoder being trained.
    optimizer : torch.optim.Optimizer
    objective_names : list of str
        The objectives, in the order of the first columns of ``history``.
    loss_names : list of str
        The columns of ``history``: the objectives, ``"regularizer"``, ``"total"``.
    max_iter, first_step : int
        Steps of this fit, and steps of the fits before it (warm start).
    regularizer_full : int
        The step (counted like ``first_step + step``) from which the regulariser's weight is
        full.
    step : int
        Steps taken in this fit.
    weight : float
        The regulariser's weight at the last step.
    history : ndarray of shape (max_iter, len(loss_names))
        Per-step losses on the host; rows up to the last check are filled.
    validate : callable or None
        ``validate()`` gives the loss on the held-out part (``None`` without one).
    validation_history : list of (int, float)
        ``(step, loss)`` of the held-out part at each check, ``step`` counted like
        ``first_step + step``.
    stop : bool
        Set by a callback to end training after the current check or step.
    """

    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    objective_names: list[str]
    loss_names: list[str]
    max_iter: int
    first_step: int
    regularizer_full: int
    history: np.ndarray
    validate: Callable[[], float] | None = None
    step: int = 0
    weight: float = 0.0
    validation_history: list = field(default_factory=list)
    stop: bool = False
    # The per-step losses on the device; read back at checks.
    device_losses: torch.Tensor | None = None
    make_snapshot: Callable[[TrainingContext], object] | None = None

    def snapshot(self):
        """The fitted estimator as of this step (a copy; training goes on unchanged)."""
        if self.make_snapshot is None:
            raise ValueError("This training loop was given no way to snapshot its estimator.")
        return self.make_snapshot(self)

    def loss_curve(self) -> dict[str, np.ndarray]:
        """Each loss over the steps taken so far, read back from the device now; objectives
        that share a name (the members of an ensemble) share a curve, their mean."""
        curve = self.device_losses[: self.step].cpu().numpy()
        names = list(dict.fromkeys(self.loss_names))
        return {name: curve[:, [i for i, other in enumerate(self.loss_names) if other == name]]
                .mean(1) for name in names}


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss stops being finite."""


def train(
    encoder: torch.nn.Module,
    inputs: torch.Tensor,
    sampler: ContrastiveSampler,
    objectives: list[Objective],
    config: TrainingConfig,
    generator: torch.Generator,
    targets: torch.Tensor | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    callbacks: Sequence = (),
    validate: Callable[[], float] | None = None,
    snapshot: Callable[[TrainingContext], object] | None = None,
) -> TrainingResult:
    """Train ``encoder`` in place on the per-time-step ``inputs`` (see ``time_windows``).

    ``targets`` (T, L) on the device of ``inputs`` are the standardised labels that ``"mse"``
    objectives regress. ``optimizer`` defaults to Adam at ``config.learning_rate``.
    ``callbacks`` (:class:`skattr.callbacks.Callback`) are called at each hook with the
    :class:`TrainingContext`; ``validate()``, if given, is the held-out loss recorded at each
    check; ``snapshot(context)``, if given, makes the fitted estimator of the current step
    (for checkpoints).

    Raises
    ------
    TrainingDivergedError
        If a loss becomes NaN or infinite; the message names the first such step.

    Notes
    -----
    A ``KeyboardInterrupt`` ends training early with a warning; the weights reached so far are kept
    and the result is marked ``interrupted``.
    """
    device = inputs.device
    names = [objective.name for objective in objectives] + ["regularizer", "total"]
    losses = torch.zeros(config.max_iter, len(names), device=device)
    if optimizer is None:
        optimizer = torch.optim.Adam(encoder.parameters(), lr=config.learning_rate)
    context = TrainingContext(
        module=encoder, optimizer=optimizer,
        objective_names=names[:-2], loss_names=names, max_iter=config.max_iter,
        first_step=config.first_step, regularizer_full=config.regularizer_full,
        history=np.zeros((config.max_iter, len(names)), dtype=np.float32),
        validate=validate, device_losses=losses, make_snapshot=snapshot,
    )
    encoder.train()
    checked = 0
    interrupted = False
    prepare = functools.partial(_batch_indices, objectives=objectives,
                                pin=device.type == "cuda")
    batches = (BatchPrefetcher if config.prefetch else SerialBatches)(
        sampler, config.batch_size, prepare
    )
    started = []  # the callbacks whose on_train_begin ran: only they get on_train_end
    try:
        for callback in callbacks:
            callback.on_train_begin(context)
            started.append(callback)
        for step in range(config.max_iter):
            context.weight = regularizer_weight(
                config.first_step + step, config.regularizer_weight, config.regularizer_start,
                config.regularizer_full,
            )
            _step(encoder, inputs, batches.next(), objectives, config, context.weight,
                  generator, optimizer, losses[step], targets)
            context.step = step + 1
            _notify(callbacks, "on_step_end", context)
            if context.step % config.check_every == 0 or context.step == config.max_iter \
                    or context.stop:
                checked = _check(context, checked)
                _notify(callbacks, "on_check", context)
            if context.stop:
                break
    except KeyboardInterrupt:
        interrupted = True
        warnings.warn(
            f"Training interrupted at step {context.step} of {config.max_iter}; the weights "
            "reached so far are kept and the estimator is usable.",
            RuntimeWarning,
            stacklevel=3,
        )
        _check_finite(losses[checked : context.step], checked, names)
    finally:
        batches.close()
        encoder.eval()
        _notify(started, "on_train_end", context)
    return TrainingResult(
        loss_curve=context.loss_curve(),
        n_iter=context.step,
        interrupted=interrupted,
        validation_curve=(np.array(context.validation_history, dtype=float).reshape(-1, 2)
                          if validate is not None else None),
    )


def _notify(callbacks, hook: str, context: TrainingContext) -> None:
    """Call ``hook`` of every callback, in order."""
    for callback in callbacks:
        getattr(callback, hook)(context)


def _check(context: TrainingContext, checked: int) -> int:
    """Read the losses of the steps since the last check back to the host (one sync), raise
    if any is not finite, and record the held-out loss; returns the steps now checked."""
    new = context.device_losses[checked : context.step]
    _check_finite(new, checked, context.loss_names)
    context.history[checked : context.step] = new.cpu().numpy()
    if context.validate is not None:
        was_training = context.module.training
        context.module.eval()
        context.validation_history.append(
            (context.first_step + context.step, float(context.validate())))
        context.module.train(was_training)
    return context.step


def _positive_kinds(objectives) -> list[tuple]:
    """The distinct positives of the contrastive objectives, in order of first use: the
    members of an ensemble share their batches, so each kind is embedded once for all."""
    kinds = [(objective.positive, objective.columns)
             for objective in objectives if objective.loss == "infonce"]
    return list(dict.fromkeys(kinds))


def _batch_indices(batch, objectives, pin: bool) -> torch.Tensor:
    """One host tensor of a batch's indices: references, negatives, then the positives of
    each kind of :func:`_positive_kinds` in order. Pinned (for an accelerator), it is copied
    to the device asynchronously."""
    positives = [batch.time_positive if positive == "time_positive"
                 else batch.behavior_positives[columns]
                 for positive, columns in _positive_kinds(objectives)]
    indices = torch.from_numpy(np.concatenate([batch.reference, batch.negative, *positives]))
    return indices.pin_memory() if pin else indices


def _embed_batch(encoder, inputs, indices, size: int, reference_grad: bool):
    """Embed a batch: ``(reference inputs, reference embedding, embedding of the others)``.

    ``indices`` (from :func:`_batch_indices`, on the device of ``inputs``) start with the
    ``size`` references; the others are the negatives, then the positives. The references get
    a forward pass of their own: the regulariser's double backward then runs through the B
    references only, not through all ``(2 + n_positive_kinds) B`` samples.
    """
    references = inputs[indices[:size]]
    if reference_grad:
        references.requires_grad_(True)
    return references, encoder(references), encoder(inputs[indices[size:]])


def _objective_losses(reference, others, objectives, similarity, temperature, targets):
    """The loss of each objective on its block; ``others`` holds negatives, then positives.

    ``targets`` are the standardised labels at the references, for ``"mse"`` objectives.
    Contrastive objectives with the same positive and width (one per member of an ensemble)
    are computed as one batched InfoNCE.
    """
    size = len(reference)
    negative = others[:size]
    kinds = _positive_kinds(objectives)
    losses = [None] * len(objectives)
    groups: dict[tuple, list[int]] = {}
    for index, objective in enumerate(objectives):
        if objective.loss == "mse":
            target = targets if objective.columns is None else targets[:, list(objective.columns)]
            losses[index] = (reference[:, objective.output_slice] - target).pow(2).sum(1).mean()
        else:
            kind = (objective.positive, objective.columns)
            groups.setdefault((kind, objective.stop - objective.start), []).append(index)
    for (kind, _), members in groups.items():
        start = (1 + kinds.index(kind)) * size
        positive = others[start : start + size]
        blocks = [objectives[index].output_slice for index in members]
        group_losses = infonce(*(torch.stack([t[:, block] for block in blocks])
                                 for t in (reference, positive, negative)),
                               similarity, temperature)
        for index, loss in zip(members, group_losses, strict=True):
            losses[index] = loss
    return losses


def _step(encoder, inputs, indices, objectives, config, weight, generator, optimizer, record,
          targets):
    """One optimisation step on a batch's ``indices`` (from :func:`_batch_indices`); writes the
    per-term losses into ``record`` on the device."""
    indices = indices.to(inputs.device, non_blocking=True)
    size = config.batch_size
    references, reference, others = _embed_batch(
        encoder, inputs, indices, size, reference_grad=weight > 0.0
    )
    losses = _objective_losses(
        reference, others, objectives, config.similarity, config.temperature,
        None if targets is None else targets[indices[:size]],
    )
    total = sum(losses) / config.n_members
    record[: len(losses)] = torch.stack(losses).detach()
    if weight > 0.0:
        penalty = jacobian_penalty(
            references, reference, [objective.output_slice for objective in objectives],
            config.n_projections, generator,
        ) / config.n_members
        record[-2] = penalty.detach()
        total = total + weight * penalty
    record[-1] = total.detach()
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()


def mean_objective_losses(
    encoder: torch.nn.Module,
    inputs: torch.Tensor,
    sampler: ContrastiveSampler,
    objectives: list[Objective],
    similarity: str,
    temperature: float,
    batch_size: int,
    n_batches: int,
    targets: torch.Tensor | None = None,
) -> list[float]:
    """Each objective's loss averaged over ``n_batches`` batches, without gradients."""
    total = np.zeros(len(objectives))
    with torch.no_grad():
        for _ in range(n_batches):
            indices = _batch_indices(sampler.sample(batch_size), objectives, pin=False)
            indices = indices.to(inputs.device)
            _, reference, others = _embed_batch(encoder, inputs, indices, batch_size, False)
            losses = _objective_losses(reference, others, objectives, similarity, temperature,
                                       None if targets is None else targets[indices[:batch_size]])
            total += [float(loss) for loss in losses]
    return list(total / n_batches)


def _check_finite(losses: torch.Tensor, first_step: int, names: list[str]) -> None:
    """Raise :class:`TrainingDivergedError` naming the first step whose loss is not finite."""
    bad = ~torch.isfinite(losses)
    if bool(bad.any()):
        row, column = (int(v) for v in bad.nonzero()[0])
        raise TrainingDivergedError(
            f"Training diverged: the {names[column]} loss is {float(losses[row, column])} at step "
            f"{first_step + row}. Likely causes: a learning_rate that is too high, or unscaled "
            "input data (standardise X, e.g. with sklearn.preprocessing.StandardScaler)."
        )

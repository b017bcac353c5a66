"""Training callbacks: hooks the training loop calls, in the manner of skorch.

A callback subclasses :class:`Callback` and overrides the hooks it needs; each gets the
:class:`TrainingContext` of the running fit (the estimator, the encoder, the
optimiser, the step, the losses read back so far, the validation losses). The loop calls, in
order: ``on_train_begin`` once, ``on_step_end`` after every optimisation step, ``on_check``
every ``check_every`` steps (and after the last) once the losses of those steps are on the host,
and ``on_train_end`` once, also when training is interrupted or diverges. A callback ends
training early by setting ``context.stop``.

``xCEBRAAttributor(callbacks=[...])`` takes a list of them. ``fit`` works on deep copies (the
estimator's ``callbacks_``), so the objects passed in are never changed and every fit, clone or
grid-search candidate starts from them afresh. With ``verbose=True`` a :class:`ProgressBar` is
added unless the list has one.
"""

from __future__ import annotations

import copy
import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params
from tqdm.auto import tqdm

from ._training import TrainingContext


class Callback:
    """Base class of training callbacks: every hook does nothing.

    Examples
    --------
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.callbacks import Callback
    >>> from skattr.datasets import make_synthetic
    >>> class LastLoss(Callback):
    ...     def on_train_end(self, context):
    ...         self.total = float(context.history[-1, -1])
    >>> X, y, _, _ = make_synthetic(n_samples=500, random_state=0)
    >>> model = xCEBRAAttributor(max_iter=10, device="cpu", random_state=0,
    ...                          callbacks=[LastLoss()]).fit(X, y)
    >>> bool(model.callbacks_[0].total == model.loss_curve_["total"][-1])
    True
    """

    def on_train_begin(self, context) -> None:
        """Before the first step."""

    def on_step_end(self, context) -> None:
        """After each optimisation step (``context.step`` steps taken in this fit)."""

    def on_check(self, context) -> None:
        """Every ``check_every`` steps and after the last, with ``context.history`` current."""

    def on_train_end(self, context) -> None:
        """After the last step, also when training was interrupted or diverged."""


class ProgressBar(Callback):
    """A tqdm progress bar with each objective's loss, the regulariser and validation apart.

    The total loss rises while the regulariser's weight ramps in (the Jacobian penalty is
    added to the contrastive losses); showing the terms apart keeps that from reading as
    divergence. ``reg`` is the weighted penalty ``lambda x penalty`` at the current weight.
    """

    def on_train_begin(self, context) -> None:
        self._bar = tqdm(total=context.max_iter, desc="xCEBRA", unit="step")

    def on_check(self, context) -> None:
        last = context.history[context.step - 1]
        postfix = {name: f"{last[i]:.3f}" for i, name in enumerate(context.objective_names)}
        postfix["reg"] = f"{context.weight:.3g}x{last[-2]:.3g}"
        if context.validation_history:
            postfix["valid"] = f"{context.validation_history[-1][1]:.3f}"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(context.step - self._bar.n)

    def on_train_end(self, context) -> None:
        self._bar.close()
        del self._bar  # the fitted estimator keeps its callbacks, not a closed terminal widget


class EarlyStopping(Callback):
    """Stop when the loss on the held-out part of the series stops improving.

    The held-out part is the estimator's ``validation_fraction`` of samples at the *end* of
    the series (contiguous, never shuffled: neighbouring time steps are near copies of each
    other, so a shuffled split would validate on the training data). Its loss, the mean of
    the objectives' losses on fixed batches of the held-out samples, is computed at every
    check (``check_every`` steps) and kept in ``validation_loss_curve_``.

    While the regulariser's weight ramps in, the contrastive losses rise by design; checks
    before the weight is full (``regularizer_full``) are not counted.

    Parameters
    ----------
    patience : int, default=200
        Steps without an improvement of more than ``min_delta`` after which training stops.
    min_delta : float, default=0.0
        Improvement of the validation loss that counts as one.
    restore_best : bool, default=True
        At the end, load the weights of the check with the lowest validation loss (among
        those counted). ``n_iter_`` and the loss curves still cover every step taken.

    Attributes
    ----------
    best_step_ : int or None
        The step (counted over warm starts, like ``n_iter_``) of the best counted check.
    best_loss_ : float
        Its validation loss.
    stopped_step_ : int or None
        The step at which training was stopped, or ``None`` if it ran to ``max_iter``.

    Examples
    --------
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.callbacks import EarlyStopping
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, _ = make_synthetic(n_samples=2000, random_state=0)
    >>> stop = EarlyStopping(patience=100)
    >>> model = xCEBRAAttributor(max_iter=400, validation_fraction=0.2, device="cpu",
    ...                          random_state=0, callbacks=[stop]).fit(X, y)
    >>> model.validation_loss_curve_.shape[1]
    2
    """

    @validate_params(
        {"patience": [Interval(Integral, 1, None, closed="left")],
         "min_delta": [Interval(Real, 0, None, closed="left")],
         "restore_best": ["boolean"]},
        prefer_skip_nested_validation=True,
    )
    def __init__(self, patience: int = 200, min_delta: float = 0.0,
                 restore_best: bool = True) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best

    def on_train_begin(self, context) -> None:
        if context.validate is None:
            raise ValueError(
                "EarlyStopping needs a held-out part of the series: set the estimator's "
                "validation_fraction (e.g. 0.1, the last 10% of the samples)."
            )
        self.best_step_, self.best_loss_, self.stopped_step_ = None, np.inf, None
        self._best_state = None

    def on_check(self, context) -> None:
        step, loss = context.validation_history[-1]
        if step < context.regularizer_full:
            return
        if loss < self.best_loss_ - self.min_delta or self.best_step_ is None:
            self.best_step_, self.best_loss_ = step, loss
            if self.restore_best:
                self._best_state = copy.deepcopy(context.module.state_dict())
        elif step - self.best_step_ >= self.patience:
            self.stopped_step_ = step
            context.stop = True

    def on_train_end(self, context) -> None:
        if self._best_state is not None:
            context.module.load_state_dict(self._best_state)
            self._best_state = None


class Checkpoint(Callback):
    """Save the estimator every ``every`` steps, in the pickle-free format of ``save``.

    Each checkpoint is a complete fitted estimator (its map computed on the training data at
    that step), written atomically: ``xCEBRAAttributor.load(path)`` reads it, and with
    ``warm_start=True`` its ``fit`` resumes training where the checkpoint left off, with the
    regulariser's schedule continued from ``n_iter_``.

    Parameters
    ----------
    path : str or path-like
        Where to write; ``"{step}"`` in it is replaced by the step (counted over warm starts),
        e.g. ``"run/step{step}.safetensors"`` keeps every checkpoint, a fixed name the last.
    every : int, default=500
        Steps between checkpoints.

    Attributes
    ----------
    saved_ : list of str
        The files written, in order.

    Examples
    --------
    >>> import os, tempfile
    >>> from skattr import xCEBRAAttributor
    >>> from skattr.callbacks import Checkpoint
    >>> from skattr.datasets import make_synthetic
    >>> X, y, _, _ = make_synthetic(n_samples=500, random_state=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "step{step}.safetensors")
    >>> model = xCEBRAAttributor(max_iter=20, device="cpu", random_state=0,
    ...                          callbacks=[Checkpoint(path, every=10)]).fit(X, y)
    >>> [os.path.basename(p) for p in model.callbacks_[0].saved_]
    ['step10.safetensors', 'step20.safetensors']
    >>> xCEBRAAttributor.load(model.callbacks_[0].saved_[0]).n_iter_
    10
    """

    @validate_params(
        {"path": [str, os.PathLike], "every": [Interval(Integral, 1, None, closed="left")]},
        prefer_skip_nested_validation=True,
    )
    def __init__(self, path: str | os.PathLike, every: int = 500) -> None:
        self.path = path
        self.every = every

    def on_train_begin(self, context) -> None:
        self.saved_ = []

    def on_step_end(self, context) -> None:
        step = context.first_step + context.step
        if step % self.every == 0:
            path = os.fspath(self.path).replace("{step}", str(step))
            context.snapshot().save(path)
            self.saved_.append(path)


__all__ = ["Callback", "Checkpoint", "EarlyStopping", "ProgressBar", "TrainingContext"]

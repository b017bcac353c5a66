"""
The training loop: held-out loss, early stopping, checkpoints and trials
========================================================================

``fit`` runs a loop whose hooks callbacks fill (:mod:`skattr.callbacks`, in the
manner of skorch): a progress bar (``verbose=True``), early stopping on a
held-out part of the series, and checkpoints that a later ``fit`` resumes. Data
recorded as trials pass their ids to ``fit``, so that no positive pair or
window spans two trials.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from skattr import xCEBRAAttributor
from skattr.callbacks import Checkpoint, EarlyStopping
from skattr.datasets import make_synthetic
from skattr.plotting import plot_loss_curves

QUICK = os.environ.get("SKATTR_GALLERY_QUICK") == "1"
N_SAMPLES, MAX_ITER = (3_000, 400) if QUICK else (20_000, 4_000)

# %%
# Early stopping on the end of the series
# ---------------------------------------
# ``validation_fraction=0.1`` holds out the last 10% of the samples, in one
# piece: neighbouring time steps are near copies, so a shuffled split would
# validate on training data. Checks before the regulariser's weight is full
# are not counted, since the contrastive losses rise by design while it ramps in.
X, y, _, ground_truth = make_synthetic(n_samples=N_SAMPLES, random_state=0)
directory = tempfile.mkdtemp()
model = xCEBRAAttributor(
    max_iter=MAX_ITER, validation_fraction=0.1, random_state=0,
    callbacks=[EarlyStopping(patience=MAX_ITER // 8),
               Checkpoint(os.path.join(directory, "step{step}.safetensors"),
                          every=MAX_ITER // 4)],
).fit(X, y)
stopping, checkpoints = model.callbacks_
print(f"trained {model.n_iter_} of {MAX_ITER} steps; best held-out loss at step "
      f"{stopping.best_step_}; checkpoints: {[os.path.basename(p) for p in checkpoints.saved_]}")
plot_loss_curves(model, title="training, with the held-out loss")
plt.tight_layout()

# %%
# Resuming from a checkpoint
# --------------------------
# A checkpoint is a complete fitted estimator in the pickle-free format; with
# ``warm_start=True`` its ``fit`` continues training, the regulariser's
# schedule picking up at ``n_iter_``.
resumed = xCEBRAAttributor.load(checkpoints.saved_[0])
print(f"checkpoint at step {resumed.n_iter_}")
resumed.set_params(warm_start=True, max_iter=MAX_ITER // 4, callbacks=None).fit(X, y)
print(f"resumed to step {resumed.n_iter_}")

# %%
# Trials
# ------
# Ten trials recorded one after the other: ``trials`` gives each sample's trial,
# so that time positives and label changes stay within a trial. ``transform``,
# ``attribute`` and ``score`` take it too: with ``encoder="conv"`` the windows
# then stop at each trial's ends. In ``GridSearchCV`` the same ids split the
# data with ``GroupKFold`` (``search.fit(X, y, groups=trials, trials=trials)``).
trials = np.repeat(np.arange(10), N_SAMPLES // 10)
by_trial = xCEBRAAttributor(max_iter=MAX_ITER // 4, random_state=0)
by_trial.fit(X, y, trials=trials)
embedding = by_trial.transform(X, trials=trials)
figure, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
points = ax.scatter(embedding[:, 0], embedding[:, 1], c=y[:, 0], s=2, cmap="viridis")
figure.colorbar(points, ax=ax, label="y[:, 0]")
ax.set_xlabel("behavior0")
ax.set_ylabel("behavior1")
ax.set_title("the behaviour block, fitted on trials")

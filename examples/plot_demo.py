"""
Getting started: which latent drives which neuron
=================================================

The paper's synthetic benchmark: 50 neurons driven by 3 behaviour latents (the
auxiliary variable ``y``) and 3 time-only latents, through a random mixing whose
connectivity (which latent reaches which neuron) is known. xCEBRA trains an
encoder with a behaviour-contrastive and a time-contrastive objective under a
Jacobian regulariser; its **inverted neuron gradient** estimates that
connectivity. The plain neuron gradient, the usual attribution, is shown for
comparison. This is what ``python -m skattr demo`` runs.
"""

import os

import matplotlib.pyplot as plt

from skattr import xCEBRAAttributor
from skattr.datasets import make_synthetic
from skattr.metrics import attribution_auc
from skattr.plotting import plot_attribution_map, plot_loss_curves

# The documentation renders this example at a small size.
QUICK = os.environ.get("SKATTR_GALLERY_QUICK") == "1"
N_SAMPLES, MAX_ITER = (3_000, 300) if QUICK else (20_000, 2_000)

# %%
# Data and fit
# ------------
# ``X`` is (time, neurons), ``y`` the behaviour; ``ground_truth`` (latents x
# neurons) is what a good map recovers. A fixed ``random_state`` makes the fit
# reproducible on a CPU.
X, y, latents, ground_truth = make_synthetic(n_samples=N_SAMPLES, random_state=0)
model = xCEBRAAttributor(max_iter=MAX_ITER, random_state=0).fit(X, y)
print(f"behaviour R2 of the behaviour block: {model.behavior_r2_:.2f}")

# %%
# Training
# --------
# Each objective's InfoNCE falls; the Jacobian penalty (right axis) enters when
# its weight ramps in (from a quarter to half of the steps).
plot_loss_curves(model, title="training")
plt.tight_layout()

# %%
# The maps
# --------
# Rows are latents (``behavior0..``, ``time0..``), columns neurons; white dots
# mark the entries that the ground truth says are not connected.
gradient_map = model.attribute(X, method="gradient")
figure, axes = plt.subplots(2, 1, figsize=(9, 6), constrained_layout=True)
for ax, values, name in ((axes[0], model.attribution_map_, "inverted neuron gradient"),
                         (axes[1], gradient_map, "neuron gradient")):
    auc = attribution_auc(ground_truth, values)
    plot_attribution_map(values, ground_truth, latent_names=model.get_feature_names_out(),
                         ax=ax, title=f"{name}: ROC AUC {auc:.3f}")
    print(f"{name}: ROC AUC {auc:.3f}")

"""
Which cells are explained by position, head direction and speed?
================================================================

A simulated rat forages in a 1 m box (ratinabox), recorded by place, grid,
head-direction and speed cells. The hypothesis: position explains the place and
grid cells, head direction the head-direction cells, speed the speed cells. One
behaviour block per variable (``behavior_groups``) plus a time block; the map's
behaviour rows are scored against the hypothesis, for the inverted and the plain
neuron gradient, with the bootstrap interval of each AUC. Needs
``pip install skattr[ratinabox]``.
"""

import os

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import TimeSeriesSplit, cross_val_score
from sklearn.neighbors import KNeighborsRegressor

from skattr import stats, xCEBRAAttributor
from skattr.datasets import make_ratinabox
from skattr.metrics import hypothesis_auc, hypothesis_auc_ci, summarize_by_label
from skattr.plotting import plot_attribution_map, plot_embedding, plot_loss_curves

QUICK = os.environ.get("SKATTR_GALLERY_QUICK") == "1"
N_SAMPLES, MAX_ITER = (2_000, 150) if QUICK else (20_000, 2_000)

# %%
# The recording
# -------------
# Bins of 100 ms; Poisson spike counts of 20 cells of each type. The counts are
# standardised, as for any input to the encoder.
data = make_ratinabox(n_samples=N_SAMPLES, random_state=0)
X = (data.counts - data.counts.mean(0)) / data.counts.std(0).clip(1e-9)
labels = pd.DataFrame({"x": data.position[:, 0], "y": data.position[:, 1],
                       "cos": data.head_direction[:, 0], "sin": data.head_direction[:, 1],
                       "speed": data.speed})
labels = (labels - labels.mean()) / labels.std()
print(f"{X.shape[0]} bins x {X.shape[1]} cells; mean count per bin {data.counts.mean():.2f}")

# %%
# One block per hypothesised variable
# -----------------------------------
groups = {"position": ["x", "y"], "head_direction": ["cos", "sin"], "speed": ["speed"]}
# The convolutional encoder sees 10 bins (1 s) around each one, which averages
# out much of the counting noise; 64 channels keep a 2,000-step fit on a laptop
# CPU to a few minutes.
model = xCEBRAAttributor(
    {"position": 2, "head_direction": 2, "speed": 1}, 2, behavior_groups=groups,
    encoder="conv", hidden_units=64, max_iter=MAX_ITER, random_state=0,
).fit(X, labels)
blocks = stats.blocks(model)
embedding = model.transform(X)
plot_loss_curves(model, title="training")
plt.tight_layout()

# %%
# What each block holds
# ---------------------
# The R² of each variable from each block, out of sample: five folds of
# ``TimeSeriesSplit`` (each fold is decoded by a model fitted on the bins before
# it), with a linear and a 10-nearest-neighbour read-out. A block should decode
# its own variable and little else.
decoders = {"linear": LinearRegression(), "knn": KNeighborsRegressor(10)}
r2 = pd.DataFrame({
    (decoder, variable): [
        cross_val_score(estimator, embedding[:, latents], labels[columns],
                        cv=TimeSeriesSplit(5)).mean()
        for latents in blocks.values()
    ]
    for decoder, estimator in decoders.items()
    for variable, columns in groups.items()
}, index=list(blocks))
print(r2.round(2))

# %%
# The map against the hypothesis
# ------------------------------
# Only the behaviour rows are scored: the time block is no hypothesis about cell
# types. Each row is divided by its norm before the rows are pooled into one AUC:
# a latent's scale is not identified, so raw rows of different latents are not
# comparable (the raw pooled AUC is printed beside it).
hypothesis = {"position": ["place", "grid"], "head_direction": "head_direction",
              "speed": "speed"}
METHODS = {"inverted neuron gradient": "inverted-gradient", "neuron gradient": "gradient"}
maps = {name: model.attribute(X, method=method, return_per_sample=True)
        for name, method in METHODS.items()}
figure, axes = plt.subplots(2, 1, figsize=(10, 7), constrained_layout=True)
for ax, (name, per_sample) in zip(axes, maps.items(), strict=True):
    # Moving blocks of 100 bins (10 s): neighbouring bins are not independent.
    ci = hypothesis_auc_ci(per_sample, blocks, data.cell_type, hypothesis,
                           n_bootstrap=200, block_length=100, random_state=0)
    values = abs(per_sample).mean(0)
    raw = hypothesis_auc(model.attribute(X, method=METHODS[name], row_norm=None), blocks,
                         data.cell_type, hypothesis, row_norm=None)
    print(f"{name}: AUC against the hypothesis {ci.auc:.3f} [{ci.low:.3f}, {ci.high:.3f}] "
          f"(raw rows pooled: {raw:.3f})")
    plot_attribution_map(values / values.max(1, keepdims=True), feature_labels=data.cell_type,
                         latent_groups=blocks, ax=ax, title=f"{name}: AUC {ci.auc:.3f}")
print(summarize_by_label(model.attribution_map_, blocks, data.cell_type).round(3))

# %%
# The position block
# ------------------
plot_embedding(embedding, data.position[:, 0], dims=tuple(blocks["position"]),
               color_label="x (m)", dim_names=model.get_feature_names_out(),
               title="position block, coloured by x")

"""
Which cells are explained by position, head direction and speed?
================================================================

A simulated rat forages in a 1 m box (ratinabox), recorded by place, grid,
head-direction and speed cells. The hypothesis: position explains the place and
grid cells, head direction the head-direction cells, speed the speed cells. One
behaviour block per variable (``behavior_groups``) plus a time block; the map's
behaviour rows are scored against the hypothesis, for the inverted and the plain
neuron gradient. Needs ``pip install skattr[ratinabox]``.
"""

import os

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.linear_model import LinearRegression

from skattr import stats, xCEBRAAttributor
from skattr.datasets import make_ratinabox
from skattr.metrics import hypothesis_auc, summarize_by_label
from skattr.plotting import plot_attribution_map, plot_embedding, plot_loss_curves

QUICK = os.environ.get("SKATTR_GALLERY_QUICK") == "1"
N_SAMPLES, MAX_ITER = (3_000, 300) if QUICK else (20_000, 2_000)

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
model = xCEBRAAttributor(
    {"position": 2, "head_direction": 2, "speed": 1}, 2, behavior_groups=groups,
    max_iter=MAX_ITER, random_state=0,
).fit(X, labels)
blocks = stats.blocks(model)
embedding = model.transform(X)
for name, columns in groups.items():
    block = embedding[:, blocks[name]]
    r2 = LinearRegression().fit(block, labels[columns]).score(block, labels[columns])
    print(f"linear R2 of {name} from its block: {r2:.2f}")
plot_loss_curves(model, title="training")
plt.tight_layout()

# %%
# The map against the hypothesis
# ------------------------------
# Only the behaviour rows are scored: the time block is no hypothesis about cell
# types.
hypothesis = {"position": ["place", "grid"], "head_direction": "head_direction",
              "speed": "speed"}
maps = {"inverted neuron gradient": model.attribution_map_,
        "neuron gradient": model.attribute(X, method="gradient")}
figure, axes = plt.subplots(2, 1, figsize=(10, 7), constrained_layout=True)
for ax, (name, values) in zip(axes, maps.items(), strict=True):
    auc = hypothesis_auc(values, blocks, data.cell_type, hypothesis)
    print(f"{name}: AUC against the hypothesis {auc:.3f}")
    plot_attribution_map(values / values.max(1, keepdims=True), feature_labels=data.cell_type,
                         latent_groups=blocks, ax=ax, title=f"{name}: AUC {auc:.3f}")
print(summarize_by_label(model.attribution_map_, blocks, data.cell_type).round(3))

# %%
# The position block
# ------------------
plot_embedding(embedding, data.position[:, 0], dims=tuple(blocks["position"]),
               color_label="x (m)", dim_names=model.get_feature_names_out(),
               title="position block, coloured by x")

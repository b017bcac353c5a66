"""Integrated gradient correlation (IGC, Lelièvre & Chen 2024): a dataset-wise map whose entries
sum, per latent, to the correlation between the latent and its target over the data."""

from __future__ import annotations

import numpy as np
import torch

from ._core import AttributionMethod, check_outputs, reduce_lags
from ._paths import baseline_like, check_baselines, check_path, path_integral

# Samples per forward pass when prepare() gathers the outputs' statistics: bounds its memory
# without needing attribute()'s batch_size.
_STATISTICS_CHUNK = 1024


class IntegratedGradientCorrelation(AttributionMethod):
    """IGC: ``sum_t IG_k(x_t) (y_tk - mean(y_k)) / (T std(f_k) std(y_k))``, ``(K, N)``.

    ``IG_k(x)`` are the integrated gradients of latent ``k`` from the baseline ``x0`` to ``x``.
    By IG's completeness and ``sum_t (y_tk - mean(y_k)) = 0``, each latent's row sums to the
    Pearson correlation between ``f_k`` and ``y_k`` over the data, whatever the (fixed)
    baseline, up to the error of the path integral. The target (``attribute(..., target=y)``)
    needs one column per latent; without one, the model's own output is the target
    (label-free IGC), and each row sums to 1.

    The per-sample maps are the weighted IG terms, so the default ``"sum"`` reduction over
    samples is IGC. :meth:`prepare` computes the data's means and (population) standard
    deviations first, without gradients. For windowed encoders the lag axis is summed (with the
    default signed ``lag_reduction="mean"``), which keeps the completeness; ``"mean_abs"`` gives
    the mean absolute value over lags, which has none. ``n_steps`` path points of each sample
    go through one pass, so a batch costs ``n_steps x batch_size`` model evaluations.

    Parameters
    ----------
    n_steps : int, default=50
        Number of points of the path integral.
    rule : {"gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", \
"riemann_middle"}, default="gausslegendre"
        Integration rule: captum's ``method``. Captum's ``"riemann_trapezoid"`` weights sum
        to ``1 - 1/n_steps`` (it halves the end weights of ``1/n_steps`` steps), so its rows
        sum to ``(1 - 1/n_steps) r``.
    baselines : float or array-like of shape (N,) or (N, L), default=0.0
        The start of the path: a scalar, or one sample's values (a ``(N,)`` baseline of a
        windowed encoder is the same at every lag).

    Attributes
    ----------
    correlation_ : ndarray of shape (K,)
        Pearson correlation between each latent and its target column over the data of the
        last run: what each row of the IGC map sums to.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> X = torch.randn(200, 3, dtype=torch.float64)
    >>> y = X[:, :2] + 0.5 * torch.randn(200, 2, dtype=torch.float64)
    >>> igc = IntegratedGradientCorrelation(n_steps=32)
    >>> amap = attribute(model.double(), X, igc, target=y)
    >>> amap.shape
    (2, 3)
    >>> bool(np.allclose(amap.sum(1), igc.correlation_, atol=1e-6))
    True
    """

    name = "igc"
    default_reduction = "sum"

    def __init__(
        self,
        n_steps: int = 50,
        rule: str = "gausslegendre",
        baselines: float | np.ndarray | torch.Tensor = 0.0,
    ) -> None:
        check_path(n_steps, rule)
        self.n_steps = n_steps
        self.rule = rule
        self.baselines = baselines
        self._baselines = check_baselines(baselines)
        self._statistics = None

    def prepare(
        self, model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor | None
    ) -> None:
        with torch.no_grad():
            outputs = torch.cat([
                model(inputs[start : start + _STATISTICS_CHUNK])
                for start in range(0, inputs.shape[0], _STATISTICS_CHUNK)
            ])
        check_outputs(outputs)
        n_latents = outputs.shape[1]
        if target is not None and target.shape[1] != n_latents:
            raise ValueError(
                f"target must have one column per latent for IGC (n_targets = n_latents = "
                f"{n_latents}); got {target.shape[1]} column(s)."
            )
        labels = outputs if target is None else target
        output_mean, output_std = _mean_std(outputs, "latent")
        label_mean, label_std = _mean_std(labels, "target column")
        # Pearson r from population moments, as np.corrcoef; what each row of the map sums to.
        covariance = ((outputs - output_mean) * (labels - label_mean)).mean(0)
        self.correlation_ = (covariance / (output_std * label_std)).to("cpu", torch.float64).numpy()
        self._statistics = {
            "label_free": target is None,
            "label_mean": label_mean,
            "scale": 1 / (inputs.shape[0] * output_std * label_std),
        }

    def attribute_batch(self, model, inputs, lag_reduction, target=None):
        if self._statistics is None:
            raise RuntimeError(
                "IntegratedGradientCorrelation needs the statistics of all samples: call "
                "prepare(model, inputs, target) first (skattr.attribution.attribute does)."
            )
        statistics = self._statistics
        if statistics["label_free"]:
            with torch.no_grad():
                target = model(inputs)
        elif target is None:
            raise ValueError("target is None, but prepare() was given a target.")
        baseline = baseline_like(self._baselines, inputs)
        # IG of all K latents at once: one forward and one batched backward of the S x B points.
        integral = path_integral(model, inputs, baseline, self.rule, self.n_steps)
        integrated = integral * (inputs - baseline)[:, None]
        # Each sample's share of the correlation: its centred label over T std(f) std(y).
        share = (target - statistics["label_mean"]) * statistics["scale"]
        maps = integrated * share.view(*share.shape, *([1] * (inputs.dim() - 1)))
        if maps.dim() == 4 and lag_reduction == "mean":
            return maps.sum(-1)  # lags add up to the feature's share: the rows keep summing to r
        return reduce_lags(maps, lag_reduction)


def _mean_std(values: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Column means and population standard deviations; a ValueError for constant columns."""
    mean = values.mean(0)
    std = (values - mean).square().mean(0).sqrt()
    # A constant column's std is its rounding error, a few eps times its size, not always 0.
    constant = std <= 16 * torch.finfo(values.dtype).eps * mean.abs()
    if constant.any():
        columns = torch.nonzero(constant).flatten().tolist()
        raise ValueError(
            f"IGC needs every {what} to vary over the samples (a correlation with a constant is "
            f"undefined); {what}(s) {columns} are constant."
        )
    return mean, std


__all__ = ["IntegratedGradientCorrelation"]

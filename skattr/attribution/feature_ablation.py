"""Feature ablation: how much each latent changes when a feature (group) is set to a baseline."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from ._core import AttributionMethod, check_outputs, reduce_lags
from ._paths import baseline_like, check_baselines


class FeatureAblation(AttributionMethod):
    """Per-sample ``f_k(x) - f_k(x with feature i's group set to its baseline)``, ``(K, N)``.

    The same sign convention as captum's ``FeatureAblation``. All ``K`` latents come from the
    same perturbed forward pass: the ``B x G`` ablated copies of a batch (``G`` groups) are
    stacked and run through the model together, ``perturbations_per_eval`` groups at a time.

    Parameters
    ----------
    baselines : float or array-like of shape (N,) or (N, L), default=0.0
        The value an ablated feature is set to: a scalar, or one sample's values. A ``(N,)``
        baseline of a windowed encoder is the same at every lag.
    feature_mask : array-like of int, shape (N,) or (N, L), optional
        Labels of groups ablated together; every member of a group gets the group's
        attribution, as in captum. ``None`` ablates each feature on its own (for windows, across
        all its lags). An ``(N, L)`` mask (windows only) gives ``(N, L)`` maps whose lag axis
        is then reduced with ``lag_reduction``.
    perturbations_per_eval : int, optional
        How many groups are evaluated in one forward pass (bounds memory to
        ``perturbations_per_eval x B`` inputs); ``None`` evaluates all groups at once.

    Examples
    --------
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Linear(3, 2)
    >>> X = torch.randn(10, 3)
    >>> amap = attribute(model, X, method="feature-ablation", reduction="mean")
    >>> expected = model.weight * X.mean(0)  # linear: w_ki (x_i - 0)
    >>> bool(torch.allclose(torch.as_tensor(amap).float(), expected, atol=1e-6))
    True
    """

    name = "feature-ablation"

    def __init__(
        self,
        baselines: float | np.ndarray | torch.Tensor = 0.0,
        feature_mask: np.ndarray | torch.Tensor | None = None,
        perturbations_per_eval: int | None = None,
    ) -> None:
        self.baselines = baselines
        self.feature_mask = feature_mask
        self.perturbations_per_eval = perturbations_per_eval
        self._baselines = check_baselines(baselines)
        self._mask = None if feature_mask is None else _check_mask(feature_mask)
        if perturbations_per_eval is not None and (
            not isinstance(perturbations_per_eval, Integral)
            or isinstance(perturbations_per_eval, bool)
            or perturbations_per_eval < 1
        ):
            raise ValueError(
                "perturbations_per_eval must be a positive integer or None; got "
                f"{perturbations_per_eval!r}."
            )

    def attribute_batch(self, model, inputs, lag_reduction, target=None):
        sample_shape = tuple(inputs.shape[1:])
        labels = self._labels(sample_shape).to(inputs.device)
        # Group ids 0..G-1 whatever the labels are, and a one-hot (G, *mask shape) of members.
        groups, group_of = torch.unique(labels, return_inverse=True)
        members = group_of == torch.arange(len(groups), device=inputs.device).view(
            -1, *([1] * group_of.dim())
        )
        if members.dim() == 2 and len(sample_shape) == 2:  # an (N,) mask ablates all lags
            members = members[:, :, None].expand(-1, *sample_shape)
        baseline = baseline_like(self._baselines, inputs)
        per_eval = self.perturbations_per_eval or len(groups)
        with torch.no_grad():
            initial = check_outputs(model(inputs))
            ablated = []
            for start in range(0, len(groups), per_eval):
                chunk = members[start : start + per_eval, None]  # (g, 1, *sample_shape)
                # (g, B, *sample_shape) -> one forward of g*B inputs for all latents at once.
                perturbed = torch.where(chunk, baseline, inputs[None])
                outputs = model(perturbed.reshape(-1, *sample_shape))
                ablated.append(outputs.reshape(chunk.shape[0], *initial.shape))
            # (B, K, G): the drop of each latent when each group is ablated.
            diff = (initial[None] - torch.cat(ablated)).permute(1, 2, 0)
        # Every member of a group gets the group's attribution: (B, K, *mask shape).
        return reduce_lags(diff[:, :, group_of], lag_reduction)

    def _labels(self, sample_shape: tuple[int, ...]) -> torch.Tensor:
        """The group label of each feature (or feature and lag) of one sample."""
        if self._mask is None:
            return torch.arange(sample_shape[0])
        mask_shape = tuple(self._mask.shape)
        if mask_shape != sample_shape and mask_shape != sample_shape[:1]:
            expected = "(N,)" if len(sample_shape) == 1 else "(N,) or (N, L)"
            raise ValueError(
                f"feature_mask must have shape {expected} = {sample_shape}; got shape "
                f"{mask_shape}."
            )
        return self._mask


def _check_mask(feature_mask) -> torch.Tensor:
    """``feature_mask`` as an int64 CPU tensor of dimension 1 or 2."""
    mask = torch.as_tensor(
        np.asarray(feature_mask) if not torch.is_tensor(feature_mask) else feature_mask
    )
    if mask.dtype == torch.bool or mask.is_floating_point() or mask.is_complex():
        raise ValueError(
            f"feature_mask must be an array of integer group labels; got dtype {mask.dtype}."
        )
    if mask.dim() not in (1, 2):
        raise ValueError(
            f"feature_mask must have shape (N,) or (N, L); got shape {tuple(mask.shape)}."
        )
    return mask.detach().to("cpu", torch.int64)


__all__ = ["FeatureAblation"]

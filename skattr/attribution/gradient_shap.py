"""Gradient SHAP: expected gradients from random baselines (captum's GradientShap, all latents)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch

from ._core import AttributionMethod, jacobian, reduce_lags

BASELINE_NAMES = ("zeros", "shuffle")


class GradientShap(AttributionMethod):
    """Gradient SHAP: ``E[J_f(b + α (x̃ - b)) ⊙ (x̃ - b)]``, ``(K, N)`` per sample.

    For each sample, ``n_samples`` draws of a noisy input ``x̃ = x + ε`` (``ε`` gaussian with
    standard deviation ``stdevs``), a baseline ``b`` from the baseline set and ``α ~ U[0, 1]``;
    the attribution is the mean over the draws, the same Monte Carlo estimator as captum's
    ``GradientShap``. All ``K`` latents come from one forward pass over the ``n_samples`` times
    batch-size points and one batched backward, so memory grows with ``n_samples * batch_size``
    (lower ``batch_size`` in :func:`~skattr.attribution.attribute` to bound it). For windowed
    (convolutional) encoders the product is taken per lag and the lag axis reduced after.

    Parameters
    ----------
    baselines : {"zeros", "shuffle"} or array-like of shape (M, N) or (M, N, L), default="zeros"
        The baseline set: a single all-zero sample, ``"shuffle"`` for the samples of the data
        given to :func:`~skattr.attribution.attribute` (drawn uniformly from all of them, so a
        sample is its own baseline with probability ``1/T``), or ``M`` baseline samples. An
        ``(M, N)`` set for a windowed encoder is the same at every lag.
    n_samples : int, default=5
        Draws per sample.
    stdevs : float, default=0.0
        Standard deviation of the gaussian noise added to the inputs.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the draws, which come from a generator of this method's own on the model's device
        (torch's and numpy's global random states are left alone). A fixed int gives the same
        maps for the same data and ``batch_size``; a Generator gives new draws on each call.

    Examples
    --------
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> X = torch.randn(50, 4)
    >>> shap = GradientShap(baselines="shuffle", n_samples=10, random_state=0)
    >>> amap = attribute(model, X, shap)
    >>> amap.shape
    (2, 4)
    >>> bool((attribute(model, X, shap) == amap).all())  # the same draws for a fixed int
    True
    """

    name = "gradient-shap"

    def __init__(
        self,
        baselines="zeros",
        n_samples: int = 5,
        stdevs: float = 0.0,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        if isinstance(baselines, str) and baselines not in BASELINE_NAMES:
            raise ValueError(
                f"baselines must be one of {BASELINE_NAMES} or an array of baseline samples; "
                f"got {baselines!r}."
            )
        if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        if (
            not isinstance(stdevs, Real)
            or isinstance(stdevs, bool)
            or not np.isfinite(stdevs)
            or stdevs < 0
        ):
            raise ValueError(f"stdevs must be a non-negative finite number; got {stdevs!r}.")
        if not (
            random_state is None
            or isinstance(random_state, np.random.Generator)
            or (isinstance(random_state, Integral) and not isinstance(random_state, bool)
                and random_state >= 0)
        ):
            raise ValueError(
                f"random_state must be a non-negative int, a numpy.random.Generator or None; "
                f"got {random_state!r}."
            )
        self.baselines = baselines
        self.n_samples = int(n_samples)
        self.stdevs = float(stdevs)
        self.random_state = random_state

    def prepare(
        self, model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor | None
    ) -> None:
        self._baseline_set = _baseline_set(self.baselines, inputs)
        if isinstance(self.random_state, Integral):
            seed = int(self.random_state)
        else:
            # A Generator (or fresh OS entropy for None) gives the seed, so that numpy's global
            # state is not consumed and successive calls with one Generator differ.
            rng = np.random.default_rng() if self.random_state is None else self.random_state
            seed = int(rng.integers(2**63))
        # A generator of our own on the inputs' device: draws need no host-device copies and
        # leave torch's global random state as the caller had it.
        self._generator = torch.Generator(device=inputs.device).manual_seed(seed)

    def attribute_batch(
        self,
        model: torch.nn.Module,
        inputs: torch.Tensor,
        lag_reduction: str,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if not hasattr(self, "_generator"):  # called without attribute(): prepare on the batch
            self.prepare(model, inputs, target)
        noisy, baselines, alphas = self._draws(inputs.detach())
        return reduce_lags(_expected_gradients(model, noisy, baselines, alphas), lag_reduction)

    def _draws(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next draws for ``inputs`` ``(B, ...)``: noisy inputs and baselines, both
        ``(n_samples, B, ...)``, and the path positions ``alpha``, ``(n_samples, B)``."""
        draws = (self.n_samples, inputs.shape[0])
        options = {"generator": self._generator, "device": inputs.device}
        choice = torch.randint(len(self._baseline_set), draws, **options)
        alphas = torch.rand(draws, dtype=inputs.dtype, **options)
        noisy = inputs.expand(self.n_samples, *inputs.shape)
        if self.stdevs > 0:
            noise = torch.randn(noisy.shape, dtype=inputs.dtype, **options)
            noisy = noisy + self.stdevs * noise
        return noisy, self._baseline_set[choice], alphas


def _expected_gradients(
    model: torch.nn.Module, noisy: torch.Tensor, baselines: torch.Tensor, alphas: torch.Tensor
) -> torch.Tensor:
    """Mean over draws of ``J_f(b + α (x̃ - b)) ⊙ (x̃ - b)``: ``(B, K, ...)`` from
    ``(S, B, ...)`` noisy inputs and baselines and ``(S, B)`` positions ``alpha``."""
    n_samples, batch = alphas.shape
    difference = noisy - baselines
    points = baselines + alphas.view(*alphas.shape, *[1] * (noisy.dim() - 2)) * difference
    # All S * B points in one forward and one batched backward for the K latents.
    jac = jacobian(model, points.reshape(n_samples * batch, *noisy.shape[2:]))
    jac = jac.view(n_samples, batch, *jac.shape[1:])
    return (jac * difference[:, :, None]).mean(0)


# Not the one-sample baseline of the path methods and feature ablation (``_paths``): a set of
# M baselines with a leading axis, drawn from per path point, which may be the data itself.
def _baseline_set(baselines, inputs: torch.Tensor) -> torch.Tensor:
    """The ``(M, ...)`` baseline samples on the inputs' device, shaped like one input each."""
    sample_shape = inputs.shape[1:]
    if isinstance(baselines, str):
        if baselines == "shuffle":
            return inputs  # the data itself: a reference, not a copy
        return inputs.new_zeros((1, *sample_shape))
    data = torch.as_tensor(baselines if torch.is_tensor(baselines) else np.asarray(baselines))
    data = data.to(device=inputs.device, dtype=inputs.dtype)
    if data.dim() == 2 and len(sample_shape) == 2 and data.shape[1] == sample_shape[0]:
        data = data[:, :, None].expand(-1, -1, sample_shape[1])  # the same at every lag
    if data.dim() != len(sample_shape) + 1 or data.shape[1:] != sample_shape or len(data) == 0:
        expected = ", ".join(str(size) for size in sample_shape)
        raise ValueError(
            f"baselines must have shape (n_baselines, {expected}) with n_baselines >= 1; "
            f"got shape {tuple(data.shape)}."
        )
    if not torch.isfinite(data).all():
        raise ValueError("baselines contains NaN or infinite values.")
    return data


__all__ = ["GradientShap"]

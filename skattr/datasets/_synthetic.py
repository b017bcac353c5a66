"""The xCEBRA paper's synthetic benchmark: random-walk latents, a random nonlinear mixing."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.special import ndtr, ndtri
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params


def truncated_normal_walk(
    n_samples: int, n_dims: int, step_std: float, rng: np.random.Generator
) -> np.ndarray:
    """Random walk in ``[-1, 1]^D``: ``z_0 ~ U[-1, 1]^D``, then
    ``z_t ~ TruncNormal(z_{t-1}, step_std^2)`` truncated to ``[-1, 1]``.

    The truncated normal is drawn exactly, by the inverse CDF between the two truncation points
    (truncation, not clipping, so no mass piles up at the bounds).
    """
    uniforms = rng.random((n_samples, n_dims))
    walk = np.empty((n_samples, n_dims))
    walk[0] = 2.0 * uniforms[0] - 1.0
    for t in range(1, n_samples):
        mean = walk[t - 1]
        low = ndtr((-1.0 - mean) / step_std)
        high = ndtr((1.0 - mean) / step_std)
        walk[t] = mean + step_std * ndtri(low + uniforms[t] * (high - low))
    # ndtri(1) = inf for a probability rounded to one; the bound is where the mass is.
    return np.clip(walk, -1.0, 1.0)


def _random_mixing(n_in: int, n_out: int, n_layers: int, slope: float, rng) -> callable:
    """A bias-free MLP, LeakyReLU(slope) activations, Gaussian weights of scale 1/sqrt(fan_in)."""
    sizes = [n_in] + [n_out] * n_layers
    weights = [
        rng.standard_normal((a, b)) / np.sqrt(a)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]

    def mix(z: np.ndarray) -> np.ndarray:
        for i, weight in enumerate(weights):
            z = z @ weight
            if i < len(weights) - 1:
                z = np.where(z > 0, z, slope * z)
        return z

    return mix


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_time_latents": [Interval(Integral, 1, None, closed="left")],
        "n_behavior_latents": [Interval(Integral, 1, None, closed="left")],
        "n_time_neurons": [Interval(Integral, 1, None, closed="left")],
        "n_behavior_neurons": [Interval(Integral, 1, None, closed="left")],
        "step_std": [Interval(Real, 0, None, closed="neither")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "slope": [Interval(Real, 0, 1, closed="neither")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_synthetic(
    n_samples: int = 100_000,
    n_time_latents: int = 3,
    n_behavior_latents: int = 3,
    n_time_neurons: int = 25,
    n_behavior_neurons: int = 25,
    *,
    step_std: float = 0.1,
    n_layers: int = 3,
    slope: float = 0.2,
    noise: float = 0.0,
    random_state=None,
):
    """Generate the paper's synthetic attribution benchmark.

    Latents are truncated-normal random walks in ``[-1, 1]``: a time-only block ``z1`` and a
    behaviour block ``z2``. The neurons are ``x = [g1(z1); g2(z1, z2)]`` with ``g1``, ``g2`` random
    bias-free LeakyReLU networks, so ``z1`` drives every neuron and ``z2`` only the second group.

    Parameters
    ----------
    n_samples : int, default=100_000
        Number of time points ``T``.
    n_time_latents, n_behavior_latents : int, default=3
        Sizes of ``z1`` (known only through time) and ``z2`` (observed as the behaviour ``y``).
    n_time_neurons, n_behavior_neurons : int, default=25
        Neurons driven by ``g1(z1)`` (the first block) and by ``g2(z1, z2)`` (the second block).
    step_std : float, default=0.1
        Standard deviation of a random-walk step before truncation.
    n_layers : int, default=3
        Linear layers of each mixing network.
    slope : float, default=0.2
        Negative slope of the LeakyReLU activations.
    noise : float, default=0.0
        Standard deviation of Gaussian observation noise added to ``X``.
    random_state : int, RandomState instance or None, default=None
        Seeds the latents, the mixing and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_time_neurons + n_behavior_neurons)
        The neural data, rows in time order.
    y : ndarray of shape (n_samples, n_behavior_latents)
        The behaviour, ``z2``.
    latents : ndarray of shape (n_samples, n_behavior_latents + n_time_latents)
        ``[z2, z1]``, in the order of :class:`~skattr.xCEBRAAttributor`'s embedding
        (behaviour block first).
    ground_truth : ndarray of bool, shape (n_behavior_latents + n_time_latents, n_features)
        ``True`` where a latent drives a neuron; rows ordered as ``latents``.

    Examples
    --------
    >>> X, y, latents, ground_truth = make_synthetic(n_samples=1000, random_state=0)
    >>> X.shape, y.shape, latents.shape, ground_truth.shape
    ((1000, 50), (1000, 3), (1000, 6), (6, 50))
    >>> int(ground_truth.sum())  # z1 -> all 50 neurons, z2 -> the last 25
    225
    """
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    n_latents = n_time_latents + n_behavior_latents
    walk = truncated_normal_walk(n_samples, n_latents, step_std, rng)
    z1, z2 = walk[:, :n_time_latents], walk[:, n_time_latents:]
    g1 = _random_mixing(n_time_latents, n_time_neurons, n_layers, slope, rng)
    g2 = _random_mixing(n_latents, n_behavior_neurons, n_layers, slope, rng)
    X = np.hstack([g1(z1), g2(np.hstack([z1, z2]))])
    if noise > 0:
        X = X + noise * rng.standard_normal(X.shape)
    n_features = n_time_neurons + n_behavior_neurons
    ground_truth = np.zeros((n_latents, n_features), dtype=bool)
    ground_truth[:n_behavior_latents, n_time_neurons:] = True
    ground_truth[n_behavior_latents:, :] = True
    return X, z2.copy(), np.hstack([z2, z1]), ground_truth

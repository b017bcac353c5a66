"""The xCEBRA paper's synthetic benchmark, and a family of variations around it.

The paper's data are truncated-normal random walks mixed by random bias-free LeakyReLU networks.
The variations (other latent dynamics, nonlinearities, observation models) exist so that defaults
are chosen, and maps are checked, on data unlike the one generator they were developed on.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.special import ndtr, ndtri
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params


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


def clipped_normal_walk(
    n_samples: int, n_dims: int, step_std: float, rng: np.random.Generator
) -> np.ndarray:
    """Random walk in ``[-1, 1]^D`` whose Gaussian steps are clipped at the bounds, so that the
    walk sticks to a wall for a while (mass piles up at -1 and 1, unlike truncation).

    Parameters
    ----------
    n_samples, n_dims : int
        Length and dimension of the walk.
    step_std : float
        Standard deviation of a step before clipping.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n_samples, n_dims)

    Examples
    --------
    >>> import numpy as np
    >>> walk = clipped_normal_walk(10_000, 1, 0.1, np.random.default_rng(0))
    >>> bool(walk.min() == -1.0 and walk.max() == 1.0)  # it reaches the walls and stays there
    True
    """
    walk = np.empty((n_samples, n_dims))
    walk[0] = rng.uniform(-1.0, 1.0, n_dims)
    steps = step_std * rng.standard_normal((n_samples, n_dims))
    for t in range(1, n_samples):
        walk[t] = np.clip(walk[t - 1] + steps[t], -1.0, 1.0)
    return walk


def ornstein_uhlenbeck(
    n_samples: int, n_dims: int, step_std: float, rng: np.random.Generator
) -> np.ndarray:
    """Stationary Ornstein-Uhlenbeck process with the variance of ``U[-1, 1]`` (1/3) and one-step
    increments of standard deviation ``step_std``: unbounded, mean-reverting latents.

    Parameters and returns as :func:`clipped_normal_walk`.

    Examples
    --------
    >>> import numpy as np
    >>> walk = ornstein_uhlenbeck(100_000, 1, 0.1, np.random.default_rng(0))
    >>> round(float(walk.var()), 1), round(float(np.diff(walk[:, 0]).std()), 2)
    (0.3, 0.1)
    """
    variance = 1.0 / 3.0
    # Var(z_t - z_{t-1}) = 2 variance (1 - a) = step_std^2; a stays in [0, 1).
    decay = max(1.0 - step_std**2 / (2.0 * variance), 0.0)
    innovation = np.sqrt(variance * (1.0 - decay**2))
    noise = rng.standard_normal((n_samples, n_dims))
    walk = np.empty((n_samples, n_dims))
    walk[0] = np.sqrt(variance) * noise[0]
    for t in range(1, n_samples):
        walk[t] = decay * walk[t - 1] + innovation * noise[t]
    return walk


def smooth_process(
    n_samples: int, n_dims: int, step_std: float, rng: np.random.Generator
) -> np.ndarray:
    """A differentiable latent: an Ornstein-Uhlenbeck process smoothed by a Gaussian kernel of
    width ``1 / step_std`` samples, rescaled to variance 1/3 (no jumps from one step to the
    next, unlike the walks).

    Parameters and returns as :func:`clipped_normal_walk`.

    Examples
    --------
    >>> import numpy as np
    >>> smooth = smooth_process(10_000, 1, 0.1, np.random.default_rng(0))
    >>> rough = ornstein_uhlenbeck(10_000, 1, 0.1, np.random.default_rng(0))
    >>> bool(np.abs(np.diff(smooth[:, 0])).mean() < 0.2 * np.abs(np.diff(rough[:, 0])).mean())
    True
    """
    from scipy.ndimage import gaussian_filter1d

    width = 1.0 / step_std
    rough = ornstein_uhlenbeck(n_samples, n_dims, step_std, rng)
    smooth = gaussian_filter1d(rough, width, axis=0, mode="reflect")
    smooth -= smooth.mean(0)
    return smooth * np.sqrt(1.0 / 3.0) / np.maximum(smooth.std(0), 1e-12)


LATENT_DYNAMICS = {
    "truncated": truncated_normal_walk,
    "clipped": clipped_normal_walk,
    "ou": ornstein_uhlenbeck,
    "smooth": smooth_process,
}


def _activation(nonlinearity: str, slope: float):
    """The mixing's elementwise nonlinearity; ``slope`` is LeakyReLU's negative slope."""
    if nonlinearity == "leaky_relu":
        return lambda z: np.where(z > 0, z, slope * z)
    if nonlinearity == "tanh":
        return np.tanh
    return lambda z: np.logaddexp(0.0, z)  # softplus


NONLINEARITIES = ("leaky_relu", "tanh", "softplus")
CONNECTIVITIES = ("paper", "disjoint", "mirrored")


def _random_mixing(
    n_in: int, n_out: int, n_layers: int, activation, rng
) -> callable:
    """A bias-free MLP with ``activation`` between layers, Gaussian weights of scale
    1/sqrt(fan_in)."""
    sizes = [n_in] + [n_out] * n_layers
    weights = [
        rng.standard_normal((a, b)) / np.sqrt(a)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]

    def mix(z: np.ndarray) -> np.ndarray:
        for i, weight in enumerate(weights):
            z = z @ weight
            if i < len(weights) - 1:
                z = activation(z)
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
        "behavior_step_std": [Interval(Real, 0, None, closed="neither"), None],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "slope": [Interval(Real, 0, 1, closed="neither")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "latent_dynamics": [StrOptions(set(LATENT_DYNAMICS))],
        "nonlinearity": [StrOptions(set(NONLINEARITIES))],
        "observation": [StrOptions({"continuous", "poisson"})],
        "mean_count": [Interval(Real, 0, None, closed="neither")],
        "modulation": [Interval(Real, 0, None, closed="neither")],
        "connectivity": [StrOptions(set(CONNECTIVITIES))],
        "latent_coupling": [Interval(Real, 0, 1, closed="left")],
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
    behavior_step_std: float | None = None,
    n_layers: int = 3,
    slope: float = 0.2,
    noise: float = 0.0,
    latent_dynamics: str = "truncated",
    nonlinearity: str = "leaky_relu",
    observation: str = "continuous",
    mean_count: float = 1.0,
    modulation: float = 2.0,
    connectivity: str = "paper",
    latent_coupling: float = 0.0,
    random_state=None,
):
    """Generate the paper's synthetic attribution benchmark, or a variation of it.

    By default, as in the paper, latents are truncated-normal random walks in ``[-1, 1]``: a
    time-only block ``z1`` and a behaviour block ``z2``. The neurons are
    ``x = [g1(z1); g2(z1, z2)]`` with ``g1``, ``g2`` random bias-free LeakyReLU networks, so ``z1``
    drives every neuron and ``z2`` only the second group. The keyword parameters vary the
    dynamics, the mixing and the observation model while keeping that ground truth.

    Parameters
    ----------
    n_samples : int, default=100_000
        Number of time points ``T``.
    n_time_latents, n_behavior_latents : int, default=3
        Sizes of ``z1`` (known only through time) and ``z2`` (observed as the behaviour ``y``).
    n_time_neurons, n_behavior_neurons : int, default=25
        Neurons driven by ``g1(z1)`` (the first block) and by ``g2(z1, z2)`` (the second block).
    step_std : float, default=0.1
        Standard deviation of one step of the latents (before truncation or clipping).
    behavior_step_std : float, default=None
        Another step for the behaviour latents ``z2`` than for ``z1`` (latents that move on
        different time scales); ``None`` means ``step_std``.
    n_layers : int, default=3
        Linear layers of each mixing network (1: a linear mixing).
    slope : float, default=0.2
        Negative slope of the LeakyReLU activations.
    noise : float, default=0.0
        Standard deviation of Gaussian observation noise added to ``X`` (continuous
        observations only).
    latent_dynamics : {"truncated", "clipped", "ou", "smooth"}, default="truncated"
        ``"truncated"``: the paper's truncated-normal walk in ``[-1, 1]``; ``"clipped"``: Gaussian
        steps clipped at the bounds (the walk dwells at the walls, so labels repeat);
        ``"ou"``: an unbounded, mean-reverting Ornstein-Uhlenbeck process of variance 1/3;
        ``"smooth"``: that process smoothed by a Gaussian kernel of ``1 / step_std`` samples.
    nonlinearity : {"leaky_relu", "tanh", "softplus"}, default="leaky_relu"
        Activation of the mixing networks.
    observation : {"continuous", "poisson"}, default="continuous"
        ``"poisson"``: ``X`` holds spike counts drawn from each neuron's rate
        ``r = mean_count * softplus(modulation * x') / mean_t softplus(modulation * x')``, where
        ``x'`` is ``x`` standardised per neuron, instead of ``x`` itself.
    mean_count : float, default=1.0
        Mean spike count per sample and neuron, for ``observation="poisson"``.
    modulation : float, default=2.0
        Gain of the rates, for ``observation="poisson"``: at 2 a neuron's rate varies tens of
        times between its 10th and 90th percentile; small values give rates that barely move
        (counts dominated by Poisson noise).
    connectivity : {"paper", "disjoint", "mirrored"}, default="paper"
        Which latents drive which neurons, and so the ground truth. ``"paper"``:
        ``x = [g1(z1); g2(z1, z2)]`` (``z1`` drives every neuron, ``z2`` the second group);
        ``"disjoint"``: ``x = [g1(z1); g2(z2)]`` (each block drives its own group only);
        ``"mirrored"``: ``x = [g1(z1, z2); g2(z2)]`` (``z2`` drives every neuron, ``z1`` the first
        group). The paper's layout rewards a map whose time rows are larger than its behaviour
        rows whatever their pattern; the other two do not, so a family with all three checks
        that a map finds the pattern rather than a scale.
    latent_coupling : float in [0, 1), default=0.0
        How much the time-only latents move with the behaviour: time latent ``k`` becomes
        ``sqrt(1 - c^2) z1_k + c z2_(k mod n_behavior_latents)``, so (for equal steps) its
        increments are correlated ``c`` with that behaviour latent's, as an internal state
        that follows the behaviour in part. The ground truth is unchanged: the coupled ``z1``
        is what drives the neurons. Its paths may leave ``[-1, 1]``.
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
    dynamics = LATENT_DYNAMICS[latent_dynamics]
    if behavior_step_std is None:
        walk = dynamics(n_samples, n_latents, step_std, rng)
        z1, z2 = walk[:, :n_time_latents], walk[:, n_time_latents:]
    else:
        z1 = dynamics(n_samples, n_time_latents, step_std, rng)
        z2 = dynamics(n_samples, n_behavior_latents, behavior_step_std, rng)
    if latent_coupling > 0:
        partners = z2[:, np.arange(n_time_latents) % n_behavior_latents]
        z1 = np.sqrt(1 - latent_coupling**2) * z1 + latent_coupling * partners
    activation = _activation(nonlinearity, slope)
    # Which latents each group of neurons sees: (time group, behaviour group).
    time_sees_behavior, behavior_sees_time = {
        "paper": (False, True), "disjoint": (False, False), "mirrored": (True, False)
    }[connectivity]
    time_inputs = np.hstack([z1, z2]) if time_sees_behavior else z1
    behavior_inputs = np.hstack([z1, z2]) if behavior_sees_time else z2
    g1 = _random_mixing(time_inputs.shape[1], n_time_neurons, n_layers, activation, rng)
    g2 = _random_mixing(behavior_inputs.shape[1], n_behavior_neurons, n_layers, activation, rng)
    X = np.hstack([g1(time_inputs), g2(behavior_inputs)])
    if observation == "poisson":
        rates = np.logaddexp(0.0, modulation * (X - X.mean(0)) / np.maximum(X.std(0), 1e-12))
        rates *= mean_count / np.maximum(rates.mean(0), 1e-12)
        X = rng.poisson(rates).astype(np.float64)
    elif noise > 0:
        X = X + noise * rng.standard_normal(X.shape)
    n_features = n_time_neurons + n_behavior_neurons
    ground_truth = np.zeros((n_latents, n_features), dtype=bool)
    ground_truth[:n_behavior_latents, n_time_neurons:] = True
    ground_truth[n_behavior_latents:, :n_time_neurons] = True
    if behavior_sees_time:
        ground_truth[n_behavior_latents:, n_time_neurons:] = True
    if time_sees_behavior:
        ground_truth[:n_behavior_latents, :n_time_neurons] = True
    return X, z2.copy(), np.hstack([z2, z1]), ground_truth

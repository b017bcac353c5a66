"""The data's own time scale: the ``"auto"`` rules of ``time_offset`` (read off the features) and
of ``time_delta`` (read off the behaviour positives the labels give).

A time-contrastive positive teaches the encoder something only if it differs from its reference
by more than noise, and stays close enough that the pair still shares its latent state. The rule
takes the lag at which the signal's autocorrelation has fallen to ``AUTO_CORRELATION`` of its
value at lag 0+, read off the data:

1. standardise every feature and average their autocorrelation functions ``rho(tau)``;
2. extrapolate to lag 0 from lags 1 and 2 (``rho_0 = 2 rho(1) - rho(2)``): white observation
   noise (Gaussian, or the Poisson noise of spike counts) lowers every ``rho(tau >= 1)`` by the
   same factor, so dividing by ``rho_0`` makes the rule blind to it;
3. the offset is the smallest lag with ``rho(tau) / rho_0 <= AUTO_CORRELATION``, at most
   ``n_samples // AUTO_MAX_FRACTION``; data without temporal structure get 1.

A behaviour positive teaches the behaviour block something the time objective does not only if
it lies away from its reference in time. The ``"time_delta"`` query displaces the reference's
label by a label change over ``time_delta`` samples; for smooth labels, or labels sampled
densely, a one-step change is so small that the nearest label is the reference's own
neighbour, and the behaviour positive duplicates the time positive. The rule measures exactly
that, with the fit's own sampler: the share of behaviour positives that lie within
``time_offset`` samples of their reference. It takes the smallest lag of 1, 2, 4, ... at which
that share is at most ``AUTO_NEIGHBOUR_FRACTION`` (for several behaviour groups, the lag the
slowest group needs), at most ``n_samples // AUTO_MAX_FRACTION`` and one less than the longest
trial. Unlike the labels' autocorrelation, the share sees how densely the label space is
covered: a long recording of a slow walk revisits every value many times, its positives come
from other visits already at lag 1, and a longer lag would only blur the query.

A lag only makes time neighbours rarer. The behaviour gap (skattr 0.11) excludes them: the
positive is the sample nearest the query among those more than ``AUTO_GAP_OFFSETS`` time offsets
from the reference (at most ``n_samples // AUTO_GAP_MAX_FRACTION``). On a short recording the
nearest labels are mostly the reference's own neighbours in time, which share its time latents
too, so the behaviour block learnt them; beyond the gap it learns the labels alone. With the gap
no positive lies within the time offset, and the ``time_delta`` rule takes lag 1.
"""

from __future__ import annotations

import numpy as np

from ._sampling import ContrastiveSampler

# The autocorrelation (relative to lag 0+) at which the time positive is taken; chosen on the
# robustness family of benchmarks/robustness.py (see the user guide's table).
AUTO_CORRELATION = 0.8
# The offset never exceeds this fraction of the series, so that most references have a positive.
AUTO_MAX_FRACTION = 20
# The share of behaviour positives allowed to be time neighbours of their reference.
AUTO_NEIGHBOUR_FRACTION = 0.2
# The behaviour gap in time offsets, and the fraction of the series it may span at most; chosen
# on the robustness family (see the user guide's table).
AUTO_GAP_OFFSETS = 4
AUTO_GAP_MAX_FRACTION = 8
# Probes of the sampler per candidate lag: the share is known to about +-0.01.
_NEIGHBOUR_PROBES = 4096
# Features used to estimate the autocorrelation: enough to average out their differences.
_MAX_FEATURES = 256


def mean_autocorrelation(X: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation at lags ``0 .. max_lag``, averaged over the non-constant features of ``X``.

    Computed by FFT in ``O(T log T)`` per feature; the estimate at lag ``tau`` divides by the
    ``T - tau`` pairs it has.

    Examples
    --------
    >>> import numpy as np
    >>> walk = np.cumsum(np.random.default_rng(0).standard_normal((5000, 2)), axis=0)
    >>> rho = mean_autocorrelation(walk, 3)
    >>> bool(rho[0] == 1.0 and 1.0 > rho[1] > rho[2] > rho[3] > 0.9)
    True
    """
    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] > _MAX_FEATURES:
        X = X[:, np.linspace(0, X.shape[1] - 1, _MAX_FEATURES).astype(int)]
    std = X.std(0)
    X = (X[:, std > 0] - X[:, std > 0].mean(0)) / std[std > 0]
    n_samples = len(X)
    if X.shape[1] == 0:
        return np.r_[1.0, np.zeros(max_lag)]
    size = 1 << int(np.ceil(np.log2(2 * n_samples)))
    spectrum = np.fft.rfft(X, n=size, axis=0)
    covariance = np.fft.irfft(spectrum * spectrum.conj(), n=size, axis=0)[: max_lag + 1]
    covariance = covariance.mean(1) / (n_samples - np.arange(max_lag + 1))
    return covariance / covariance[0]


def auto_time_offset(X: np.ndarray) -> int:
    """The ``time_offset="auto"`` of :class:`~skattr.xCEBRAAttributor` for the features ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> auto_time_offset(rng.standard_normal((1000, 5)))  # no temporal structure
    1
    >>> from scipy.signal import lfilter
    >>> noise = rng.standard_normal((20000, 5))
    >>> # AR(1) processes: the autocorrelation is 0.99^tau, resp. 0.9^tau.
    >>> auto_time_offset(lfilter([1.0], [1.0, -0.99], noise, axis=0))
    22
    >>> auto_time_offset(lfilter([1.0], [1.0, -0.9], noise, axis=0))
    3
    """
    n_samples = len(X)
    max_lag = max(n_samples // AUTO_MAX_FRACTION, 1)
    if n_samples < 3 * max(max_lag, 2):
        return 1
    rho = mean_autocorrelation(X, max(max_lag, 2))
    rho_zero = min(2.0 * rho[1] - rho[2], 1.0)
    if rho_zero <= 0.0 or rho[1] <= 0.0:
        return 1
    below = np.flatnonzero(rho[1 : max_lag + 1] / rho_zero <= AUTO_CORRELATION)
    return int(below[0] + 1) if below.size else max_lag


def auto_behavior_gap(time_offset: int, n_samples: int) -> int:
    """The ``behavior_gap="auto"`` of :class:`~skattr.xCEBRAAttributor`: ``AUTO_GAP_OFFSETS``
    time offsets, at most ``n_samples // AUTO_GAP_MAX_FRACTION``.

    Examples
    --------
    >>> auto_behavior_gap(7, 1000), auto_behavior_gap(50, 1000)
    (28, 125)
    """
    return min(AUTO_GAP_OFFSETS * time_offset, n_samples // AUTO_GAP_MAX_FRACTION)


def _probe_sampler(labels, time_offset, time_delta, bounds, groups, indices=None, gap=0):
    """A fit's sampler for these labels, from a fixed generator: the rule built on its draws
    is a function of the data."""
    return ContrastiveSampler(
        len(labels), time_offset, labels, "time_delta", 0.0, np.random.default_rng(0),
        time_delta=time_delta, bounds=bounds, groups=groups, indices=indices, gap=gap,
    )


def _neighbour_share(sampler: ContrastiveSampler) -> float:
    """Share of ``sampler``'s behaviour positives within its time offset of their reference,
    for the behaviour group where it is largest."""
    reference = sampler.lagged(sampler.time_offset, _NEIGHBOUR_PROBES)
    return max(float(np.mean(np.abs(sampler.behavior_positive(reference, group) - reference)
                             <= sampler.time_offset))
               for group in sampler.indices)


def time_neighbour_share(
    labels: np.ndarray,
    time_offset: int,
    time_delta: int,
    bounds: np.ndarray | None = None,
    groups: list[tuple[int, ...]] | None = None,
) -> float:
    """Share of the ``"time_delta"`` behaviour positives within ``time_offset`` samples of their
    reference, for the behaviour group where it is largest.

    Drawn with :class:`~skattr._sampling.ContrastiveSampler` as a fit draws them, from a fixed
    generator, so that the rule built on it is a function of the data.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.arange(1000.0)[:, None]  # the positive is time_delta samples away
    >>> time_neighbour_share(ramp, 5, 4), round(time_neighbour_share(ramp, 5, 8), 2)
    (1.0, 0.0)
    """
    return _neighbour_share(_probe_sampler(labels, time_offset, time_delta, bounds, groups))


def auto_time_delta(
    labels: np.ndarray,
    time_offset: int,
    bounds: np.ndarray | None = None,
    groups: list[tuple[int, ...]] | None = None,
    gap: int = 0,
) -> int:
    """The ``time_delta="auto"`` of :class:`~skattr.xCEBRAAttributor` for the training labels.

    Parameters
    ----------
    labels : ndarray of shape (n_samples, n_labels)
        Continuous behaviour, rows in time order.
    time_offset : int
        The fit's time offset: a behaviour positive this close to its reference in time is
        one the time objective already has.
    bounds : ndarray of int, default=None
        Trial bounds (see :func:`~skattr._sampling.trial_bounds`); ``None`` is one trial.
    groups : list of tuple of int, default=None
        The behaviour groups' columns; ``None`` is one group of every column.
    gap : int, default=0
        The fit's behaviour gap; one of ``time_offset`` or more leaves no time neighbour, and
        the lag is 1.

    Examples
    --------
    >>> import numpy as np
    >>> auto_time_delta(np.arange(1000.0)[:, None], 5)  # a ramp: the first lag beyond 5
    8
    >>> auto_time_delta(np.arange(1000.0)[:, None], 5, gap=20)
    1
    >>> rng = np.random.default_rng(0)
    >>> auto_time_delta(rng.standard_normal((1000, 2)), 5)  # no temporal structure
    1
    """
    longest_trial = len(labels) if bounds is None else int(np.diff(bounds).max())
    cap = max(min(len(labels) // AUTO_MAX_FRACTION, longest_trial - 1), 1)
    indices = None
    lag = 1
    while lag < cap:
        sampler = _probe_sampler(labels, time_offset, lag, bounds, groups, indices, gap)
        if _neighbour_share(sampler) <= AUTO_NEIGHBOUR_FRACTION:
            return lag
        # The label indices do not depend on the lag: the first sampler's serve every one.
        indices = sampler.indices
        lag *= 2
    return cap

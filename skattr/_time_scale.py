"""The data's own time scale: the ``"auto"`` rule of ``time_offset`` (read off the features) and
of ``time_delta`` (read off the labels).

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
"""

from __future__ import annotations

import numpy as np

# The autocorrelation (relative to lag 0+) at which the time positive is taken; chosen on the
# robustness family of benchmarks/robustness.py (see the user guide's table).
AUTO_CORRELATION = 0.8
# The offset never exceeds this fraction of the series, so that most references have a positive.
AUTO_MAX_FRACTION = 20
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
    """The ``time_offset="auto"`` of :class:`~skattr.xCEBRAAttributor` for the features ``X``,
    and its ``time_delta="auto"`` for the labels ``X = y``.

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

import numpy as np
import pytest
from scipy.signal import lfilter

from skattr._time_scale import (
    AUTO_CORRELATION,
    AUTO_MAX_FRACTION,
    auto_time_offset,
    mean_autocorrelation,
)


def ar1(decay, n_samples=50_000, n_features=8, seed=0):
    noise = np.random.default_rng(seed).standard_normal((n_samples, n_features))
    return lfilter([1.0], [1.0, -decay], noise, axis=0)


def closed_form_offset(decay):
    # rho(tau) = decay^tau; extrapolated to lag 0 from lags 1 and 2: 2 decay - decay^2.
    rho_zero = 2 * decay - decay**2
    tau = 1
    while decay**tau / rho_zero > AUTO_CORRELATION:
        tau += 1
    return tau


def test_autocorrelation_matches_brute_force(rng):
    X = np.cumsum(rng.standard_normal((300, 3)), axis=0)
    rho = mean_autocorrelation(X, 5)
    Z = (X - X.mean(0)) / X.std(0)
    brute = [np.mean([np.mean(Z[: 300 - tau, j] * Z[tau:, j]) for j in range(3)])
             for tau in range(6)]
    np.testing.assert_allclose(rho, np.array(brute) / brute[0], rtol=1e-10)


@pytest.mark.parametrize("decay", [0.9, 0.97, 0.995])
def test_auto_offset_follows_the_closed_form_of_an_ar1_process(decay):
    assert abs(auto_time_offset(ar1(decay)) - closed_form_offset(decay)) <= max(
        1, 0.1 * closed_form_offset(decay))


def test_white_observation_noise_does_not_move_the_offset(rng):
    clean = ar1(0.98)
    noisy = clean + 2.0 * clean.std() * rng.standard_normal(clean.shape)  # SNR 1/4
    assert abs(auto_time_offset(noisy) - auto_time_offset(clean)) <= 2


def test_no_temporal_structure_gives_one_and_the_offset_is_capped(rng):
    assert auto_time_offset(rng.standard_normal((2000, 4))) == 1
    assert auto_time_offset(np.ones((50, 3))) == 1  # constant features
    slow = np.sin(np.linspace(0, 1, 2000))[:, None] * [1.0, 2.0]  # one slow ramp
    assert auto_time_offset(slow) == 2000 // AUTO_MAX_FRACTION

import numpy as np
import pytest
from scipy.signal import lfilter

from skattr._sampling import ContrastiveSampler, trial_bounds
from skattr._time_scale import (
    AUTO_CORRELATION,
    AUTO_MAX_FRACTION,
    AUTO_NEIGHBOUR_FRACTION,
    auto_time_delta,
    auto_time_offset,
    mean_autocorrelation,
    time_neighbour_share,
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


def walk(n_samples, step, n_labels=2, seed=0):
    """A random walk reflected into [0, 1]: a behaviour that covers its range."""
    steps = step * np.random.default_rng(seed).standard_normal((n_samples, n_labels))
    return np.abs((np.cumsum(steps, axis=0) + 1.0) % 2.0 - 1.0)


def brute_force_share(labels, time_offset, time_delta, draws=4000, seed=1):
    """The share from the sampler's definition, one query and one nearest label at a time."""
    sampler = ContrastiveSampler(len(labels), time_offset, labels, "time_delta", 0.0,
                                 np.random.default_rng(seed), time_delta=time_delta)
    near = 0
    for _ in range(draws):
        reference = int(sampler.lagged(time_offset, 1)[0])
        step = int(sampler.lagged(time_delta, 1)[0]) + time_delta
        query = labels[reference] + labels[step] - labels[step - time_delta]
        distance = np.linalg.norm(labels - query, axis=1)
        # Every sample holds a distinct value of a continuous walk: the nearest is unique.
        near += abs(int(np.argmin(distance)) - reference) <= time_offset
    return near / draws


@pytest.mark.parametrize("time_delta", [1, 4, 16])
def test_neighbour_share_matches_brute_force(time_delta):
    labels = walk(3000, 0.01)
    share = time_neighbour_share(labels, 5, time_delta)
    # Two estimates of one proportion, 4096 and 4000 draws: within 4 standard errors.
    assert share == pytest.approx(brute_force_share(labels, 5, time_delta), abs=0.045)


def test_auto_delta_is_the_first_doubling_below_the_fraction():
    labels = walk(3000, 0.01)
    lag = auto_time_delta(labels, 5)
    assert lag > 1 and lag & (lag - 1) == 0
    assert time_neighbour_share(labels, 5, lag) <= AUTO_NEIGHBOUR_FRACTION
    assert time_neighbour_share(labels, 5, lag // 2) > AUTO_NEIGHBOUR_FRACTION


def test_auto_delta_grows_as_the_labels_slow_down_and_shrinks_as_they_revisit():
    slow, fast = auto_time_delta(walk(3000, 0.003), 5), auto_time_delta(walk(3000, 0.03), 5)
    assert slow > fast
    # A hundred times as long a walk revisits its values: positives from other visits.
    assert auto_time_delta(walk(100_000, 0.01), 5) < auto_time_delta(walk(2000, 0.01), 5)


def test_auto_delta_of_a_ramp_and_its_caps():
    ramp = np.arange(1000.0)[:, None]
    assert auto_time_delta(ramp, 5) == 8
    assert auto_time_delta(ramp, 60) == 1000 // AUTO_MAX_FRACTION
    # Trials of 30 samples: no lag beyond 29 has a label change within one trial.
    trials = np.repeat(np.arange(34), 30)[:1000]
    assert auto_time_delta(ramp, 25, bounds=trial_bounds(trials)) == 29
    assert auto_time_delta(ramp[:20], 1) == 1


def test_auto_delta_takes_the_lag_of_the_slowest_group():
    # A ramp (lag 8 at offset 5) beside labels without temporal structure (lag 1).
    labels = np.hstack([np.arange(1000.0)[:, None],
                        np.random.default_rng(0).standard_normal((1000, 2))])
    assert auto_time_delta(labels[:, 1:], 5) == 1
    assert auto_time_delta(labels, 5, groups=[(1, 2), (0,)]) == 8

import numpy as np

from skattr._unmixing import block_unmixing


def random_walks(n_samples, n_latents, rng):
    return np.cumsum(0.1 * rng.standard_normal((n_samples, n_latents)), axis=0)


def test_unmixing_removes_the_behaviour_latents_from_the_time_block():
    rng = np.random.default_rng(0)
    behavior, time = random_walks(20_000, 2, rng), random_walks(20_000, 3, rng)
    behavior_map, time_map = rng.standard_normal((2, 2)), rng.standard_normal((3, 3))
    leak = rng.standard_normal((3, 2))
    embedding = np.hstack([behavior @ behavior_map.T, time @ time_map.T + behavior @ leak.T])
    unmixing = block_unmixing(embedding, [0, 1], [2, 3, 4], lag=1)
    np.testing.assert_array_equal(unmixing[:2], np.eye(5)[:2])
    np.testing.assert_array_equal(unmixing[2:, 2:], np.eye(3))
    # The time block of U f is the time latents' alone, up to the sampling error of the
    # increments' regression.
    unmixed = embedding @ unmixing.T
    np.testing.assert_allclose(unmixing[2:, :2], -leak @ np.linalg.inv(behavior_map),
                               atol=0.05)
    residual = unmixed[:, 2:] - time @ time_map.T
    assert np.abs(residual).max() < 0.05 * np.abs(time @ time_map.T).max()


def test_increments_are_not_fooled_by_slow_latents_that_drift_together_by_chance():
    # Two independent random walks over few samples are correlated by chance; the values'
    # regression takes that correlation for a leak, the increments' does not.
    rng = np.random.default_rng(1)
    errors = {"increments": [], "values": []}
    for _ in range(20):
        embedding = random_walks(1_000, 2, rng)  # behaviour, then time: no leak
        errors["increments"].append(abs(block_unmixing(embedding, [0], [1], lag=1)[1, 0]))
        centred = embedding - embedding.mean(0)
        slope = np.linalg.lstsq(centred[:, :1], centred[:, 1], rcond=None)[0][0]
        errors["values"].append(abs(slope))
    assert np.median(errors["increments"]) < 0.1 < np.median(errors["values"])


def test_increments_stay_within_trials():
    rng = np.random.default_rng(2)
    trials = [random_walks(500, 2, rng) for _ in range(2)]
    trials[1] += [[100.0, -300.0]]  # a jump between trials that a crossing increment would see
    embedding = np.vstack(trials)
    bounds = np.array([0, 500, 1000])
    increments = np.vstack([trial[3:] - trial[:-3] for trial in trials])
    increments -= increments.mean(0)
    expected = np.linalg.lstsq(increments[:, :1], increments[:, 1], rcond=None)[0][0]
    unmixing = block_unmixing(embedding, [0], [1], lag=3, bounds=bounds)
    np.testing.assert_allclose(unmixing[1, 0], -expected, rtol=1e-10)
    assert abs(block_unmixing(embedding, [0], [1], lag=3)[1, 0] - 3.0) < 0.5  # the jump


def test_nothing_to_resolve_is_the_identity():
    embedding = random_walks(100, 3, np.random.default_rng(3))
    np.testing.assert_array_equal(block_unmixing(embedding, [], [0, 1, 2], lag=1), np.eye(3))
    np.testing.assert_array_equal(block_unmixing(embedding, [0, 1, 2], [], lag=1), np.eye(3))
    # Fewer increments than behaviour dimensions plus one.
    np.testing.assert_array_equal(block_unmixing(embedding[:3], [0, 1], [2], lag=1), np.eye(3))

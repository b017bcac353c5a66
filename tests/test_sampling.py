import numpy as np
import pytest

from skattr._sampling import ContrastiveSampler


def brute_force_nearest(labels, queries):
    return np.argmin(((queries[:, None, :] - labels[None]) ** 2).sum(-1), axis=1)


@pytest.mark.parametrize("distribution", ["time_delta", "delta_normal"])
def test_behavior_positive_is_the_exact_nearest_neighbour(distribution, rng):
    labels = rng.standard_normal((500, 3))
    sampler = ContrastiveSampler(500, 3, labels, distribution, 0.3, np.random.default_rng(1))
    queries = sampler.query(np.arange(200))
    np.testing.assert_array_equal(sampler.nearest(queries), brute_force_nearest(labels, queries))


def test_time_delta_query_adds_an_observed_label_step(rng):
    labels = np.cumsum(rng.standard_normal((300, 2)), axis=0)
    sampler = ContrastiveSampler(300, 1, labels, "time_delta", 0.1, np.random.default_rng(2))
    reference = np.arange(100)
    queries = sampler.query(reference)
    steps = np.diff(labels, axis=0)
    offsets = queries - labels[reference]
    # Every offset is one of the observed one-step label changes.
    assert all(np.isclose(steps, offset).all(axis=1).any() for offset in offsets)
    # With time_delta=5, one of the observed five-step changes.
    sampler = ContrastiveSampler(300, 1, labels, "time_delta", 0.1, np.random.default_rng(2),
                                 time_delta=5)
    offsets = sampler.query(reference) - labels[reference]
    five_steps = labels[5:] - labels[:-5]
    assert all(np.isclose(five_steps, offset).all(axis=1).any() for offset in offsets)
    assert not all(np.isclose(steps, offset).all(axis=1).any() for offset in offsets)


def test_indices_stay_in_range_and_time_positive_is_offset():
    sampler = ContrastiveSampler(50, 7, None, "time_delta", 0.1, np.random.default_rng(0))
    batch = sampler.sample(1000)
    assert batch.behavior_positive is None
    assert batch.reference.min() >= 0 and batch.time_positive.max() <= 49
    assert batch.negative.min() >= 0 and batch.negative.max() <= 49
    np.testing.assert_array_equal(batch.time_positive, batch.reference + 7)


def test_same_seed_same_batches(rng):
    labels = rng.standard_normal((100, 1))
    a, b = (ContrastiveSampler(100, 1, labels, "time_delta", 0.1, np.random.default_rng(5))
            for _ in range(2))
    first, second = a.sample(32), b.sample(32)
    np.testing.assert_array_equal(first.behavior_positive, second.behavior_positive)


def test_unknown_distribution_is_rejected():
    with pytest.raises(ValueError, match="behavior_distribution must be one of"):
        ContrastiveSampler(10, 1, None, "gaussian", 0.1, np.random.default_rng(0))

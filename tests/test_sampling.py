import threading

import numpy as np
import pytest
from scipy import stats

from skattr._sampling import (
    BatchPrefetcher,
    ContrastiveSampler,
    LabelIndex,
    SerialBatches,
    trial_bounds,
)


def brute_force_nearest(labels, queries):
    return np.argmin(((queries[:, None, :] - labels[None]) ** 2).sum(-1), axis=1)


@pytest.mark.parametrize("distribution", ["time_delta", "delta_normal"])
def test_behavior_positive_is_the_exact_nearest_neighbour(distribution, rng):
    labels = rng.standard_normal((500, 3))
    # Two samplers with one seed: the second draws the same queries before its positives.
    queries = ContrastiveSampler(500, 3, labels, distribution, 0.3,
                                 np.random.default_rng(1)).query(np.arange(200))
    sampler = ContrastiveSampler(500, 3, labels, distribution, 0.3, np.random.default_rng(1))
    positives = sampler.behavior_positive(np.arange(200))
    np.testing.assert_array_equal(positives, brute_force_nearest(labels, queries))


def brute_force_tied_positive(labels, query, rng):
    """The nearest sample by brute force, ties broken uniformly at random."""
    distances = ((labels - query) ** 2).sum(1)
    return rng.choice(np.flatnonzero(distances == distances.min()))


@pytest.mark.parametrize("distribution", ["time_delta", "delta_normal"])
def test_tied_labels_give_the_positives_of_a_brute_force_search_with_random_ties(distribution):
    # Labels on a coarse 2-D grid, each value held by an uneven number of samples.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (60, 2)).astype(float)
    labels[:20] = [1.0, 1.0]
    reference = np.full(20_000, 7)
    ours = ContrastiveSampler(60, 1, labels, distribution, 0.8, np.random.default_rng(1))
    positives = ours.behavior_positive(reference)
    queries = ContrastiveSampler(60, 1, labels, distribution, 0.8,
                                 np.random.default_rng(2)).query(reference)
    brute = np.array([brute_force_tied_positive(labels, q, rng) for q in queries])
    counts = np.stack([np.bincount(positives, minlength=60), np.bincount(brute, minlength=60)])
    counts = counts[:, counts.sum(0) > 0]
    assert counts.shape[1] > 20  # many samples can be positives
    assert stats.chi2_contingency(counts).pvalue > 1e-3
    # Each positive holds a label at the least distance from its own query (a same-seed twin
    # draws the same queries).
    twin_queries = ContrastiveSampler(60, 1, labels, distribution, 0.8,
                                      np.random.default_rng(1)).query(reference)
    distances = ((labels[None] - twin_queries[:, None]) ** 2).sum(-1)
    np.testing.assert_array_equal(distances[np.arange(len(reference)), positives],
                                  distances.min(1))


def test_repeated_values_are_indexed_once(rng):
    labels = np.repeat(rng.standard_normal((7, 2)), [1, 2, 3, 50, 5, 6, 1], axis=0)
    index = LabelIndex(labels)
    assert len(index.values) == 7 and index.counts.sum() == len(labels)
    np.testing.assert_array_equal(index.values[index.value_of_sample], labels)
    # Minus zero and zero are one value.
    assert len(LabelIndex(np.array([[0.0], [-0.0], [1.0]])).values) == 2


def test_discrete_positive_shares_the_reference_value_uniformly():
    labels = np.repeat([[0.0], [1.0], [2.0]], [5, 30, 65], axis=0)
    sampler = ContrastiveSampler(100, 1, labels, "discrete", 0.1, np.random.default_rng(0))
    assert sampler.index.tree is None  # no nearest-value search for discrete labels
    reference = np.full(30_000, 20)  # value 1: samples 5..34
    positives = sampler.behavior_positive(reference)
    assert positives.min() == 5 and positives.max() == 34
    assert stats.chisquare(np.bincount(positives - 5)).pvalue > 1e-3
    batch = sampler.sample(1000)
    np.testing.assert_array_equal(labels[batch.behavior_positive], labels[batch.reference])


def test_prefetched_batches_are_the_serial_batches(rng):
    labels = rng.standard_normal((300, 2))
    make = lambda: ContrastiveSampler(300, 4, labels, "time_delta", 0.1,  # noqa: E731
                                      np.random.default_rng(3))
    serial = SerialBatches(make(), 32, lambda batch: batch)
    with BatchPrefetcher(make(), 32, lambda batch: batch, depth=3) as prefetched:
        for _ in range(20):
            a, b = serial.next(), prefetched.next()
            for name in ("reference", "negative", "time_positive", "behavior_positive"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_prefetcher_raises_the_threads_error_and_stops():
    sampler = ContrastiveSampler(50, 1, None, "time_delta", 0.1, np.random.default_rng(0))
    calls = []

    def prepare(batch):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("broken batch")
        return batch

    prefetcher = BatchPrefetcher(sampler, 8, prepare)
    prefetcher.next(), prefetcher.next()
    with pytest.raises(RuntimeError, match="broken batch"):
        prefetcher.next()
    prefetcher.close()
    assert not prefetcher._thread.is_alive()
    # A prefetcher closed while its queue is full stops as well.
    full = BatchPrefetcher(sampler, 8, lambda batch: batch, depth=1)
    threading.Event().wait(0.05)
    full.close()
    assert not full._thread.is_alive()


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


def test_trial_references_are_uniform_over_the_samples_whose_positive_shares_the_trial():
    # Brute force: the valid references are every t with t + offset in t's trial.
    trials = np.repeat([0, 1, 2, 0], [30, 5, 12, 20])  # trial 1 is shorter than the offset
    bounds = trial_bounds(trials)
    offset = 7
    valid = [t for t in range(len(trials) - offset) if trials[t] == trials[t + offset]
             and len(set(trials[t : t + offset + 1])) == 1]
    sampler = ContrastiveSampler(len(trials), offset, None, "time_delta", 0.1,
                                 np.random.default_rng(0), bounds=bounds)
    reference = np.concatenate([sampler.sample(512).reference for _ in range(40)])
    assert set(reference.tolist()) <= set(valid)
    counts = np.bincount(reference, minlength=len(trials))[valid]
    assert stats.chisquare(counts).pvalue > 1e-3


def test_time_delta_query_takes_its_label_change_within_one_trial():
    trials = np.repeat([0, 1], [40, 40])
    labels = np.where(trials[:, None] == 0, 0.0, 100.0) + np.arange(80.0)[:, None] * 0.01
    sampler = ContrastiveSampler(80, 3, labels, "time_delta", 0.1, np.random.default_rng(0),
                                 time_delta=4, bounds=trial_bounds(trials))
    query = sampler.query(np.zeros(4000, dtype=int))
    # A change across the boundary would jump by 100.
    np.testing.assert_allclose(query[:, 0] - labels[0, 0], 0.04, atol=1e-9)


def test_one_trial_draws_exactly_what_no_trials_draws():
    y = np.random.default_rng(1).normal(size=(300, 2))
    plain = ContrastiveSampler(300, 5, y, "time_delta", 0.1, np.random.default_rng(3))
    one = ContrastiveSampler(300, 5, y, "time_delta", 0.1, np.random.default_rng(3),
                             bounds=trial_bounds(np.zeros(300)))
    for _ in range(3):
        a, b = plain.sample(64), one.sample(64)
        for name in ("reference", "negative", "time_positive", "behavior_positive"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_trials_all_shorter_than_the_offset_are_refused():
    with pytest.raises(ValueError, match=r"time_offset=10 needs a trial of at least 11"):
        ContrastiveSampler(40, 10, None, "time_delta", 0.1, np.random.default_rng(0),
                           bounds=trial_bounds(np.repeat([0, 1, 2, 3], 10)))


def allowed_by_gap(n_samples, reference, gap, bounds):
    """Samples not within ``gap`` of ``reference`` in its trial (brute force)."""
    time = np.arange(n_samples)
    trial = np.searchsorted(bounds, time, side="right")
    same_trial = trial == np.searchsorted(bounds, reference, side="right")
    return ~(same_trial & (np.abs(time - reference) <= gap))


@pytest.mark.parametrize("distribution", ["time_delta", "delta_normal"])
def test_gapped_positive_is_the_nearest_label_beyond_the_gap_in_its_trial(distribution, rng):
    # Quantised labels: values held by several samples, some inside and some outside a gap.
    labels = np.round(rng.standard_normal((400, 1)), 1)
    bounds = np.array([0, 150, 400])
    queries = ContrastiveSampler(400, 3, labels, distribution, 0.3, np.random.default_rng(1),
                                 bounds=bounds, gap=25).query(np.arange(0, 390, 3))
    sampler = ContrastiveSampler(400, 3, labels, distribution, 0.3, np.random.default_rng(1),
                                 bounds=bounds, gap=25)
    reference = np.arange(0, 390, 3)
    positives = sampler.behavior_positive(reference)
    for r, query, positive in zip(reference, queries, positives, strict=True):
        allowed = allowed_by_gap(400, r, 25, bounds)
        distance = np.abs(labels[:, 0] - query[0])
        assert allowed[positive]
        assert distance[positive] == distance[allowed].min()


def test_gapped_positive_is_uniform_over_the_holders_beyond_the_gap():
    labels = np.zeros((60, 1))
    labels[::3] = 1.0  # 20 holders of 1.0, 7 of them within 10 samples of sample 30
    sampler = ContrastiveSampler(60, 2, labels, "delta_normal", 1e-9,
                                 np.random.default_rng(0), gap=10)
    positives = sampler.behavior_positive(np.full(13_000, 30))
    holders = np.flatnonzero((labels[:, 0] == 1.0) & (np.abs(np.arange(60) - 30) > 10))
    assert set(positives) == set(holders)
    counts = np.bincount(positives, minlength=60)[holders]
    assert stats.chisquare(counts).pvalue > 1e-3


def test_gap_without_a_sample_beyond_it_falls_back_on_the_nearest_value(rng):
    labels = rng.standard_normal((20, 2))
    sampler = ContrastiveSampler(20, 1, labels, "delta_normal", 0.1, np.random.default_rng(0),
                                 gap=50)
    queries = ContrastiveSampler(20, 1, labels, "delta_normal", 0.1,
                                 np.random.default_rng(0)).query(np.arange(19))
    np.testing.assert_array_equal(sampler.behavior_positive(np.arange(19)),
                                  brute_force_nearest(labels, queries))


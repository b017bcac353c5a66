import numpy as np
import pytest
from scipy import stats

from skattr.datasets import make_synthetic, truncated_normal_walk


def test_shapes_ground_truth_and_latent_order():
    X, y, latents, truth = make_synthetic(
        n_samples=300, n_time_latents=2, n_behavior_latents=4, n_time_neurons=5,
        n_behavior_neurons=7, random_state=0,
    )
    assert X.shape == (300, 12) and y.shape == (300, 4) and latents.shape == (300, 6)
    np.testing.assert_array_equal(latents[:, :4], y)  # behaviour block first
    assert truth.dtype == bool and truth.shape == (6, 12)
    assert not truth[:4, :5].any() and truth[:4, 5:].all() and truth[4:].all()


def test_first_neuron_block_depends_on_time_latents_only():
    # Pair each sample with its nearest neighbour in z1: the first block (g1(z1)) moves no more
    # than z1 does, the second block (g2(z1, z2)) moves with z2 as well.
    from scipy.spatial import cKDTree

    X, _, latents, _ = make_synthetic(n_samples=5000, random_state=1)
    z1 = latents[:, 3:]
    neighbour = cKDTree(z1).query(z1, k=2)[1][:, 1]
    dz1 = np.linalg.norm(z1 - z1[neighbour], axis=1)
    first = np.linalg.norm(X[:, :25] - X[neighbour, :25], axis=1) / dz1
    second = np.linalg.norm(X[:, 25:] - X[neighbour, 25:], axis=1) / dz1
    assert np.median(second) > 5 * np.median(first)


def test_walk_stays_in_bounds_with_truncated_normal_steps():
    walk = truncated_normal_walk(20_000, 2, 0.1, np.random.default_rng(0))
    assert walk.min() >= -1 and walk.max() <= 1
    steps = np.diff(walk, axis=0)
    centre = np.abs(walk[:-1]) < 0.5  # far from the bounds the step is N(0, 0.1^2)
    assert stats.kstest(steps[centre[:, 0], 0] / 0.1, "norm").pvalue > 0.01


def test_seeded_and_noise():
    a = make_synthetic(n_samples=200, random_state=3)[0]
    np.testing.assert_array_equal(a, make_synthetic(n_samples=200, random_state=3)[0])
    noisy = make_synthetic(n_samples=200, noise=0.5, random_state=3)[0]
    assert np.std(noisy - a) == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize(("param", "value"), [("n_samples", 1), ("step_std", 0.0), ("slope", 2)])
def test_invalid_parameters_are_named(param, value):
    with pytest.raises(ValueError, match=f"'{param}' parameter"):
        make_synthetic(**{param: value})

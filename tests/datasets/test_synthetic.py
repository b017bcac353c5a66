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


@pytest.mark.parametrize("nonlinearity", ["leaky_relu", "tanh", "softplus"])
def test_first_neuron_block_depends_on_time_latents_only(nonlinearity):
    # Pair each sample with its nearest neighbour in z1: the first block (g1(z1)) moves no more
    # than z1 does, the second block (g2(z1, z2)) moves with z2 as well.
    from scipy.spatial import cKDTree

    X, _, latents, _ = make_synthetic(n_samples=5000, nonlinearity=nonlinearity, random_state=1)
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


@pytest.mark.parametrize(("param", "value"), [("n_samples", 1), ("step_std", 0.0), ("slope", 2),
                                             ("latent_coupling", 1.0)])
def test_invalid_parameters_are_named(param, value):
    with pytest.raises(ValueError, match=f"'{param}' parameter"):
        make_synthetic(**{param: value})


def test_clipped_walk_dwells_at_the_bounds_and_truncated_does_not():
    from skattr.datasets import clipped_normal_walk

    clipped = clipped_normal_walk(20_000, 2, 0.1, np.random.default_rng(0))
    truncated = truncated_normal_walk(20_000, 2, 0.1, np.random.default_rng(0))
    assert clipped.min() == -1.0 and clipped.max() == 1.0
    assert (np.abs(clipped) == 1.0).mean() > 0.01 and (np.abs(truncated) == 1.0).mean() == 0.0
    # Away from the bounds the step is the unclipped N(0, 0.1^2).
    steps = np.diff(clipped, axis=0)[np.abs(clipped[:-1, 0]) < 0.5, 0]
    assert stats.kstest(steps / 0.1, "norm").pvalue > 0.01


def test_ornstein_uhlenbeck_has_the_stated_variance_and_step():
    from skattr.datasets import ornstein_uhlenbeck

    walk = ornstein_uhlenbeck(200_000, 2, 0.1, np.random.default_rng(0))
    assert walk.var(0) == pytest.approx([1 / 3, 1 / 3], rel=0.1)
    assert np.diff(walk, axis=0).std(0) == pytest.approx([0.1, 0.1], rel=0.02)
    # AR(1) with decay 1 - 0.1^2 / (2/3): the lag-10 autocorrelation is decay^10.
    z = walk[:, 0]
    assert np.corrcoef(z[:-10], z[10:])[0, 1] == pytest.approx((1 - 0.015) ** 10, abs=0.02)


def test_smooth_latents_have_no_jumps():
    X, y, latents, _ = make_synthetic(n_samples=5000, latent_dynamics="smooth", random_state=0)
    assert latents.std(0) == pytest.approx(np.full(6, np.sqrt(1 / 3)), rel=1e-6)
    steps = np.abs(np.diff(latents, axis=0)).mean()
    walk_steps = np.abs(np.diff(make_synthetic(n_samples=5000, random_state=0)[2], axis=0)).mean()
    assert steps < 0.3 * walk_steps


@pytest.mark.parametrize("nonlinearity", ["tanh", "softplus"])
def test_other_nonlinearities_are_the_named_functions(nonlinearity):
    from skattr.datasets._synthetic import _activation

    z = np.random.default_rng(0).standard_normal((10, 3))
    expected = {"tanh": np.tanh, "softplus": lambda v: np.log1p(np.exp(v))}[nonlinearity]
    np.testing.assert_allclose(_activation(nonlinearity, 0.2)(z), expected(z), rtol=1e-12)


def test_poisson_counts_have_the_mean_count_and_follow_the_rates():
    X, _, latents, _ = make_synthetic(n_samples=20_000, observation="poisson", mean_count=2.0,
                                      random_state=0)
    assert np.array_equal(X, np.round(X)) and X.min() >= 0
    assert X.mean() == pytest.approx(2.0, rel=0.02)
    # Counts are overdispersed with respect to a constant rate: the rate moves with the latents.
    assert (X.var(0) > 1.2 * X.mean(0)).mean() > 0.9
    flat = make_synthetic(n_samples=20_000, observation="poisson", modulation=1e-6,
                          random_state=0)[0]
    assert flat.var(0).mean() == pytest.approx(flat.mean(0).mean(), rel=0.05)


def test_behaviour_latents_can_move_on_their_own_time_scale():
    _, y, latents, _ = make_synthetic(n_samples=5000, step_std=0.02, behavior_step_std=0.2,
                                      latent_dynamics="ou", random_state=0)
    steps = np.diff(latents, axis=0).std(0)
    np.testing.assert_allclose(steps[:3], 0.2, rtol=0.05)  # z2 (= y) first
    np.testing.assert_allclose(steps[3:], 0.02, rtol=0.05)


@pytest.mark.parametrize("connectivity", ["paper", "disjoint", "mirrored"])
def test_each_neuron_depends_on_the_latents_its_ground_truth_names(connectivity):
    # Pair each sample with its nearest neighbour in the *other* latent block: a neuron that the
    # ground truth says one block does not drive moves far less between the pair than one it
    # drives.
    from scipy.spatial import cKDTree

    X, _, latents, truth = make_synthetic(n_samples=5000, connectivity=connectivity,
                                          random_state=1)
    blocks = {"behaviour": slice(0, 3), "time": slice(3, 6)}
    for block, other in (("behaviour", "time"), ("time", "behaviour")):
        rest = latents[:, blocks[other]]
        neighbour = cKDTree(rest).query(rest, k=2)[1][:, 1]
        moved = np.median(np.abs(X - X[neighbour]), axis=0)
        driven = truth[blocks[block]].any(0)
        assert driven.any()
        if (~driven).any():
            assert np.median(moved[driven]) > 5 * np.median(moved[~driven])
    expected_rows = {"paper": (25, 50), "disjoint": (25, 25), "mirrored": (50, 25)}
    assert tuple(truth[[0, 3]].sum(1)) == expected_rows[connectivity]


def test_coupled_time_latents_move_with_their_behaviour_partner_by_the_stated_correlation():
    _, y, latents, truth = make_synthetic(n_samples=20_000, n_time_latents=4,
                                          latent_coupling=0.5, random_state=0)
    steps = np.diff(latents, axis=0)
    correlation = np.corrcoef(steps.T)[3:, :3]  # time latents (rows) x behaviour latents
    partners = np.arange(4) % 3  # time latent k follows behaviour latent k mod 3
    np.testing.assert_allclose(correlation[np.arange(4), partners], 0.5, atol=0.03)
    others = np.ones_like(correlation, dtype=bool)
    others[np.arange(4), partners] = False
    assert np.abs(correlation[others]).max() < 0.05
    # The ground truth is the connectivity's, coupled or not; no coupling is the default.
    np.testing.assert_array_equal(truth, make_synthetic(n_samples=50, n_time_latents=4)[3])
    np.testing.assert_array_equal(
        make_synthetic(n_samples=200, random_state=3)[0],
        make_synthetic(n_samples=200, latent_coupling=0.0, random_state=3)[0])

import numpy as np
import pytest

from skattr._unmixing import block_unmixing, least_absolute_deviations


def leaked_maps(n_samples, leak, rng, n_features=12):
    """Per-sample inverse rows as an encoder whose time block holds ``leak`` of the behaviour
    block gives them: true behaviour rows on the last half of the features only (where they
    resemble the time rows in part), dense time rows, and each behaviour row plus
    ``leak[j, k]`` times time row ``j``."""
    n_time, n_behavior = leak.shape
    time_rows = rng.standard_normal((n_samples, n_time, n_features))
    behavior_rows = np.zeros((n_samples, n_behavior, n_features))
    half = n_features // 2
    behavior_rows[:, :, half:] = (rng.standard_normal((n_samples, n_behavior, n_features - half))
                                  + 0.5 * time_rows[:, :n_behavior, half:])
    seen = behavior_rows + np.einsum("jk,tjn->tkn", leak, time_rows)
    return np.concatenate([seen, time_rows], axis=1), behavior_rows


def test_the_sparsest_behaviour_rows_undo_the_leak():
    rng = np.random.default_rng(0)
    leak = rng.standard_normal((3, 2))
    maps, behavior_rows = leaked_maps(500, leak, rng)
    unmixing = block_unmixing(maps, [0, 1], [2, 3, 4])
    np.testing.assert_array_equal(unmixing[:, 2:], np.eye(5)[:, 2:])  # time columns alone
    np.testing.assert_array_equal(unmixing[:2, :2], np.eye(2))
    np.testing.assert_allclose(unmixing[2:, :2], leak, atol=1e-9)
    # The exact inverse of U J has the behaviour rows M_k - sum_j U[j, k] M_j: the true ones.
    unmixed = maps[:, :2] - np.einsum("jk,tjn->tkn", unmixing[2:, :2], maps[:, 2:])
    np.testing.assert_allclose(unmixed, behavior_rows, atol=1e-9)
    # Least squares would not: it also takes away the part of the true rows that resembles
    # the time rows, where the L1 fit leaves the true zeros at zero.
    design = maps[:, 2:].transpose(0, 2, 1).reshape(-1, 3)
    squares = np.linalg.lstsq(design, maps[:, 0].reshape(-1), rcond=None)[0]
    assert np.abs(squares - leak[:, 0]).max() > 0.1


def test_the_identity_where_there_is_nothing_to_resolve():
    maps = np.random.default_rng(1).standard_normal((50, 3, 4))
    np.testing.assert_array_equal(block_unmixing(maps, [], [0, 1, 2]), np.eye(3))
    np.testing.assert_array_equal(block_unmixing(maps, [0, 1, 2], []), np.eye(3))
    # Behaviour rows of zeros (a dead latent) need nothing added.
    maps[:, 0] = 0.0
    np.testing.assert_array_equal(block_unmixing(maps, [0], [1, 2]), np.eye(3))
    # A sample with a non-finite entry (a non-finite Jacobian) is left out, not propagated.
    maps[:, 0] = maps[:, 1] * 0.3
    maps[7, 2, 1] = np.nan
    np.testing.assert_allclose(block_unmixing(maps, [0], [1, 2])[1:, 0], [0.3, 0.0], atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_least_absolute_deviations_against_the_exact_linear_program(seed):
    from sklearn.linear_model import QuantileRegressor

    rng = np.random.default_rng(seed)
    design = rng.standard_normal((300, 3))
    target = design @ rng.standard_normal(3) + rng.standard_cauchy(300)  # heavy tails
    exact = QuantileRegressor(quantile=0.5, alpha=0.0, fit_intercept=False,
                              solver="highs").fit(design, target).coef_
    coefficients = least_absolute_deviations(design, target)
    np.testing.assert_allclose(coefficients, exact, atol=1e-6)
    assert least_absolute_deviations(design, np.zeros(300)).tolist() == [0.0, 0.0, 0.0]

import numpy as np

from skattr.stats._surrogates import Surrogate, draw_surrogates, shuffle_blocks


def test_circular_shifts_keep_the_series_and_stay_in_range(rng):
    y = np.cumsum(rng.standard_normal((100, 2)), axis=0)
    draws = draw_surrogates("circular_shift", 200, 100, 3, 10, 10, np.random.default_rng(0))
    offsets = np.array([d.offsets[0] for d in draws])
    assert offsets.min() >= 10 and offsets.max() <= 90
    X = rng.standard_normal((100, 3))
    X_out, y_out = draws[0].apply(X, y)
    assert X_out is X
    # A rotation of the same series: the same lagged products, so the same autocorrelation.
    np.testing.assert_array_equal(np.roll(y_out, -offsets[0], axis=0), y)


def test_block_shuffles_are_never_the_identity_and_keep_every_block(rng):
    y = np.arange(23.0)[:, None]
    for draw in draw_surrogates("block_shuffle", 50, 23, 1, 5, 5, np.random.default_rng(1)):
        shuffled = draw.apply(None, y)[1]
        assert sorted(shuffled[:, 0]) == list(y[:, 0])
        assert not np.array_equal(shuffled, y)
    np.testing.assert_array_equal(shuffle_blocks(y, [1, 0, 2, 3, 4], 5)[:10, 0],
                                  [5, 6, 7, 8, 9, 0, 1, 2, 3, 4])


def test_feature_shifts_roll_each_feature_by_its_own_offset(rng):
    X = rng.standard_normal((50, 4))
    (draw,) = draw_surrogates("feature_shift", 1, 50, 4, 5, 5, np.random.default_rng(2))
    X_out, y_out = draw.apply(X, "y")
    assert y_out == "y" and len(set(draw.offsets)) > 1
    for column, offset in enumerate(draw.offsets):
        np.testing.assert_array_equal(X_out[:, column], np.roll(X[:, column], offset))
    assert Surrogate("observed").apply(X, "y") == (X, "y")

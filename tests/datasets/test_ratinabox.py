import builtins

import numpy as np
import pytest

pytest.importorskip("ratinabox")

from skattr.datasets import CELL_TYPES, make_ratinabox  # noqa: E402

SIZES = dict(n_place=6, n_grid=4, n_head_direction=5, n_speed=3)


@pytest.fixture(scope="module")
def data():
    return make_ratinabox(n_samples=3000, random_state=0, **SIZES)


def test_shapes_types_and_units(data):
    assert data.counts.shape == data.rates.shape == (3000, 18)
    assert data.position.shape == data.head_direction.shape == (3000, 2)
    assert data.speed.shape == data.time.shape == (3000,)
    assert list(data.cell_type) == [t for t, n in zip(CELL_TYPES, SIZES.values(), strict=True)
                                    for _ in range(n)]
    assert (data.position >= 0).all() and (data.position <= 1).all()
    np.testing.assert_allclose(np.linalg.norm(data.head_direction, axis=1), 1.0)
    np.testing.assert_allclose(data.time[:2], [0.1, 0.2])
    assert (data.counts == np.round(data.counts)).all() and (data.rates >= 0).all()


def test_counts_are_poisson_draws_of_the_rates(data):
    # Summed over bins, counts and expected counts agree within a few Poisson deviations.
    expected = (data.rates * 0.1).sum(0)
    assert np.all(np.abs(data.counts.sum(0) - expected) < 5 * np.sqrt(expected) + 1)


def test_each_type_is_tuned_to_its_variable(data):
    types = data.cell_type
    speed = np.corrcoef(data.rates[:, types == "speed"].T, data.speed)[-1, :-1]
    assert (speed > 0.99).all()
    # A head-direction cell's rate peaks at one direction: it is explained by cos and sin.
    design = np.c_[data.head_direction, np.ones(3000)]
    for column in np.flatnonzero(types == "head_direction"):
        rate = data.rates[:, column]
        fit = design @ np.linalg.lstsq(design, rate, rcond=None)[0]
        assert np.corrcoef(fit, rate)[0, 1] > 0.7
    # A place cell's rate falls with the distance to its field's centre.
    for column in np.flatnonzero(types == "place"):
        rate = data.rates[:, column]
        centre = data.position[np.argmax(rate)]
        distance = np.linalg.norm(data.position - centre, axis=1)
        assert np.corrcoef(distance, rate)[0, 1] < -0.3


def test_seeded_and_leaves_numpys_global_state_alone():
    np.random.seed(123)  # noqa: NPY002 (the global state is what this test is about)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    first = make_ratinabox(n_samples=50, random_state=4, **SIZES)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    second = make_ratinabox(n_samples=50, random_state=4, **SIZES)
    other = make_ratinabox(n_samples=50, random_state=5, **SIZES)
    np.testing.assert_array_equal(first.counts, second.counts)
    np.testing.assert_array_equal(first.position, second.position)
    assert not np.array_equal(first.position, other.position)


def test_bad_sizes_and_a_missing_ratinabox_are_named(monkeypatch):
    with pytest.raises(ValueError, match="'n_place' parameter of make_ratinabox"):
        make_ratinabox(n_place=-1)
    real_import = builtins.__import__

    def without_ratinabox(name, *args, **kwargs):
        if name.startswith("ratinabox"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_ratinabox)
    with pytest.raises(ImportError, match=r"pip install 'skattr\[ratinabox\]'"):
        make_ratinabox(n_samples=10)

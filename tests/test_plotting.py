import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from skattr.plotting import plot_attribution_map  # noqa: E402


def test_marks_the_unconnected_entries():
    truth = np.array([[True, False, False], [True, True, True]])
    ax = plot_attribution_map(np.arange(6.0).reshape(2, 3), truth, latent_names=["b0", "t0"])
    offsets = ax.collections[0].get_offsets()
    assert sorted(map(tuple, np.asarray(offsets).tolist())) == [(1.0, 0.0), (2.0, 0.0)]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["b0", "t0"]
    matplotlib.pyplot.close("all")


def test_rejects_a_map_that_is_not_2d():
    with pytest.raises(ValueError, match="attribution_map must be 2-D"):
        plot_attribution_map(np.ones(3))


def test_rejects_a_ground_truth_of_another_shape():
    with pytest.raises(ValueError, match="ground_truth has shape"):
        plot_attribution_map(np.ones((2, 2)), np.ones((3, 2), dtype=bool))
    matplotlib.pyplot.close("all")


def test_loss_curves_draw_each_objective_and_the_regulariser_apart(synthetic):
    from skattr import xCEBRAAttributor
    from skattr.plotting import plot_loss_curves

    from .conftest import FAST

    X, y, _, _ = synthetic
    model = xCEBRAAttributor(2, 2, **FAST, validation_fraction=0.2).fit(X, y)
    ax = plot_loss_curves(model, title="t")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"behavior", "time", "held out"}
    np.testing.assert_array_equal(lines["time"].get_ydata(), model.loss_curve_["time"])
    np.testing.assert_array_equal(lines["held out"].get_xdata(),
                                  model.validation_loss_curve_[:, 0])
    (regularizer,) = ax.right_ax.get_lines()
    np.testing.assert_array_equal(regularizer.get_ydata(), model.loss_curve_["regularizer"])
    assert ax.get_title() == "t"
    matplotlib.pyplot.close("all")


def test_loss_curves_need_a_fitted_model():
    from skattr import xCEBRAAttributor
    from skattr.plotting import plot_loss_curves

    with pytest.raises(ValueError, match="model must be a fitted xCEBRAAttributor"):
        plot_loss_curves(xCEBRAAttributor())

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


def test_bands_group_the_columns_by_label_and_name_the_row_groups():
    labels = np.array(["grid", "place", "grid", "speed", "place"])
    values = np.arange(15.0).reshape(3, 5)
    truth = values % 2 == 0
    ax = plot_attribution_map(values, truth, feature_labels=labels,
                              latent_groups={"position": [0, 1], "time": [2]})
    # Columns reordered by label, in order of first appearance: grid, place, speed.
    order = [0, 2, 1, 4, 3]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), values[:, order])
    offsets = np.asarray(ax.collections[0].get_offsets())
    rows, columns = np.nonzero(~truth[:, order])
    expected = sorted(zip(columns.tolist(), rows.tolist(), strict=True))
    assert sorted(map(tuple, offsets.tolist())) == expected
    assert [t.get_text() for t in ax.texts] == ["grid", "place", "speed"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["position", "time"]
    np.testing.assert_allclose(ax.get_yticks(), [0.5, 2.0])
    # One band per column group above, one patch per row on the left.
    assert len(ax.patches) == 3 + 3
    matplotlib.pyplot.close("all")


def test_bands_need_one_label_per_feature():
    with pytest.raises(ValueError, match="feature_labels has 2 labels but attribution_map has 3"):
        plot_attribution_map(np.ones((2, 3)), feature_labels=["a", "b"])
    matplotlib.pyplot.close("all")


def test_embedding_scatter_draws_the_chosen_dimensions_coloured_by_the_variable():
    from skattr.plotting import plot_embedding

    embedding = np.random.default_rng(0).normal(size=(40, 4))
    color = np.linspace(0, 1, 40)
    ax = plot_embedding(embedding, color, dims=(3, 1), color_label="x", title="e")
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), embedding[:, [3, 1]])
    np.testing.assert_allclose(points.get_array(), color)
    assert ax.figure.axes[-1].get_ylabel() == "x" and ax.get_xlabel() == "dim 3"
    with pytest.raises(ValueError, match=r"dims \(0, 4\) are not dimensions of a 4-D"):
        plot_embedding(embedding, color, dims=(0, 4))
    with pytest.raises(ValueError, match="color hold one value per sample"):
        plot_embedding(embedding, color[:-1])
    matplotlib.pyplot.close("all")

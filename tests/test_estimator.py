import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skattr import xCEBRAAttributor
from skattr._encoders import EncoderEnsemble
from skattr.callbacks import Callback
from skattr.datasets import make_synthetic
from skattr.metrics import attribution_auc, attribution_auc_scorer

from .conftest import FAST


def fitted(X, y=None, **params):
    return xCEBRAAttributor(2, 2, **{**FAST, **params}).fit(X, y)


def test_fit_sets_the_documented_attributes(synthetic):
    X, y, _, truth = synthetic
    model = fitted(X, y)
    assert model.n_iter_ == FAST["max_iter"] and model.n_features_in_ == 20
    assert model.device_ == torch.device("cpu")
    assert set(model.loss_curve_) == {"behavior", "time", "regularizer", "total"}
    assert all(len(curve) == model.n_iter_ for curve in model.loss_curve_.values())
    # total = sum of InfoNCE + lambda(step) * regulariser, lambda ramping over steps 7 .. 15
    # (0.25 and 0.5 of 30 steps, rounded down).
    from skattr._regularizers import regularizer_weight

    curve = model.loss_curve_
    on = curve["regularizer"] > 0
    implied = (curve["total"] - curve["behavior"] - curve["time"])[on] / curve["regularizer"][on]
    assert model.regularizer_weight_ == 0.03  # "auto" on a short recording
    expected = np.array([regularizer_weight(step, 0.03, 7, 15) for step in range(30)])[on]
    np.testing.assert_allclose(implied, expected, atol=2e-3)
    assert not on[:8].any() and on[8:].all()
    assert model.attribution_map_.shape == truth.shape
    np.testing.assert_allclose(model.attribution_map_, model.attribute(X), rtol=1e-6)
    assert not model.module_.training


def test_the_map_is_the_damped_inverse_with_rows_normalised_per_sample_by_default(synthetic):
    from skattr.attribution import attribute

    X, y, _, _ = synthetic
    model = fitted(X, y)
    assert (model.row_norm, model.inverse_damping, model.inverse_window,
            model.inverse_map_window) == ("max", 1.0, "auto", "auto")
    assert model.time_offset_ > 1  # so that the window is not a no-op here
    inputs = torch.tensor(X, dtype=torch.float32)
    np.testing.assert_allclose(
        model.attribution_map_, attribute(model.module_, inputs, row_norm="max", damping=1.0,
                                          output_map=model.block_unmixing_,
                                          window=model.time_offset_, map_window="auto"),
        rtol=1e-6)
    # Each sample on its own correlation is another map; the exact inverse takes no window.
    own = model.attribute(X, window=1)
    assert not np.allclose(own, model.attribution_map_, rtol=1e-6)
    np.testing.assert_allclose(model.attribute(X, damping=0.0),
                               attribute(model.module_, inputs, row_norm="max",
                                         output_map=model.block_unmixing_), rtol=1e-6)
    np.testing.assert_allclose(model.attribute(X, row_norm=None, damping=0.0, output_map=None),
                               attribute(model.module_, inputs), rtol=1e-6)
    exact = fitted(X, y, row_norm=None, inverse_damping=0.0)
    np.testing.assert_allclose(exact.attribution_map_,
                               model.attribute(X, row_norm=None, damping=0.0), rtol=1e-6)
    assert not np.allclose(model.attribute(X, damping=0.0), model.attribution_map_, rtol=1e-3)
    # The damping belongs to the inverse: the other methods take only the rows' norm.
    np.testing.assert_allclose(model.attribute(X, method="gradient"),
                               attribute(model.module_, inputs, "gradient", row_norm="max"),
                               rtol=1e-6)
    # IGC's sums are not a mean over samples: its rows still sum to 1 (label-free).
    np.testing.assert_allclose(model.attribute(X, method="igc").sum(1), 1.0, atol=2e-2)


def test_the_inverse_is_of_the_embedding_with_the_time_block_unmixed(synthetic):
    from sklearn.linear_model import QuantileRegressor

    from skattr.attribution import attribute
    from skattr.stats import blocks

    X, y, _, _ = synthetic
    model = fitted(X, y)
    assert model.unmix_blocks
    # Brute force: each behaviour row of the own inverse's per-sample maps (all 600 samples:
    # fewer than the 4,000 the fit takes) regressed on the time rows in least absolute
    # deviations, by scikit-learn's linear program.
    behavior, time = blocks(model)["behavior"], blocks(model)["time"]
    maps = attribute(model.module_, torch.tensor(X, dtype=torch.float32), damping=1.0,
                     return_per_sample=True)
    design = maps[:, time].transpose(0, 2, 1).reshape(-1, len(time))
    expected = np.eye(4)
    for k in behavior:
        expected[time, k] = QuantileRegressor(quantile=0.5, alpha=0.0, fit_intercept=False).fit(
            design, maps[:, k].reshape(-1)).coef_
    np.testing.assert_allclose(model.block_unmixing_, expected, atol=1e-6)
    assert np.abs(expected[np.ix_(time, behavior)]).max() > 1e-3
    own = model.attribute(X, output_map=None)
    assert not np.allclose(model.attribution_map_, own, rtol=1e-3)
    # The parameter is read when the map is computed, as inverse_damping is.
    np.testing.assert_allclose(clone(model).set_params(unmix_blocks=False).fit(X, y)
                               .attribution_map_, own, rtol=1e-6)
    # Without a behaviour block there is nothing to unmix.
    np.testing.assert_array_equal(fitted(X).block_unmixing_, np.eye(4))


def test_regularizer_is_off_before_its_start_step(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y, regularizer_start=10, regularizer_full=20)
    assert (model.loss_curve_["regularizer"][:11] == 0).all()
    assert (model.loss_curve_["regularizer"][11:] > 0).all()
    assert (fitted(X, y, regularizer_weight=0.0).loss_curve_["regularizer"] == 0).all()


def test_embedding_order_and_names(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y)
    assert list(model.get_feature_names_out()) == ["behavior0", "behavior1", "time0", "time1"]
    without_y = fitted(X)
    assert list(without_y.get_feature_names_out()) == ["time0", "time1", "time2", "time3"]
    assert set(without_y.loss_curve_) == {"time", "regularizer", "total"}


def test_transform_preserves_dtype_and_set_output(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y)
    assert model.transform(X.astype(np.float32)).dtype == np.float32
    assert model.transform(X).dtype == np.float64
    np.testing.assert_allclose(model.transform(X.astype(np.float32)), model.transform(X),
                               rtol=1e-4, atol=1e-5)
    pytest.importorskip("pandas")
    frame = model.set_output(transform="pandas").transform(X)
    assert list(frame.columns) == list(model.get_feature_names_out())


def test_dataframe_input_records_feature_names(synthetic):
    pd = pytest.importorskip("pandas")
    X, y, _, _ = synthetic
    frame = pd.DataFrame(X, columns=[f"neuron{i}" for i in range(X.shape[1])])
    model = fitted(frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)


@pytest.mark.parametrize("with_y", [True, False])
def test_pipeline_with_and_without_y(synthetic, with_y):
    X, y, _, _ = synthetic
    pipeline = make_pipeline(StandardScaler(), xCEBRAAttributor(2, 2, **FAST))
    embedding = pipeline.fit_transform(X, y if with_y else None)
    assert embedding.shape == (600, 4) and np.isfinite(embedding).all()
    assert np.isfinite(pipeline.score(X, y if with_y else None))


def test_grid_search_over_regularizer_weight_with_ground_truth_scorer(synthetic):
    X, y, _, truth = synthetic
    search = GridSearchCV(
        make_pipeline(StandardScaler(), xCEBRAAttributor(2, 2, **FAST)),
        {"xcebraattributor__regularizer_weight": [0.0, 0.1]},
        scoring=attribution_auc_scorer(truth),
        cv=KFold(2, shuffle=False),
    )
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_grid_search_with_metadata_routing(synthetic):
    X, y, _, truth = synthetic
    with config_context(enable_metadata_routing=True):
        estimator = xCEBRAAttributor(2, 2, **FAST).set_score_request(ground_truth=True)
        search = GridSearchCV(
            estimator,
            {"regularizer_weight": [0.0, 0.1]},
            cv=KFold(2, shuffle=False),
        )
        search.fit(X, y, ground_truth=truth)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    # The routed score is the AUC of the map on the held-out fold (the first half in split 0).
    held_out = X[:300]
    refit = clone(estimator).set_params(**search.cv_results_["params"][0]).fit(X[300:], y[300:])
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(
        attribution_auc(truth, refit.attribute(held_out))
    )


def test_score_with_ground_truth_is_the_auc_of_the_map(synthetic):
    X, y, _, truth = synthetic
    model = fitted(X, y)
    assert model.score(X, ground_truth=truth) == pytest.approx(
        attribution_auc(truth, model.attribute(X))
    )


def test_label_free_score_is_nats_above_chance_with_a_fixed_batch(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y, max_iter=150)
    score = model.score(X, y)
    assert 0 < score < np.log(513)
    # Scoring does not use the batch_size parameter, so settings compare.
    assert model.set_params(batch_size=7).score(X, y) == score
    # Without y, only the time objective counts, on the time block.
    assert model.score(X) != score and model.score(X) > 0


def test_label_free_score_without_y_needs_a_time_block(synthetic):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(2, 0, **FAST).fit(X, y)
    assert np.isfinite(model.score(X, y))
    with pytest.raises(ValueError, match="needs y for this model"):
        model.score(X)


def test_regularizer_that_never_starts_warns(synthetic):
    X, y, _, _ = synthetic
    with pytest.warns(UserWarning, match=r"regularizer_start \(step 100\) leaves no step"):
        fitted(X, y, regularizer_start=100, regularizer_full=200)


def test_feature_names_out_checks_input_features(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y)
    assert len(model.get_feature_names_out([f"x{i}" for i in range(20)])) == 4
    with pytest.raises(ValueError, match="input_features"):
        model.get_feature_names_out(["a", "b"])


def test_label_free_score_prefers_a_trained_model(synthetic):
    X, y, _, _ = synthetic
    barely = fitted(X, y, max_iter=1)
    trained = fitted(X, y, max_iter=150)
    assert trained.score(X, y) > barely.score(X, y)
    assert trained.score(X, y) == trained.score(X, y)  # fixed batches: deterministic


def test_clone_is_unfitted_with_same_params(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "module_")


def test_joblib_round_trip_is_exact(synthetic, tmp_path):
    X, y, _, _ = synthetic
    model = fitted(X, y, encoder="conv")
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    np.testing.assert_array_equal(loaded.attribution_map_, model.attribution_map_)
    np.testing.assert_array_equal(loaded.attribute(X), model.attribute(X))


@pytest.mark.parametrize("encoder", ["mlp", "conv"])
def test_same_random_state_same_results(synthetic, encoder):
    X, y, _, _ = synthetic
    a, b = fitted(X, y, encoder=encoder), fitted(X, y, encoder=encoder)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.attribution_map_, b.attribution_map_)
    np.testing.assert_array_equal(a.attribute(X, "gradient"), b.attribute(X, "gradient"))
    assert not np.array_equal(
        fitted(X, y, encoder=encoder, random_state=1).transform(X), a.transform(X)
    )


def test_fit_works_with_torch_deterministic_algorithms(synthetic):
    X, y, _, _ = synthetic
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        model = fitted(X, y)
    finally:
        torch.use_deterministic_algorithms(previous)
    np.testing.assert_array_equal(model.transform(X), fitted(X, y).transform(X))


def test_warm_start_continues_from_the_fitted_weights(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y, warm_start=True)
    first_curve = {name: curve.copy() for name, curve in model.loss_curve_.items()}
    first_embedding = model.transform(X)
    model.fit(X, y)
    assert model.n_iter_ == 2 * FAST["max_iter"]
    for name, curve in first_curve.items():
        assert len(model.loss_curve_[name]) == 2 * len(curve)
        np.testing.assert_array_equal(model.loss_curve_[name][: len(curve)], curve)
    # The schedule continues: the second fit starts beyond regularizer_full, so it is on.
    assert (model.loss_curve_["regularizer"][FAST["max_iter"] :] > 0).all()
    assert not np.array_equal(model.transform(X), first_embedding)
    again = fitted(X, y, warm_start=True).fit(X, y)
    np.testing.assert_array_equal(again.transform(X), model.transform(X))
    cold = fitted(X, y, warm_start=False)
    cold.fit(X, y)
    assert cold.n_iter_ == FAST["max_iter"]
    np.testing.assert_array_equal(cold.transform(X), first_embedding)


def test_warm_start_that_diverges_keeps_the_previous_weights(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y, warm_start=True)
    embedding, n_iter = model.transform(X), model.n_iter_
    model.set_params(learning_rate=1e30)
    with pytest.raises(FloatingPointError, match="keeps the weights it had before"):
        model.fit(X * 1e20, y)
    np.testing.assert_array_equal(model.transform(X), embedding)
    assert model.n_iter_ == n_iter


def test_a_refit_that_diverges_leaves_the_estimator_unfitted(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y).set_params(learning_rate=1e30)
    with pytest.raises(FloatingPointError, match="diverged"):
        model.fit(X * 1e20, y)
    assert not any(name.endswith("_") and not name.startswith("__") for name in vars(model))
    with pytest.raises(NotFittedError):
        model.transform(X)


def test_fit_leaves_torch_global_rng_alone(synthetic):
    X, y, _, _ = synthetic
    state = torch.random.get_rng_state()
    fitted(X, y)
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"device": "cuda"}, "CUDA is not available"),
        ({"device": "tpu"}, "device must be"),
        ({"time_offset": 600}, "time_offset=600 needs at least 601"),
        ({"regularizer_start": 20, "regularizer_full": 10}, "must not come before"),
        ({"encoder": "rnn"}, "'encoder' parameter"),
        ({"regularizer_weight": -1.0}, "'regularizer_weight' parameter"),
        ({"n_encoders": 0}, "'n_encoders' parameter"),
    ],
)
def test_bad_parameters_raise_named_errors(synthetic, params, message):
    X, y, _, _ = synthetic
    if params.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=message):
        fitted(X, y, **params)


def test_behavior_without_latents_is_rejected(synthetic):
    X, y, _, _ = synthetic
    with pytest.raises(ValueError, match="n_behavior_latents=0"):
        xCEBRAAttributor(0, 2, **FAST).fit(X, y)


def test_divergence_raises_and_leaves_the_estimator_unfitted(synthetic):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(2, 2, **{**FAST, "learning_rate": 1e30})
    with pytest.raises(FloatingPointError, match=r"diverged.*at step \d+.*learning_rate"):
        model.fit(X * 1e20, y)
    assert not hasattr(model, "module_")


def test_grid_search_with_metadata_routing_through_a_pipeline(synthetic):
    # scikit-learn issue 30937: inside a Pipeline, score must accept sample_weight or every fold
    # scores NaN.
    X, y, _, truth = synthetic
    with config_context(enable_metadata_routing=True):
        pipeline = make_pipeline(
            StandardScaler(), xCEBRAAttributor(2, 2, **FAST).set_score_request(ground_truth=True)
        )
        search = GridSearchCV(
            pipeline, {"xcebraattributor__regularizer_weight": [0.0, 0.1]},
            cv=KFold(2, shuffle=False), error_score="raise",
        )
        search.fit(X, y, ground_truth=truth)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


@pytest.mark.parametrize("encoder", ["mlp", "conv"])
def test_every_attribution_method_is_reachable_from_the_estimator(synthetic, encoder):
    from skattr.attribution import METHODS

    X, y, _, _ = synthetic
    model = fitted(X, y, encoder=encoder)
    embedding = model.transform(X)
    # A hidden unit: the MLP's first GELU, or the conv net's first GELU at its first time step.
    layer, neuron = ("1", 0) if encoder == "mlp" else ("net.1", (0, 0))
    extra = {
        "conductance": {"layer": layer, "neuron": neuron, "n_steps": 4},
        "igc": {"target": embedding[:200] + 0.1 * np.random.default_rng(0).standard_normal(
            (200, 4)), "n_steps": 4},
        "integrated-gradients": {"n_steps": 4, "rule": "riemann_middle"},
        "gradient-shap": {"random_state": 0},
    }
    for name in METHODS:
        amap = model.attribute(X[:200], method=name, **extra.get(name, {}))
        assert amap.shape == (4, X.shape[1]) and np.isfinite(amap).all(), name


def test_time_objective_spans_the_whole_embedding(synthetic):
    from skattr._training import Objective

    X, y, _, _ = synthetic
    assert fitted(X, y).objectives_ == (Objective("behavior", 0, 2, "behavior_positive"),
                                        Objective("time", 0, 4, "time_positive"))
    assert fitted(X).objectives_ == (Objective("time", 0, 4, "time_positive"),)
    # Without a time block the model is the behaviour block alone.
    behavior_only = xCEBRAAttributor(2, 0, **FAST).fit(X, y)
    assert [o.name for o in behavior_only.objectives_] == ["behavior"]


def test_auto_time_offset_is_read_off_the_training_data(synthetic):
    from skattr._time_scale import auto_time_offset

    X, y, _, _ = synthetic
    model = fitted(X, y)
    assert model.time_offset == "auto" and model.time_offset_ == auto_time_offset(X) > 1
    assert fitted(X, y, time_offset=7).time_offset_ == 7


def test_supervised_objective_regresses_the_standardised_labels(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y, objective="supervised", max_iter=200, regularizer_weight=0.0)
    np.testing.assert_allclose(model.label_mean_, y.mean(0))
    np.testing.assert_allclose(model.label_scale_, y.std(0))
    assert [(o.name, o.loss) for o in model.objectives_] == [("behavior", "mse"),
                                                             ("time", "infonce")]
    curve = model.loss_curve_["behavior"]
    assert curve[-20:].mean() < 0.5 * curve[:5].mean()
    # The behaviour block predicts the standardised labels.
    prediction = model.transform(X)[:, :2] * model.label_scale_ + model.label_mean_
    r2 = 1 - ((prediction - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    assert (r2 > 0.5).all()
    assert np.isfinite(model.score(X, y)) and model.score(X, y) != model.score(X)
    # behavior_r2_ is the linear read-out's R², which the fitted block can only improve on.
    assert model.behavior_r2_ >= r2.mean() - 1e-6


def test_supervised_objective_refuses_labels_it_cannot_regress(synthetic):
    X, y, _, _ = synthetic
    with pytest.raises(ValueError, match=r"n_behavior_latents=2 column\(s\); got 1"):
        fitted(X, y[:, 0], objective="supervised")
    constant = y.copy()
    constant[:, 1] = 3.0
    with pytest.raises(ValueError, match=r"y column\(s\) \[1\] are constant"):
        fitted(X, constant, objective="supervised")
    model = fitted(X, y, objective="supervised")
    with pytest.raises(ValueError, match="y has 1 column"):
        model.score(X, y[:, :1])


def test_time_delta_is_read_off_the_labels_recorded_and_checked(synthetic):
    from skattr._time_scale import auto_time_delta, auto_time_offset

    X, y, _, _ = synthetic
    model = fitted(X, y, behavior_gap=0)
    assert model.time_delta == "auto"
    assert model.time_delta_ == auto_time_delta(y, model.time_offset_) > 1
    # The default gap leaves no positive within the time offset: lag 1.
    assert fitted(X, y).time_delta_ == 1
    # Read off the labels, not the features: labels without temporal structure get 1.
    white = np.random.default_rng(0).standard_normal(y.shape)
    assert fitted(X, white, behavior_gap=0).time_delta_ == 1 < auto_time_offset(X)
    # No label-change query, nothing to read: 1.
    assert fitted(X, y, behavior_distribution="delta_normal").time_delta_ == 1
    assert fitted(X, y, time_delta=1).time_delta_ == 1
    offset = fitted(X, y, time_delta="time_offset", time_offset=9)
    assert offset.time_delta_ == offset.time_offset_ == 9
    with pytest.raises(ValueError, match="time_delta=600 needs at least 601"):
        fitted(X, y, time_delta=600)
    long_delta = fitted(X, y, time_delta=30, time_offset=5)
    with pytest.raises(ValueError, match="time_delta=30 needs at least 31"):
        long_delta.score(X[:20], y[:20])


def test_behavior_r2_is_the_linear_readout_of_y_from_the_behaviour_block(synthetic):
    from sklearn.linear_model import LinearRegression

    X, y, _, _ = synthetic
    barely, trained = fitted(X, y, max_iter=1), fitted(X, y, max_iter=300)
    block = trained.transform(X)[:, :2]
    assert trained.behavior_r2_ == pytest.approx(LinearRegression().fit(block, y).score(block, y))
    assert trained.behavior_r2_ > 0.5 > barely.behavior_r2_
    assert not hasattr(fitted(X), "behavior_r2_")


def test_a_constant_label_column_is_warned_about(synthetic):
    X, y, _, _ = synthetic
    y = y.copy()
    y[:, 0] = 2.0
    with pytest.warns(UserWarning, match=r"y column\(s\) \[0\] are constant"):
        fitted(X, y)


def discrete_condition(n_samples, n_values=3, seed=0):
    """A trial condition held for runs of 20 samples, cycling through ``n_values`` values."""
    return (np.arange(n_samples) // 20 + seed) % n_values


def test_discrete_labels_train_a_block_that_separates_the_values(synthetic):
    X, _, _, _ = synthetic
    condition = discrete_condition(len(X))
    # The condition shifts the data, so a behaviour block can learn to tell it apart.
    X = X + 0.2 * np.eye(3)[condition] @ np.random.default_rng(0).standard_normal((3, 20))
    # The weight these 600 samples take under "auto" (0.03) learns the condition to R² 0.49-0.81
    # over seeds 0-3, as 0.1 does to 0.49-0.90: seed 0 at 0.1 stands for a fit that succeeds.
    model = fitted(X, condition, behavior_distribution="discrete", max_iter=300,
                   regularizer_weight=0.1)
    barely = fitted(X, condition, behavior_distribution="discrete", max_iter=1)
    onehot = np.eye(3)[condition]
    block = model.transform(X)[:, :2]
    from sklearn.linear_model import LinearRegression

    assert model.behavior_r2_ == pytest.approx(
        LinearRegression().fit(block, onehot).score(block, onehot))
    assert model.behavior_r2_ > 0.85 > 0.6 > barely.behavior_r2_
    assert np.isfinite(model.score(X, condition))


def test_integer_labels_with_a_continuous_distribution_are_warned_about(synthetic):
    X, _, _, _ = synthetic
    with pytest.warns(UserWarning, match="y holds integers.*behavior_distribution='discrete'"):
        fitted(X, discrete_condition(len(X)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted(X, discrete_condition(len(X)).astype(float))
        fitted(X, discrete_condition(len(X)), behavior_distribution="discrete")


def test_a_discrete_value_seen_once_is_warned_about(synthetic):
    X, _, _, _ = synthetic
    condition = discrete_condition(len(X))
    condition[7] = 9
    with pytest.warns(UserWarning, match=r"y value\(s\) 9 occur once"):
        fitted(X, condition, behavior_distribution="discrete")


def test_a_single_discrete_value_is_refused(synthetic):
    X, _, _, _ = synthetic
    with pytest.raises(ValueError, match="y is constant"):
        fitted(X, np.zeros(len(X), dtype=int), behavior_distribution="discrete")


def test_hidden_layers_of_the_fitted_encoder(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y)  # hidden_units=16: 20 -> 16 -> 16 -> 5 -> 4
    assert model.attribute(X, "gradient", layer="0").shape == (16, 20)
    assert model.attribute(X, "gradient", layer="0", attribute_to_layer_input=True).shape == (
        20, 20)
    influence = model.internal_influence(X, "4")
    assert influence.shape == (4, 5) and np.all(influence >= 0)
    behaviour_only = model.internal_influence(X, "4", qoi=[0, 1], how="integrated-gradients",
                                              n_steps=8)
    assert behaviour_only.shape == (2, 5)


def test_pipeline_score_refuses_a_dropped_ground_truth(synthetic):
    X, y, _, truth = synthetic
    pipe = make_pipeline(StandardScaler(), xCEBRAAttributor(2, 2, **FAST)).fit(X, y)
    with pytest.raises(ValueError, match="dropped ground_truth.*enable_metadata_routing"):
        pipe.score(X, ground_truth=truth)
    # The label-free score without a ground truth still works.
    assert np.isfinite(pipe.score(X, y))
    with config_context(enable_metadata_routing=True):
        pipe[-1].set_score_request(ground_truth=True)
        auc = pipe.score(X, ground_truth=truth)
    assert auc == pipe[-1].score(pipe[:-1].transform(X), ground_truth=truth)


def test_igc_of_a_behaviour_target_has_one_row_per_label(synthetic):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(2, 2, **FAST).fit(X, y)
    amap = model.attribute(X, method="igc", target=y)
    assert amap.shape == (y.shape[1], X.shape[1])
    # IGC's completeness: each row sums to the correlation of its label with the read-out.
    block = model.transform(X.astype(np.float32))[:, :2].astype(float)
    readout = np.c_[block, np.ones(len(block))] @ np.linalg.lstsq(
        np.c_[block, np.ones(len(block))], y, rcond=None)[0]
    correlation = [np.corrcoef(readout[:, j], y[:, j])[0, 1] for j in range(y.shape[1])]
    np.testing.assert_allclose(amap.sum(1), correlation, atol=2e-3)
    # One column per latent is the embedding's own IGC.
    assert model.attribute(X, method="igc", target=model.transform(X)).shape == (4, 20)


def test_igc_behaviour_target_needs_a_behaviour_block(synthetic):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(2, 2, **FAST).fit(X)
    with pytest.raises(ValueError, match="target has 2 column.*fitted without y"):
        model.attribute(X, method="igc", target=y)


@pytest.mark.parametrize("encoder", ["mlp", "conv"])
def test_transform_with_trials_embeds_each_trial_on_its_own(synthetic, encoder):
    X, y, _, _ = synthetic
    trials = np.repeat([0, 1, 2], [250, 150, 200])
    model = xCEBRAAttributor(2, 2, **FAST, encoder=encoder).fit(X, y, trials=trials)
    each = np.concatenate([model.transform(X[trials == t]) for t in range(3)])
    np.testing.assert_allclose(model.fit_transform(X, y, trials=trials),
                               clone(model).fit(X, y, trials=trials).transform(X, trials=trials))
    np.testing.assert_allclose(model.transform(X, trials=trials), each, rtol=1e-6, atol=1e-6)
    assert (encoder == "mlp") == np.allclose(model.transform(X), each, atol=1e-6)


def test_trials_of_the_wrong_length_are_refused(synthetic):
    X, y, _, _ = synthetic
    with pytest.raises(ValueError, match=r"trials must hold one trial id per sample of X, "
                                         r"shape \(600,\); got shape \(599,\)"):
        xCEBRAAttributor(**FAST).fit(X, y, trials=np.zeros(599))


@pytest.mark.parametrize("routing", [False, True])
def test_grid_search_with_group_kfold_routes_the_trials(synthetic, routing):
    from sklearn.model_selection import GroupKFold

    X, y, _, truth = synthetic
    trials = np.repeat(np.arange(6), 100)
    seen = []

    class Recording(xCEBRAAttributor):
        def fit(self, X, y=None, trials=None):
            seen.append(None if trials is None else np.unique(trials).tolist())
            return super().fit(X, y, trials=trials)

    model = Recording(2, 2, **{**FAST, "max_iter": 5})
    with config_context(enable_metadata_routing=routing):
        if routing:
            model.set_fit_request(trials=True)
        search = GridSearchCV(model, {"regularizer_weight": [0.0]}, cv=GroupKFold(3),
                              scoring=attribution_auc_scorer(truth))
        search.fit(X, y, groups=trials, trials=trials)
    # Each split trains on whole trials, and fit gets exactly those trials' ids.
    held_out = [set(range(6)) - set(ids) for ids in seen[:3]]
    assert [len(ids) for ids in held_out] == [2, 2, 2] and set().union(*held_out) == set(range(6))
    assert seen[3] == list(range(6))


def test_html_repr_links_to_the_api_page():
    assert xCEBRAAttributor()._get_doc_link().endswith("generated/skattr.xCEBRAAttributor.html")
    assert "generated/skattr.xCEBRAAttributor.html" in xCEBRAAttributor()._repr_html_()


def test_verbose_attribution_shows_progress(synthetic, capsys):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(2, 2, **FAST).fit(X, y)
    model.attribute(X, method="gradient", batch_size=100, verbose=True)
    assert "gradient" in capsys.readouterr().err
    model.attribute(X, method="gradient", batch_size=100)
    assert capsys.readouterr().err == ""


def test_grid_search_over_weights_and_seeds_on_a_dask_cluster(synthetic):
    distributed = pytest.importorskip("distributed")
    from skattr.stats._refits import torch_threads

    X, y, _, truth = synthetic
    grid = {"regularizer_weight": [0.0, 0.1], "random_state": [0, 1]}

    def search():
        return GridSearchCV(xCEBRAAttributor(2, 2, **{**FAST, "max_iter": 10}), grid,
                            cv=KFold(2), scoring=attribution_auc_scorer(truth), n_jobs=-1)

    with torch_threads(1):  # as each of the cluster's single-threaded workers
        serial = search().set_params(n_jobs=1).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        on_dask = search().fit(X, y)
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == serial.best_params_


def test_behavior_gap_is_four_time_offsets_recorded_and_checked(synthetic):
    from skattr._time_scale import auto_behavior_gap

    X, y, _, _ = synthetic
    model = fitted(X, y)
    assert model.behavior_gap == "auto"
    assert model.behavior_gap_ == auto_behavior_gap(model.time_offset_, len(X))
    assert model.behavior_gap_ == min(4 * model.time_offset_, len(X) // 8) > 0
    assert fitted(X, y, behavior_gap=7).behavior_gap_ == 7
    # Nothing continuous to contrast: no gap.
    assert fitted(X).behavior_gap_ == 0
    condition = np.repeat([0.0, 1.0], len(X) // 2)[:, None]
    assert fitted(X, condition, behavior_distribution="discrete").behavior_gap_ == 0
    with pytest.raises(ValueError, match=r"behavior_gap=300 excludes every sample of 600"
                                         r".*expected at most 299"):
        fitted(X[:600], y[:600], behavior_gap=300)


def test_the_fit_draws_its_behaviour_positives_beyond_the_gap(synthetic, monkeypatch):
    from skattr import _estimator

    drawn = []

    class RecordingSampler(_estimator.ContrastiveSampler):
        def behavior_positive(self, reference, group=None):
            positive = super().behavior_positive(reference, group)
            drawn.append((self.gap, np.abs(positive - reference).min()))
            return positive

    monkeypatch.setattr(_estimator, "ContrastiveSampler", RecordingSampler)
    X, y, _, _ = synthetic
    fitted(X, y, behavior_gap=40, validation_fraction=0.5)
    assert drawn and all(gap == 40 and distance > 40 for gap, distance in drawn)


def test_default_width_is_the_papers_capped_on_short_recordings(synthetic):
    X, y, _, _ = synthetic
    params = {key: value for key, value in FAST.items() if key != "hidden_units"}

    def width(n_samples, **extra):
        model = xCEBRAAttributor(3, 3, **{**params, **extra}).fit(X[:n_samples], y[:n_samples])
        return model.module_[0].out_features

    assert width(len(X)) == min(30 * 6, max(len(X) // 16, 5 * 6)) == 37
    assert width(320) == 30 and width(100) == 30  # at least 5 per latent
    assert width(320, hidden_units=50) == 50
    short = xCEBRAAttributor(3, 3, warm_start=True, **params).fit(X[:320], y[:320])
    assert short.fit(X, y).module_[0].out_features == 30  # a warm start keeps its width


def test_default_batch_is_a_quarter_of_the_training_samples_within_64_and_512(monkeypatch):
    from skattr._sampling import ContrastiveSampler

    sizes = []
    original = ContrastiveSampler.sample

    def record(self, size):
        sizes.append(size)
        return original(self, size)

    monkeypatch.setattr(ContrastiveSampler, "sample", record)
    X, y, _, _ = make_synthetic(n_samples=6000, n_time_latents=1, n_behavior_latents=1,
                                n_time_neurons=4, n_behavior_neurons=4, random_state=0)
    params = {**FAST, "max_iter": 1, "time_offset": 5}
    del params["batch_size"]

    def batch(n_samples, **extra):
        sizes.clear()
        xCEBRAAttributor(1, 1, **{**params, **extra}).fit(X[:n_samples], y[:n_samples])
        return sizes[0]

    assert batch(1000) == 250 and batch(2047) == 511 and batch(2048) == batch(6000) == 512
    assert batch(200) == 64  # at least 64
    assert batch(50) == 45  # and never more than the references there are
    assert batch(1000, validation_fraction=0.2) == 200  # a quarter of the samples it trains on
    assert batch(6000, batch_size=700) == 700


def test_regularizer_weight_auto_is_weaker_on_short_recordings(synthetic):
    X, y, _, _ = synthetic
    params = {**FAST, "max_iter": 2}

    def weight(n_samples, **extra):
        model = xCEBRAAttributor(1, 0, **{**params, **extra}).fit(X[:n_samples], y[:n_samples, :1])
        return model.regularizer_weight_

    # 480 samples per latent, as for the width and the ensemble: below, 0.03; from there, 0.1.
    assert weight(479) == 0.03 and weight(480) == 0.1
    assert weight(479, regularizer_weight=0.2) == 0.2
    # The held-out tail does not count: 530 samples train on fewer than 480.
    assert weight(530, validation_fraction=0.1) == 0.03
    # A warm start keeps the fitted weight, whatever the length of its data.
    model = xCEBRAAttributor(1, 0, **params, warm_start=True).fit(X[:479], y[:479, :1])
    assert model.fit(X[:600], y[:600, :1]).regularizer_weight_ == 0.03
    # (That the loss takes the fitted weight: test_fit_sets_the_documented_attributes.)


def test_n_encoders_auto_trains_several_on_short_recordings(synthetic):
    X, y, _, _ = synthetic
    params = {**FAST, "n_encoders": "auto"}
    # 480 samples per latent: below, 4 encoders; from there on, 1.
    one = xCEBRAAttributor(1, 0, **params).fit(X[:480], y[:480, :1])
    assert one.n_encoders_ == 1 and isinstance(one.module_, torch.nn.Sequential)
    several = xCEBRAAttributor(1, 0, **params).fit(X[:479], y[:479, :1])
    assert several.n_encoders_ == 4 and isinstance(several.module_, EncoderEnsemble)
    assert xCEBRAAttributor(1, 0, **{**params, "n_encoders": 2}).fit(X, y[:, :1]).n_encoders_ == 2
    with pytest.raises(AttributeError, match="n_encoders_ is set by fit"):
        _ = xCEBRAAttributor().n_encoders_


def test_ensemble_embedding_is_the_mean_of_members_aligned_per_block(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y, n_encoders=3)
    members = model.module_.members
    with torch.no_grad():
        outputs = [member(torch.tensor(X, dtype=torch.float32)).double().numpy()
                   for member in members]
    assert not np.allclose(outputs[0], outputs[1], atol=1e-2)  # initialised differently
    aligned = [outputs[0]]
    for output in outputs[1:]:
        member = np.empty_like(output)
        for block in (slice(0, 2), slice(2, 4)):  # behaviour, time
            design = np.column_stack([output[:, block], np.ones(len(X))])
            member[:, block] = design @ np.linalg.lstsq(design, outputs[0][:, block],
                                                         rcond=None)[0]
        aligned.append(member)
    np.testing.assert_allclose(model.transform(X), np.mean(aligned, 0), rtol=1e-4, atol=1e-4)
    # One curve per objective, as for one encoder: the mean over the members.
    assert list(model.loss_curve_) == ["behavior", "time", "regularizer", "total"]
    assert model.attribution_map_.shape == (4, 20)
    np.testing.assert_allclose(model.attribute(X), model.attribution_map_, rtol=1e-5)


def test_ensemble_members_train_as_they_would_alone(synthetic):
    # Side by side on the same batches, each member follows its own loss: member 0 of an
    # ensemble is the single encoder of the same seed, up to float rounding.
    X, y, _, _ = synthetic
    single = fitted(X, y, regularizer_weight=0.0)
    ensemble = fitted(X, y, n_encoders=2, regularizer_weight=0.0)
    with torch.no_grad():
        inputs = torch.tensor(X, dtype=torch.float32)
        np.testing.assert_allclose(ensemble.module_.members[0](inputs), single.module_(inputs),
                                   rtol=1e-3, atol=1e-3)
    for name in ("behavior", "time"):
        assert not np.allclose(ensemble.loss_curve_[name], single.loss_curve_[name])


def test_ensemble_warm_start_validation_and_checkpoints(synthetic, tmp_path):
    X, y, _, _ = synthetic
    snapshots = []

    class Snapshots(Callback):
        def on_check(self, context):
            snapshots.append(context.snapshot())

    model = fitted(X, y, n_encoders=2, warm_start=True, validation_fraction=0.2,
                   callbacks=[Snapshots()])
    assert snapshots and all(s.n_encoders_ == 2 for s in snapshots)
    np.testing.assert_allclose(snapshots[-1].transform(X), model.transform(X), rtol=1e-5)
    assert np.isfinite(model.validation_loss_curve_[:, 1]).all()
    first = model.transform(X)
    model.set_params(n_encoders="auto", callbacks=None).fit(X, y)
    assert model.n_encoders_ == 2 and model.n_iter_ == 2 * FAST["max_iter"]
    assert not np.allclose(model.transform(X), first)
    with pytest.raises(ValueError, match="n_encoders 2 -> 3"):
        model.set_params(n_encoders=3).fit(X, y)


def test_ensemble_layers_are_named_by_member(synthetic):
    X, y, _, _ = synthetic
    model = fitted(X, y, n_encoders=2)
    assert model.attribute(X, "gradient", layer="members.1.0").shape == (16, 20)
    influence = model.internal_influence(X, "members.0.4")
    assert influence.shape == (4, 5) and np.isfinite(influence).all()

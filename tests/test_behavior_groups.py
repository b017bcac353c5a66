"""Several behaviour blocks (``behavior_groups``): layout, sampling, the sklearn API, files."""

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skattr import stats, xCEBRAAttributor
from skattr._sampling import ContrastiveSampler
from skattr.metrics import attribution_auc_scorer

from .conftest import FAST

GROUPS = {"position": ["x", "y"], "speed": ["speed"]}


@pytest.fixture(scope="module")
def data(synthetic):
    X, y, _, truth = synthetic
    rng = np.random.default_rng(0)
    labels = pd.DataFrame({"x": y[:, 0], "y": y[:, 1], "speed": rng.normal(size=len(y)).cumsum()})
    return X, labels, truth


@pytest.fixture(scope="module")
def model(data):
    X, labels, _ = data
    return xCEBRAAttributor({"position": 2, "speed": 1}, 2, behavior_groups=GROUPS,
                            **FAST).fit(X, labels)


def test_each_group_has_its_block_objective_and_names(model):
    assert list(model.get_feature_names_out()) == ["position0", "position1", "speed0",
                                                   "time0", "time1"]
    described = [(o.name, o.start, o.stop, o.columns) for o in model.objectives_]
    assert described == [("position", 0, 2, (0, 1)), ("speed", 2, 3, (2,)),
                         ("time", 0, 5, None)]
    assert {k: v.tolist() for k, v in stats.blocks(model).items()} == {
        "position": [0, 1], "speed": [2], "time": [3, 4]}
    assert {"position", "speed", "time"} <= set(model.loss_curve_)


def test_integer_positions_and_one_size_for_all_groups_give_the_same_model(data, model):
    X, labels, _ = data
    by_position = xCEBRAAttributor(2, 2, behavior_groups={"position": [0, 1], "speed": 2},
                                   **FAST).fit(X, labels.to_numpy())
    # Sizes 2 and 2 here, 2 and 1 in the fixture: the speed block differs, names follow.
    assert list(by_position.get_feature_names_out())[:4] == ["position0", "position1",
                                                            "speed0", "speed1"]
    same = xCEBRAAttributor({"position": 2, "speed": 1}, 2, **FAST,
                            behavior_groups={"position": [0, 1], "speed": [2]})
    np.testing.assert_array_equal(same.fit(X, labels.to_numpy()).transform(X),
                                  model.transform(X))


def test_each_group_draws_its_positives_from_its_own_columns():
    rng = np.random.default_rng(0)
    labels = np.c_[rng.integers(0, 3, 500), rng.integers(0, 4, 500), rng.integers(0, 2, 500)]
    sampler = ContrastiveSampler(500, 2, labels.astype(float), "discrete", 0.1,
                                 np.random.default_rng(1), groups=[(0, 1), (2,)])
    batch = sampler.sample(400)
    for columns, positive in batch.behavior_positives.items():
        np.testing.assert_array_equal(labels[positive][:, list(columns)],
                                      labels[batch.reference][:, list(columns)])
    # Positives of one group are not restricted in the other group's columns.
    assert (labels[batch.behavior_positives[(2,)]][:, 0] != labels[batch.reference][:, 0]).any()


def test_pipeline_grid_search_with_a_dataframe_y(data):
    X, labels, _ = data
    truth = np.ones((5, X.shape[1]), dtype=bool)
    truth[:3, :10] = False
    model = xCEBRAAttributor({"position": 2, "speed": 1}, 2, behavior_groups=GROUPS,
                             **{**FAST, "max_iter": 5})
    search = GridSearchCV(model, {"regularizer_weight": [0.0, 0.1]}, cv=KFold(2),
                          scoring=attribution_auc_scorer(truth)).fit(X, labels)
    assert search.best_estimator_.behavior_groups == GROUPS
    assert clone(model).get_params()["n_behavior_latents"] == {"position": 2, "speed": 1}
    pipe = make_pipeline(StandardScaler(), clone(model)).fit(X, labels)
    assert pipe.transform(X).shape == (len(X), 5)


def test_groups_survive_pickle_skops_and_save(model, data, tmp_path):
    X, labels, _ = data
    pickled = pickle.loads(pickle.dumps(model))
    skopsed = sio.loads(sio.dumps(model), trusted=sio.get_untrusted_types(data=sio.dumps(model)))
    model.save(tmp_path / "m.safetensors")
    loaded = xCEBRAAttributor.load(tmp_path / "m.safetensors")
    for other in (pickled, skopsed, loaded):
        assert other.objectives_ == model.objectives_
        assert other.behavior_groups == GROUPS
        np.testing.assert_array_equal(other.transform(X), model.transform(X))
    resumed = loaded.set_params(warm_start=True, max_iter=5).fit(X, labels)
    assert resumed.n_iter_ == model.n_iter_ + 5


def test_a_supervised_group_regresses_its_own_columns(data):
    X, labels, _ = data
    model = xCEBRAAttributor({"position": 2, "speed": 1}, 2, behavior_groups=GROUPS,
                             objective="supervised", **FAST).fit(X, labels)
    assert [(o.name, o.loss, o.columns) for o in model.objectives_[:2]] == [
        ("position", "mse", (0, 1)), ("speed", "mse", (2,))]
    assert np.isfinite(model.score(X, labels.to_numpy()))


def test_columns_in_no_group_are_warned_about(data):
    X, labels, _ = data
    with pytest.warns(UserWarning, match=r"y column\(s\) \[2\] are in no group"):
        xCEBRAAttributor(2, 2, behavior_groups={"position": ["x", "y"]}, **FAST).fit(X, labels)


def test_the_null_refuses_several_behaviour_blocks(data):
    X, labels, _ = data
    model = xCEBRAAttributor(2, 2, behavior_groups=GROUPS, **FAST)
    with pytest.raises(ValueError, match="attribution_null tests one behaviour block"):
        stats.attribution_null(model, X, labels.to_numpy(), n_surrogates=19)

import copy
import json
import os
import pickle
import stat
import struct
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import torch
from sklearn.utils.validation import check_is_fitted

from skattr import __version__, xCEBRAAttributor
from skattr._persistence import SkattrVersionWarning
from skattr._training import Objective

from .conftest import FAST


@pytest.fixture(scope="module")
def model(synthetic):
    X, y, _, _ = synthetic
    return xCEBRAAttributor(2, 2, **FAST).fit(X, y)


def assert_same_fit(loaded, model, X):
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    np.testing.assert_array_equal(loaded.attribution_map_, model.attribution_map_)
    np.testing.assert_array_equal(loaded.attribute(X), model.attribute(X))
    assert loaded.get_params() == model.get_params()
    assert loaded.n_iter_ == model.n_iter_ and loaded.n_features_in_ == model.n_features_in_
    assert list(loaded.embedding_names_) == list(model.embedding_names_)
    assert list(loaded.loss_curve_) == list(model.loss_curve_)
    for name, curve in model.loss_curve_.items():
        np.testing.assert_array_equal(loaded.loss_curve_[name], curve)
    assert loaded.objectives_ == model.objectives_ and loaded.time_offset_ == model.time_offset_
    assert getattr(loaded, "behavior_r2_", None) == getattr(model, "behavior_r2_", None)
    for name in ("label_mean_", "label_scale_"):
        assert hasattr(loaded, name) == hasattr(model, name)
        if hasattr(model, name):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))


@pytest.mark.parametrize("dump", ["save", "pickle", "skops"])
def test_a_supervised_model_round_trips(synthetic, tmp_path, dump):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(2, 2, objective="supervised", **FAST).fit(X, y)
    path = tmp_path / "model"
    if dump == "save":
        model.save(path)
        loaded = xCEBRAAttributor.load(path)
    elif dump == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        sio.dump(model, path)
        loaded = sio.load(path, trusted=["skattr._estimator.xCEBRAAttributor"])
    assert_same_fit(loaded, model, X)
    assert loaded.score(X, y) == model.score(X, y)


def test_pickle_state_holds_numpy_weights_and_no_torch_object(model):
    state = model.__getstate__()
    assert all(isinstance(value, np.ndarray) for value in state["module_"].values())
    assert state["device_"] == "cpu" and state["_skattr_version"] == __version__
    assert b"torch" not in pickle.dumps(model)
    assert isinstance(model.module_, torch.nn.Module)  # the live estimator is untouched


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_and_joblib_round_trips_are_exact(model, synthetic, tmp_path, dump):
    X = synthetic[0]
    path = tmp_path / "model.bin"
    if dump == "pickle":
        path.write_bytes(pickle.dumps(model))
        loaded = pickle.loads(path.read_bytes())
    else:
        joblib.dump(model, path)
        loaded = joblib.load(path)
    assert_same_fit(loaded, model, X)
    assert not loaded.module_.training


def test_a_state_that_claims_cuda_loads_on_the_cpu_with_a_warning(model, synthetic, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state = model.__getstate__()
    state["device_"] = "cuda:0"
    loaded = xCEBRAAttributor.__new__(xCEBRAAttributor)
    with pytest.warns(UserWarning, match="fitted on 'cuda:0', which this machine does not have"):
        loaded.__setstate__(state)
    assert loaded.device_ == torch.device("cpu")
    assert next(loaded.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.transform(synthetic[0]), model.transform(synthetic[0]))


def test_another_skattr_version_warns_on_load(model):
    state = model.__getstate__()
    state["_skattr_version"] = "0.0.1"
    with pytest.warns(SkattrVersionWarning, match="saved with skattr 0.0.1"):
        xCEBRAAttributor.__new__(xCEBRAAttributor).__setstate__(state)


def test_unfitted_estimator_pickles(synthetic):
    loaded = pickle.loads(pickle.dumps(xCEBRAAttributor(2, 2, **FAST)))
    assert not hasattr(loaded, "module_")
    loaded.fit(*synthetic[:2])
    check_is_fitted(loaded)


def test_skops_round_trip_trusts_only_skattr(model, synthetic, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted == ["skattr._estimator.xCEBRAAttributor"]
    loaded = sio.load(path, trusted=untrusted)
    assert_same_fit(loaded, model, synthetic[0])


def test_save_load_round_trip_without_pickle(model, synthetic, tmp_path):
    path = tmp_path / "model.safetensors"
    model.save(path)
    assert b"pickle" not in path.read_bytes()
    assert_same_fit(xCEBRAAttributor.load(path), model, synthetic[0])


def test_save_load_keeps_feature_names_and_a_model_without_y(synthetic, tmp_path):
    X = pd.DataFrame(synthetic[0], columns=[f"neuron{i}" for i in range(synthetic[0].shape[1])])
    model = xCEBRAAttributor(2, 2, **{**FAST, "encoder": "conv"}).fit(X)
    model.save(tmp_path / "model.safetensors")
    loaded = xCEBRAAttributor.load(tmp_path / "model.safetensors", device="cpu")
    assert list(loaded.feature_names_in_) == list(X.columns)
    assert_same_fit(loaded, model, X)


def test_a_file_from_before_the_objectives_were_stored_loads_with_its_layout(model, synthetic,
                                                                            tmp_path):
    # skattr 0.2.0 trained the time objective on the time block only and did not store it.
    def without_objectives(metadata):
        del metadata["fitted"]["objectives_"]

    old = loaded_as_saved_by("0.2.0", model, tmp_path / "model.safetensors", without_objectives)
    assert old.objectives_ == (Objective("behavior", 0, 2, "behavior_positive"),
                               Objective("time", 2, 4, "time_positive"))
    X, y = synthetic[:2]
    np.testing.assert_array_equal(old.transform(X), model.transform(X))
    assert np.isfinite(old.score(X, y))
    with pytest.raises(ValueError, match="objectives, but they changed"):
        old.set_params(warm_start=True).fit(X, y)


def read_header(path):
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return data, length, json.loads(data[8 : 8 + length])


def write_header(path, data, length, header):
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data[8 + length :])


def saved_and_edited(model, path, edit):
    """``model`` saved to ``path``, then its skattr metadata changed in place by ``edit``."""
    model.save(path)
    data, length, header = read_header(path)
    metadata = json.loads(header["__metadata__"]["skattr"])
    edit(metadata)
    header["__metadata__"]["skattr"] = json.dumps(metadata)
    write_header(path, data, length, header)
    return path


def loaded_as_saved_by(version, model, path, edit):
    """``model`` saved, its metadata edited by ``edit`` and marked as written by skattr
    ``version``, then loaded (which must warn that another version saved it)."""
    def as_older(metadata):
        edit(metadata)
        metadata["skattr_version"] = version

    saved_and_edited(model, path, as_older)
    with pytest.warns(SkattrVersionWarning, match=f"saved with skattr {version}"):
        return xCEBRAAttributor.load(path)


def unpickled_as_saved_by(version, model, drop=(), **changes):
    """``model``'s pickled state without the entries ``drop``, with ``changes``, marked as
    written by skattr ``version``, then unpickled (which must warn that another version saved
    it)."""
    state = {name: value for name, value in model.__getstate__().items() if name not in drop}
    state.update(changes, _skattr_version=version)
    unpickled = xCEBRAAttributor.__new__(xCEBRAAttributor)
    with pytest.warns(SkattrVersionWarning, match=f"saved with skattr {version}"):
        unpickled.__setstate__(state)
    return unpickled


def test_files_and_pickles_from_before_row_norm_keep_their_raw_maps(model, synthetic, tmp_path):
    def without_row_norm(metadata):  # and without inverse_damping, which came later
        del metadata["params"]["row_norm"], metadata["params"]["inverse_damping"]

    old = loaded_as_saved_by("0.5.0", model, tmp_path / "model.safetensors", without_row_norm)
    assert old.row_norm is None
    unpickled = unpickled_as_saved_by("0.5.0", model, drop=("row_norm", "inverse_damping"))
    assert unpickled.row_norm is None
    X = synthetic[0]
    np.testing.assert_allclose(old.attribute(X), model.attribute(X, row_norm=None, damping=0.0),
                               rtol=1e-6)


def test_files_and_pickles_from_before_inverse_damping_keep_their_exact_inverse(
        model, synthetic, tmp_path):
    def without_damping(metadata):
        del metadata["params"]["inverse_damping"]

    old = loaded_as_saved_by("0.7.0", model, tmp_path / "model.safetensors", without_damping)
    assert old.inverse_damping == 0.0 and old.row_norm == model.row_norm
    np.testing.assert_array_equal(old.attribution_map_, model.attribution_map_)
    unpickled = unpickled_as_saved_by("0.7.0", model, drop=("inverse_damping",))
    assert unpickled.inverse_damping == 0.0
    X = synthetic[0]
    np.testing.assert_allclose(old.attribute(X), model.attribute(X, damping=0.0), rtol=1e-6)


def test_time_delta_auto_of_files_and_pickles_before_0_9_keeps_meaning_the_time_offset(
        model, tmp_path):
    def with_auto_delta(metadata):
        metadata["params"]["time_delta"] = "auto"

    old = loaded_as_saved_by("0.8.0", model, tmp_path / "model.safetensors", with_auto_delta)
    assert old.time_delta == "time_offset" and old.time_delta_ == model.time_delta_
    unpickled = unpickled_as_saved_by("0.8.0", model, time_delta="auto")
    assert unpickled.time_delta == "time_offset"
    # This version's "auto" (the labels' time scale) is kept as it is.
    current = xCEBRAAttributor.__new__(xCEBRAAttributor)
    current.__setstate__({**model.__getstate__(), "time_delta": "auto"})
    assert current.time_delta == "auto"


def test_files_and_pickles_from_before_regularizer_weight_auto_keep_the_weight_used(
        model, tmp_path):
    def as_fitted_before(metadata):
        metadata["params"]["regularizer_weight"] = 0.1
        del metadata["fitted"]["regularizer_weight_"]

    old = loaded_as_saved_by("0.13.0", model, tmp_path / "model.safetensors", as_fitted_before)
    assert old.regularizer_weight == old.regularizer_weight_ == 0.1
    unpickled = unpickled_as_saved_by("0.13.0", model, drop=("regularizer_weight_",),
                                      regularizer_weight=0.1)
    assert unpickled.regularizer_weight == unpickled.regularizer_weight_ == 0.1
    # This version's fitted weight round-trips.
    assert model.regularizer_weight == "auto" and model.regularizer_weight_ == 0.03
    model.save(tmp_path / "current.safetensors")
    assert xCEBRAAttributor.load(tmp_path / "current.safetensors").regularizer_weight_ == 0.03


def test_files_and_pickles_from_before_unmix_blocks_invert_the_encoder_s_own_jacobian(
        model, synthetic, tmp_path):
    from skattr import _persistence

    model.save(tmp_path / "current.safetensors")
    arrays, metadata = _persistence.read_file(tmp_path / "current.safetensors")
    del arrays["block_unmixing_"], metadata["params"]["unmix_blocks"]
    metadata["skattr_version"] = "0.14.0"
    _persistence.write_file(tmp_path / "old.safetensors", arrays, metadata)
    with pytest.warns(SkattrVersionWarning, match="saved with skattr 0.14.0"):
        old = xCEBRAAttributor.load(tmp_path / "old.safetensors")
    unpickled = unpickled_as_saved_by("0.14.0", model, drop=("unmix_blocks", "block_unmixing_"))
    X = synthetic[0]
    for estimator in (old, unpickled):
        assert estimator.unmix_blocks is False
        np.testing.assert_array_equal(estimator.block_unmixing_, np.eye(4))
        np.testing.assert_allclose(estimator.attribute(X), model.attribute(X, output_map=None),
                                   rtol=1e-6)
    # This version's unmixing round-trips.
    assert not np.array_equal(model.block_unmixing_, np.eye(4))
    current = xCEBRAAttributor.load(tmp_path / "current.safetensors")
    np.testing.assert_array_equal(current.block_unmixing_, model.block_unmixing_)
    assert current.unmix_blocks is True


@pytest.mark.parametrize(("version", "param", "method_param"), [
    ("0.16.0", "inverse_window", "window"),  # each sample inverted with its own correlation
    ("0.17.0", "inverse_map_window", "map_window"),  # each sample kept its own map
])
def test_files_and_pickles_from_before_a_window_load_without_it(
        version, param, method_param, model, synthetic, tmp_path):
    def without_param(metadata):
        del metadata["params"][param]

    old = loaded_as_saved_by(version, model, tmp_path / "model.safetensors", without_param)
    unpickled = unpickled_as_saved_by(version, model, drop=(param,))
    X = synthetic[0]
    for estimator in (old, unpickled):
        assert getattr(estimator, param) == 1
        np.testing.assert_allclose(estimator.attribute(X),
                                   model.attribute(X, **{method_param: 1}), rtol=1e-6)
    # A window of 5 samples is another map on these data, so the comparison above can fail.
    assert not np.allclose(model.attribute(X, **{method_param: 5}),
                           model.attribute(X, **{method_param: 1}), rtol=1e-6)


@pytest.mark.parametrize(("saved", "older"), [
    ("0.8.0", True), ("0.8.12", True), ("0.9.0", False), ("0.10.0", False), ("1.0", False),
    (None, True),
    ("unreadable", True),
])
def test_saved_before_compares_major_and_minor_versions(saved, older):
    from skattr._persistence import saved_before

    assert saved_before(saved, (0, 9)) is older


def test_a_file_that_claims_cuda_loads_on_the_cpu(model, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = saved_and_edited(model, tmp_path / "model.safetensors",
                            lambda metadata: metadata["fitted"].update(device_="cuda"))
    with pytest.warns(UserWarning, match="fitted on 'cuda'"):
        loaded = xCEBRAAttributor.load(path)
    assert loaded.device_ == torch.device("cpu")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["params"].update(encoder="__import__('os').system('true')"),
         "'encoder' parameter"),
        (lambda m: m["params"].update(surprise=1), "unexpected keyword argument 'surprise'"),
        (lambda m: m.pop("fitted"), "missing or has malformed skattr content"),
        (lambda m: m["fitted"]["encoder_spec"].update(hidden_units=7), "do not fit"),
        (lambda m: m.update(format_version=99), "file format version 99"),
        (lambda m: m["fitted"].update(n_features_in_=3), "is inconsistent"),
        (lambda m: m["fitted"]["embedding_names_"].pop(), "is inconsistent"),
    ],
)
def test_tampered_files_give_clear_errors(model, tmp_path, edit, message):
    path = saved_and_edited(model, tmp_path / "model.safetensors", edit)
    with pytest.raises((ValueError, TypeError), match=message):
        xCEBRAAttributor.load(path)


def test_random_bytes_are_not_a_model(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ValueError, match="not a readable skattr file"):
        xCEBRAAttributor.load(path)


def test_saving_a_random_state_instance_warns_and_stores_none(synthetic, tmp_path):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(2, 2, **{**FAST, "random_state": np.random.RandomState(0)}).fit(X, y)
    with pytest.warns(UserWarning, match="RandomState instance"):
        model.save(tmp_path / "model.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert xCEBRAAttributor.load(tmp_path / "model.safetensors").random_state is None


def test_numpy_scalar_parameters_save_and_load(synthetic, tmp_path):
    X, y, _, _ = synthetic
    params = {**FAST, "max_iter": np.int64(5), "random_state": np.int64(0),
              "hidden_units": np.int32(8), "learning_rate": np.float64(1e-3)}
    model = xCEBRAAttributor(2, 2, **params).fit(X, y)
    model.save(tmp_path / "model.safetensors")
    loaded = xCEBRAAttributor.load(tmp_path / "model.safetensors")
    assert loaded.max_iter == 5 and loaded.random_state == 0
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_a_pickle_from_before_weights_were_arrays_still_loads(model, synthetic, tmp_path):
    # skattr 0.1.0 pickled the live module and had neither a version stamp nor an encoder spec,
    # nor the objectives: it trained them on disjoint blocks.
    state = dict(vars(model))
    del state["_encoder_spec"], state["objectives_"]
    old = xCEBRAAttributor.__new__(xCEBRAAttributor)
    with pytest.warns(SkattrVersionWarning, match="saved with skattr unknown"):
        old.__setstate__(state)
    np.testing.assert_array_equal(old.transform(synthetic[0]), model.transform(synthetic[0]))
    assert old.objectives_ == (Objective("behavior", 0, 2, "behavior_positive"),
                               Objective("time", 2, 4, "time_positive"))
    old.save(tmp_path / "model.safetensors")  # needs the encoder spec, rebuilt from the params
    assert xCEBRAAttributor.load(tmp_path / "model.safetensors").n_iter_ == model.n_iter_


def test_saved_files_get_the_users_permissions_and_no_partial_file(model, tmp_path):
    previous = os.umask(0o022)
    try:
        model.save(tmp_path / "model.safetensors")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_files_and_pickles_from_before_the_behaviour_gap_keep_drawing_without_it(
        model, synthetic, tmp_path):
    def without_gap(metadata):
        del metadata["params"]["behavior_gap"], metadata["fitted"]["behavior_gap_"]

    assert model.behavior_gap == "auto" and model.behavior_gap_ > 0
    old = loaded_as_saved_by("0.10.0", model, tmp_path / "model.safetensors", without_gap)
    assert old.behavior_gap == 0 and old.behavior_gap_ == 0
    unpickled = unpickled_as_saved_by("0.10.0", model, drop=("behavior_gap", "behavior_gap_"))
    assert unpickled.behavior_gap == 0 and unpickled.behavior_gap_ == 0
    # The score of the old file draws its positives as 0.10 did: without a gap.
    X, y, _, _ = synthetic
    without = copy.deepcopy(model)
    without.behavior_gap = without.behavior_gap_ = 0
    assert old.score(X, y) == pytest.approx(without.score(X, y), rel=1e-6)
    assert old.score(X, y) != pytest.approx(model.score(X, y), rel=1e-6)
    model.save(tmp_path / "current.safetensors")
    assert xCEBRAAttributor.load(tmp_path / "current.safetensors").behavior_gap_ == (
        model.behavior_gap_)


def test_an_ensemble_saves_loads_and_pickles_exactly(synthetic, tmp_path):
    X, y, _, _ = synthetic
    ensemble = xCEBRAAttributor(2, 2, **{**FAST, "n_encoders": 2}).fit(X, y)
    ensemble.save(tmp_path / "ensemble.safetensors")
    loaded = xCEBRAAttributor.load(tmp_path / "ensemble.safetensors")
    assert loaded.n_encoders_ == 2
    assert_same_fit(loaded, ensemble, X)
    assert_same_fit(pickle.loads(pickle.dumps(ensemble)), ensemble, X)


def test_files_and_pickles_from_before_ensembles_hold_one_encoder(model, synthetic, tmp_path):
    def without_ensembles(metadata):
        del metadata["params"]["n_encoders"], metadata["fitted"]["encoder_spec"]["n_encoders"]

    old = loaded_as_saved_by("0.11.0", model, tmp_path / "model.safetensors", without_ensembles)
    assert old.n_encoders == 1 and old.n_encoders_ == 1
    spec = {name: value for name, value in model._encoder_spec.items() if name != "n_encoders"}
    unpickled = unpickled_as_saved_by("0.11.0", model, drop=("n_encoders",), _encoder_spec=spec)
    assert unpickled.n_encoders == 1 and unpickled.n_encoders_ == 1
    X, _, _, _ = synthetic
    assert_same_fit(unpickled, model, X)

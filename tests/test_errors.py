"""Every bad input gets a clear exception: one case per row of the table in docs/errors.md.

The table is the documentation users read; this file reads the same table, so a row without a
test, or a test without a row, fails here.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skattr import xCEBRAAttributor
from skattr.attribution import attribute
from skattr.callbacks import EarlyStopping

from .conftest import FAST

TABLE = Path(__file__).parents[1] / "docs" / "errors.md"
ROW = re.compile(
    r"^\| `(?P<case>[\w-]+)` \|[^|]*\| `(?P<exception>\w+)` \| `(?P<message>[^`]+)` \|$"
)
EXCEPTIONS = {"ValueError": ValueError, "TypeError": TypeError, "NotFittedError": NotFittedError,
              "FileNotFoundError": FileNotFoundError}


def documented_rows():
    rows = [ROW.match(line) for line in TABLE.read_text().splitlines()]
    return {row["case"]: (row["exception"], row["message"]) for row in rows if row}


def estimator(**params):
    return xCEBRAAttributor(2, 2, **{**FAST, "time_offset": 5, "max_iter": 3, **params})


def with_value(array, value):
    array = array.copy()
    array.flat[3] = value
    return array


@pytest.fixture(scope="module")
def fitted(synthetic):
    X, y, _, _ = synthetic
    return estimator().fit(X, y)


# Each case gets (X, y, ground truth, a fitted estimator, tmp_path) and does the bad thing.
def with_constant_column(y, column):
    y = y.copy()
    y[:, column] = 1.0
    return y


CASES = {
    "y-constant": lambda X, y, t, m, p: estimator().fit(X, np.ones(len(X))),
    "supervised-y-columns": lambda X, y, t, m, p: estimator(objective="supervised").fit(
        X, y[:, 0]),
    "supervised-y-constant-column": lambda X, y, t, m, p: estimator(objective="supervised").fit(
        X, with_constant_column(y, 1)),
    "X-shorter-than-time-delta": lambda X, y, t, m, p: estimator(time_delta=600).fit(X, y),
    "behavior-gap-too-long": lambda X, y, t, m, p: estimator(behavior_gap=300).fit(X, y),
    "X-nan": lambda X, y, t, m, p: estimator().fit(with_value(X, np.nan), y),
    "X-inf": lambda X, y, t, m, p: estimator().fit(with_value(X, np.inf), y),
    "X-1d": lambda X, y, t, m, p: estimator().fit(X[:, 0], y),
    "X-3d": lambda X, y, t, m, p: estimator().fit(X[:, :, None], y),
    "X-empty": lambda X, y, t, m, p: estimator().fit(X[:0], y[:0]),
    "X-no-features": lambda X, y, t, m, p: estimator().fit(X[:, :0], y),
    "X-one-sample": lambda X, y, t, m, p: estimator(time_offset=1).fit(X[:1], y[:1]),
    "X-shorter-than-receptive-field": lambda X, y, t, m, p: estimator(
        encoder="conv", time_offset=1).fit(X[:6], y[:6]),
    "X-shorter-than-time-offset": lambda X, y, t, m, p: estimator(time_offset=50).fit(
        X[:40], y[:40]),
    "X-non-numeric": lambda X, y, t, m, p: estimator().fit(np.full(X.shape, "a"), y),
    "X-complex": lambda X, y, t, m, p: estimator().fit(X + 1j, y),
    "y-nan": lambda X, y, t, m, p: estimator().fit(X, with_value(y, np.nan)),
    "y-inf": lambda X, y, t, m, p: estimator().fit(X, with_value(y, -np.inf)),
    "y-length": lambda X, y, t, m, p: estimator().fit(X, y[:-1]),
    "y-3d": lambda X, y, t, m, p: estimator().fit(X, y[:, :, None]),
    "y-non-numeric": lambda X, y, t, m, p: estimator().fit(X, np.full(len(X), "left")),
    "y-without-behaviour-block": lambda X, y, t, m, p: xCEBRAAttributor(
        0, 2, **{**FAST, "time_offset": 5}).fit(X, y),
    "ground-truth-shape": lambda X, y, t, m, p: m.score(X, ground_truth=t[:, :-1]),
    "ground-truth-values": lambda X, y, t, m, p: m.score(X, ground_truth=t * 2),
    "ground-truth-all-true": lambda X, y, t, m, p: m.score(X, ground_truth=np.ones_like(t)),
    "ground-truth-all-false": lambda X, y, t, m, p: m.score(X, ground_truth=np.zeros_like(t)),
    "unknown-method": lambda X, y, t, m, p: m.attribute(X, method="shap"),
    "unknown-method-parameter": lambda X, y, t, m, p: m.attribute(X, "gradient", rcond=1e-3),
    "unknown-reduction": lambda X, y, t, m, p: m.attribute(X, reduction="median"),
    "unknown-lag-reduction": lambda X, y, t, m, p: m.attribute(X, lag_reduction="max"),
    "unknown-encoder": lambda X, y, t, m, p: estimator(encoder="rnn").fit(X, y),
    "unknown-similarity": lambda X, y, t, m, p: estimator(similarity="dot").fit(X, y),
    "unknown-behavior-distribution": lambda X, y, t, m, p: estimator(
        behavior_distribution="uniform").fit(X, y),
    "negative-regularizer-weight": lambda X, y, t, m, p: estimator(
        regularizer_weight=-0.1).fit(X, y),
    "negative-batch-size": lambda X, y, t, m, p: estimator(batch_size=-1).fit(X, y),
    "negative-max-iter": lambda X, y, t, m, p: estimator(max_iter=-5).fit(X, y),
    "non-positive-time-offset": lambda X, y, t, m, p: estimator(time_offset=0).fit(X, y),
    "schedule-order": lambda X, y, t, m, p: estimator(
        regularizer_start=20, regularizer_full=10).fit(X, y),
    "attribute-batch-size": lambda X, y, t, m, p: m.attribute(X, batch_size=0),
    "attribute-row-norm": lambda X, y, t, m, p: m.attribute(X, row_norm="l3"),
    "estimator-row-norm": lambda X, y, t, m, p: estimator(row_norm="sd").fit(X, y),
    "attribute-damping": lambda X, y, t, m, p: m.attribute(X, damping=-1.0),
    "estimator-inverse-damping": lambda X, y, t, m, p: estimator(inverse_damping=-1).fit(X, y),
    "attribute-output-map-shape": lambda X, y, t, m, p: m.attribute(X, output_map=np.eye(5)),
    "attribute-output-map-square": lambda X, y, t, m, p: m.attribute(X,
                                                                     output_map=np.eye(4)[:2]),
    "estimator-unmix-blocks": lambda X, y, t, m, p: estimator(unmix_blocks="yes").fit(X, y),
    "estimator-inverse-window": lambda X, y, t, m, p: estimator(inverse_window=0).fit(X, y),
    "attribute-window": lambda X, y, t, m, p: m.attribute(X, window=0),
    "estimator-inverse-map-window": lambda X, y, t, m, p: estimator(
        inverse_map_window=0).fit(X, y),
    "attribute-map-window": lambda X, y, t, m, p: m.attribute(X, map_window="all"),
    "attribute-target-length": lambda X, y, t, m, p: m.attribute(X, "gradient", target=y[:-1]),
    "attribute-empty-X": lambda X, y, t, m, p: attribute(m.module_, X[:0]),
    "cuda-without-cuda": lambda X, y, t, m, p: estimator(device="cuda").fit(X, y),
    "unknown-device": lambda X, y, t, m, p: estimator(device="gpu").fit(X, y),
    "transform-feature-count": lambda X, y, t, m, p: m.transform(X[:, :-1]),
    "transform-before-fit": lambda X, y, t, m, p: estimator().transform(X),
    "attribute-before-fit": lambda X, y, t, m, p: estimator().attribute(X),
    "score-before-fit": lambda X, y, t, m, p: estimator().score(X, ground_truth=t),
    "save-before-fit": lambda X, y, t, m, p: estimator().save(p / "model.safetensors"),
    "warm-start-architecture": lambda X, y, t, m, p: estimator(warm_start=True).fit(
        X, y).set_params(hidden_units=9).fit(X, y),
    "warm-start-behaviour-split": lambda X, y, t, m, p: estimator(warm_start=True).fit(
        X, y).set_params(n_behavior_latents=3, n_time_latents=1).fit(X, y),
    "warm-start-without-y": lambda X, y, t, m, p: estimator(warm_start=True).fit(X, y).fit(X),
    "load-missing-file": lambda X, y, t, m, p: xCEBRAAttributor.load(p / "absent.safetensors"),
    "load-truncated-file": lambda X, y, t, m, p: load_truncated(m, p),
    "load-foreign-file": lambda X, y, t, m, p: load_foreign(p),
    "trials-length": lambda X, y, t, m, p: estimator().fit(X, y, trials=np.zeros(len(X) - 1)),
    "trials-shorter-than-time-offset": lambda X, y, t, m, p: estimator(time_offset=50).fit(
        X, y, trials=np.arange(len(X)) // 30),
    "validation-fraction-too-small": lambda X, y, t, m, p: estimator(
        validation_fraction=0.001).fit(X, y),
    "early-stopping-without-validation": lambda X, y, t, m, p: estimator(
        callbacks=[EarlyStopping()]).fit(X, y),
    "callbacks-not-callbacks": lambda X, y, t, m, p: estimator(callbacks=[print]).fit(X, y),
    "unknown-optimizer": lambda X, y, t, m, p: estimator(optimizer="Adamm").fit(X, y),
    "optimizer-not-an-optimizer": lambda X, y, t, m, p: estimator(
        optimizer=lambda parameters, lr: None).fit(X, y),
    "igc-behaviour-target-without-y": lambda X, y, t, m, p: estimator().fit(X).attribute(
        X, "igc", target=y),
    "groups-unknown-column": lambda X, y, t, m, p: estimator(
        behavior_groups={"p": ["nope"]}).fit(X, pd.DataFrame(y, columns=["a", "b"])),
    "groups-names-without-dataframe": lambda X, y, t, m, p: estimator(
        behavior_groups={"p": ["a"]}).fit(X, y),
    "groups-position-out-of-range": lambda X, y, t, m, p: estimator(
        behavior_groups={"p": [5]}).fit(X, y),
    "groups-repeated-column": lambda X, y, t, m, p: estimator(
        behavior_groups={"a": [0], "b": [0, 1]}).fit(X, y),
    "groups-empty": lambda X, y, t, m, p: estimator(behavior_groups={"a": []}).fit(X, y),
    "groups-named-time": lambda X, y, t, m, p: estimator(behavior_groups={"time": [0]}).fit(X, y),
    "groups-sizes-mismatch": lambda X, y, t, m, p: xCEBRAAttributor(
        {"a": 1}, 2, behavior_groups={"a": [0], "b": [1]}, **FAST).fit(X, y),
    "groups-sizes-without-groups": lambda X, y, t, m, p: xCEBRAAttributor(
        {"a": 2}, 2, **FAST).fit(X, y),
    "groups-without-y": lambda X, y, t, m, p: estimator(behavior_groups={"a": [0]}).fit(X),
    "pipeline-score-dropped-ground-truth": lambda X, y, t, m, p: make_pipeline(
        StandardScaler(), estimator()).fit(X, y).score(X, ground_truth=t),
}


def load_truncated(model, tmp_path):
    path = tmp_path / "model.safetensors"
    model.save(path)
    path.write_bytes(path.read_bytes()[:-100])
    xCEBRAAttributor.load(path)


def load_foreign(tmp_path):
    from safetensors.numpy import save_file

    save_file({"weights": np.zeros(3)}, str(tmp_path / "other.safetensors"))
    xCEBRAAttributor.load(tmp_path / "other.safetensors")


def test_every_documented_row_has_a_case_and_every_case_a_row():
    assert set(documented_rows()) == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_the_documented_error(case, synthetic, fitted, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y, _, truth = synthetic
    exception, message = documented_rows()[case]
    with pytest.raises(EXCEPTIONS[exception], match=re.escape(message)):
        CASES[case](X, y, truth, fitted, tmp_path)


def test_batch_size_larger_than_the_data_is_clamped_not_an_error(synthetic):
    X, y, _, _ = synthetic
    model = estimator(batch_size=10 * len(X)).fit(X, y)
    assert model.transform(X).shape == (len(X), 4)

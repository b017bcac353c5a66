"""Property tests: random shapes, dtypes, DataFrames and label dimensions either fit and give
well-formed results, or raise one of the documented errors (docs/errors.md), nothing else."""

import re

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skattr import xCEBRAAttributor

# The documented messages for data that cannot be fitted (docs/errors.md, section "Data").
DOCUMENTED = re.compile(
    r"Input [Xy] contains (NaN|infinity)"
    r"|Found array with 0 (sample|feature)\(s\)"
    r"|X has \d+ sample\(s\) but fit needs at least \d+"
    r"|X has \d+ samples but time_offset=\d+ needs at least \d+"
)


@st.composite
def problems(draw):
    n_samples = draw(st.integers(0, 40))
    n_features = draw(st.integers(0, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    if draw(st.booleans()) and X.size:
        X.flat[draw(st.integers(0, X.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    label_dims = draw(st.sampled_from([None, 0, 1, 3]))  # None: no y; 0: a 1-D y
    y = None
    if label_dims is not None:
        y = rng.standard_normal(n_samples if label_dims == 0 else (n_samples, label_dims))
    if draw(st.booleans()):
        X = pd.DataFrame(X, columns=[f"n{i}" for i in range(n_features)])
    params = dict(
        encoder=draw(st.sampled_from(["mlp", "conv"])),
        time_offset=draw(st.integers(1, 12)),
        batch_size=draw(st.integers(1, 64)),
    )
    return X, y, params


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_fit_either_succeeds_or_raises_a_documented_error(problem):
    X, y, params = problem
    model = xCEBRAAttributor(
        2, 1, max_iter=2, hidden_units=6, device="cpu", random_state=0, **params
    )
    try:
        model.fit(X, y)
    except ValueError as error:
        assert DOCUMENTED.search(str(error)), f"undocumented error: {error}"
        return
    data = np.asarray(X)
    embedding = model.transform(X)
    assert embedding.shape == (len(data), 3) and embedding.dtype == data.dtype
    assert np.isfinite(embedding).all()
    assert model.attribution_map_.shape == (3, data.shape[1])
    assert np.isfinite(model.attribution_map_).all()


FITTED = xCEBRAAttributor(2, 1, max_iter=2, hidden_units=6, time_offset=2, device="cpu",
                          random_state=0).fit(np.random.default_rng(0).standard_normal((50, 4)))
USE_ERRORS = re.compile(
    r"Input X contains (NaN|infinity)|Found array with 0 (sample|feature)\(s\)"
    r"|X has \d+ features, but xCEBRAAttributor is expecting 4 features"
)


@settings(max_examples=30, deadline=None)
@given(
    n_samples=st.integers(0, 30), n_features=st.integers(0, 6),
    dtype=st.sampled_from([np.float32, np.float64]), with_nan=st.booleans(),
)
def test_transform_and_attribute_succeed_or_raise_documented_errors(
    n_samples, n_features, dtype, with_nan
):
    X = np.random.default_rng(n_samples).standard_normal((n_samples, n_features)).astype(dtype)
    if with_nan and X.size:
        X.flat[0] = np.nan
    for use in (FITTED.transform, FITTED.attribute):
        try:
            result = use(X)
        except ValueError as error:
            assert USE_ERRORS.search(str(error)), f"undocumented error: {error}"
            continue
        assert np.isfinite(result).all()
        assert result.shape == ((n_samples, 3) if use == FITTED.transform else (3, 4))

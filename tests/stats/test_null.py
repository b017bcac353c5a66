import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.linear_model import Ridge

from skattr import xCEBRAAttributor
from skattr.stats import (
    attribution_null,
    benjamini_hochberg,
    block_contrast,
    empirical_p_values,
)
from skattr.stats._refits import threads_per_fit, torch_threads

TINY = dict(max_iter=8, batch_size=32, hidden_units=8, device="cpu")


@pytest.fixture(scope="module")
def data():
    from skattr.datasets import make_synthetic

    X, y, _, _ = make_synthetic(n_samples=300, n_time_latents=2, n_behavior_latents=2,
                                n_time_neurons=4, n_behavior_neurons=4, random_state=0)
    return X, y


def test_p_values_of_exchangeable_draws_are_uniform():
    # Observed and null drawn alike: p is uniform on {1/20, ..., 20/20}, so the level is exact.
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((4000, 20))  # 4,000 repetitions of 1 observed + 19 null
    p = np.array([empirical_p_values(row[:1], row[1:, None])[0] for row in draws])
    counts = np.bincount(np.rint(p * 20).astype(int) - 1, minlength=20)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert p.min() == 1 / 20 and p.max() == 1.0


def test_benjamini_hochberg_matches_its_definition(rng):
    p = rng.uniform(size=30) ** 2
    m = len(p)
    ranks = np.argsort(np.argsort(p)) + 1
    brute = np.array([min(1.0, min(m * p[j] / ranks[j] for j in range(m) if p[j] >= p[i]))
                      for i in range(m)])
    np.testing.assert_allclose(benjamini_hochberg(p), brute)
    np.testing.assert_allclose(benjamini_hochberg(p.reshape(5, 6)), brute.reshape(5, 6))


def test_block_contrast_matches_its_definition(rng):
    maps = rng.uniform(0.1, 2.0, size=(4, 3, 7))  # 4 fits, 3 blocks, 7 features
    centred = np.log(maps) - np.log(maps).mean(-1, keepdims=True)
    brute = np.stack([[centred[f, b] - np.mean([centred[f, c] for c in range(3) if c != b], 0)
                       for b in range(3)] for f in range(4)])
    np.testing.assert_allclose(block_contrast(maps), brute)
    # A block's scale and a feature's gain (the same in every block) do not change it.
    rescaled = maps * rng.uniform(0.5, 3.0, size=(4, 3, 1)) * rng.uniform(0.5, 3.0, size=(4, 1, 7))
    np.testing.assert_allclose(block_contrast(rescaled), block_contrast(maps))
    # One block: its own centred log map; a zero stays finite.
    np.testing.assert_allclose(block_contrast(maps[:, :1]), centred[:, :1])
    assert np.isfinite(block_contrast(np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]))).all()


def test_null_result_has_the_blocks_p_values_and_is_reproducible(data):
    X, y = data
    model = xCEBRAAttributor(2, 2, **TINY)
    first = attribution_null(model, X, y, n_surrogates=4, alpha=0.5, random_state=3, threads=1)
    second = attribution_null(model, X, y, n_surrogates=4, alpha=0.5, random_state=3,
                              threads=1)
    assert first.block_names == ["behavior", "time"] and first.tested_block == "behavior"
    assert first.null_block.shape == (4, 2, 8) and first.null_rows.shape == (4, 4, 8)
    np.testing.assert_array_equal(first.p_block, second.p_block)
    np.testing.assert_array_equal(first.null_rows, second.null_rows)
    np.testing.assert_array_equal(first.observed_statistic, block_contrast(first.observed_block))
    np.testing.assert_array_equal(
        first.p_block, empirical_p_values(first.observed_statistic, first.null_statistic))
    assert set(np.unique(first.p_block)) <= {0.2, 0.4, 0.6, 0.8, 1.0}
    assert first.significant(0.5).shape == (8,)
    # The observed fit and every surrogate fit have seeds of their own.
    assert len(set(first.seeds)) == 5
    offsets = [s.offsets[0] for s in first.surrogates]
    assert min(offsets) >= 30 and max(offsets) <= 270  # min_shift = T // 10


def test_time_null_shifts_the_features_and_tests_the_time_block(data):
    X, y = data
    result = attribution_null(xCEBRAAttributor(2, 2, **TINY), X, None, null="time",
                              n_surrogates=3, alpha=0.5, random_state=0, threads=1)
    assert result.block_names == ["time"] and result.tested_block == "time"
    assert all(s.kind == "feature_shift" and len(s.offsets) == 8 for s in result.surrogates)


def test_parallel_fits_give_the_serial_p_values(data):
    X, y = data
    model = xCEBRAAttributor(2, 2, **TINY)
    kwargs = dict(n_surrogates=3, alpha=0.5, random_state=1, threads=1,
                  surrogate="block_shuffle")
    serial = attribution_null(model, X, y, n_jobs=1, **kwargs)
    parallel = attribution_null(model, X, y, n_jobs=2, **kwargs)
    np.testing.assert_array_equal(serial.p_block, parallel.p_block)
    np.testing.assert_array_equal(serial.null_block, parallel.null_block)


@pytest.mark.slow
def test_a_dask_cluster_gives_the_p_values_of_one_process(data):
    distributed = pytest.importorskip("distributed")
    import joblib

    X, y = data
    model = xCEBRAAttributor(2, 2, **TINY)
    kwargs = dict(n_surrogates=3, alpha=0.5, random_state=2, threads=1)
    serial = attribution_null(model, X, y, n_jobs=1, **kwargs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        on_dask = attribution_null(model, X, y, n_jobs=-1, **kwargs)
    np.testing.assert_array_equal(serial.p_block, on_dask.p_block)
    np.testing.assert_array_equal(serial.null_block, on_dask.null_block)


def test_each_fit_sets_its_threads_and_restores_them():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    assert threads_per_fit(None, 3) == 3 and threads_per_fit(1000, None) == 1


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(estimator=Ridge()), TypeError, "estimator must be an skattr.xCEBRAAttributor"),
    (dict(y=None), ValueError, "null='behavior' tests the behaviour block and needs y"),
    (dict(n_surrogates=9), ValueError, r"n_surrogates=9 gives p-values no smaller than 1/10"),
    (dict(min_shift=150), ValueError, "too few to shift by at least min_shift=150"),
    (dict(null="space"), ValueError, "The 'null' parameter of attribution_null must be"),
    (dict(n_surrogates=0), ValueError, "The 'n_surrogates' parameter"),
    (dict(X=np.zeros(300)), ValueError, "Expected 2D array"),
    (dict(y=np.zeros(299)), ValueError, "y has 299 rows but X has 300 samples"),
])
def test_bad_arguments_are_named(data, kwargs, error, message):
    X, y = data
    arguments = dict(estimator=xCEBRAAttributor(**TINY), X=X, y=y, n_surrogates=19)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        attribution_null(**arguments)

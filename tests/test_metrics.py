import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skattr.attribution import attribute, jacobian
from skattr.metrics import (
    _roc_auc_rows,
    attribution_auc,
    attribution_auc_ci,
    check_ground_truth,
    connection_statistics,
    moore_penrose_residuals,
)


def test_auc_is_sklearns_pooled_auc(rng):
    truth = rng.random((4, 9)) > 0.5
    scores = rng.random((4, 9))
    assert attribution_auc(truth, scores) == roc_auc_score(truth.ravel(), scores.ravel())


def test_zero_one_integers_are_accepted():
    assert attribution_auc([[1, 0], [0, 1]], [[2.0, 1.0], [0.0, 3.0]]) == 1.0


@pytest.mark.parametrize(
    ("truth", "message"),
    [
        ([[True, False, True]], r"shape \(1, 3\) but the attribution map has shape \(2, 2\)"),
        ([[2, 0], [0, 1]], "must hold booleans"),
        ([["a", "b"], ["c", "d"]], "must hold booleans"),
        ([[True, True], [True, True]], "both True and False"),
        ([[0, 0], [0, 0]], "both True and False"),
    ],
)
def test_bad_ground_truth_is_named(truth, message):
    with pytest.raises(ValueError, match=message):
        attribution_auc(truth, np.ones((2, 2)))


def test_non_finite_map_is_rejected():
    with pytest.raises(ValueError, match="attribution_map contains NaN"):
        attribution_auc([[True, False]], [[np.nan, 1.0]])


def test_check_ground_truth_returns_bool():
    assert check_ground_truth([[1, 0]]).dtype == bool


# --- connection_statistics -------------------------------------------------------------------

def test_connection_statistics_match_numpy():
    truth = np.array([[True, False, False], [False, True, True]])
    amap = np.array([[0.7, -0.2, 0.4], [0.1, 0.9, 0.3]])
    connected, nonconnected = amap[truth], amap[~truth]  # [0.7, 0.9, 0.3], [-0.2, 0.4, 0.1]
    expected = {
        "max_connected": connected.max(), "mean_connected": connected.mean(),
        "min_connected": connected.min(), "max_nonconnected": nonconnected.max(),
        "mean_nonconnected": nonconnected.mean(), "min_nonconnected": nonconnected.min(),
        "gap_max": 0.9 - 0.4, "gap_mean": (1.9 - 0.3) / 3, "gap_min": 0.3 - (-0.2),
        "gap_minmax": 0.3 - 0.4, "max_attribution": 0.9, "min_attribution": -0.2,
    }
    stats = connection_statistics(truth, amap)
    assert stats.keys() == expected.keys()
    assert all(isinstance(value, float) for value in stats.values())
    np.testing.assert_allclose([stats[key] for key in expected], list(expected.values()))


def test_gaps_are_positive_exactly_when_a_threshold_separates(rng):
    truth = rng.random((5, 12)) > 0.6
    separable = np.where(truth, rng.uniform(1, 2, truth.shape), rng.uniform(0, 0.9, truth.shape))
    stats = connection_statistics(truth, separable)
    assert attribution_auc(truth, separable) == 1.0
    assert stats["gap_minmax"] > 0
    assert stats["gap_max"] > 0 and stats["gap_mean"] > 0 and stats["gap_min"] > 0
    overlapping = separable.copy()
    overlapping.flat[np.flatnonzero(~truth)[0]] = 1.5  # one non-connected entry above some links
    stats = connection_statistics(truth, overlapping)
    assert stats["gap_minmax"] < 0 and attribution_auc(truth, overlapping) < 1.0


def test_connection_statistics_validate_their_inputs():
    with pytest.raises(ValueError, match="attribution_map contains NaN"):
        connection_statistics([[True, False]], [[np.inf, 1.0]])
    with pytest.raises(ValueError, match="both True and False"):
        connection_statistics([[True, True]], [[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"shape \(1, 2\) but the attribution map"):
        connection_statistics([[True, False]], np.ones((2, 2)))


# --- moore_penrose_residuals -----------------------------------------------------------------

def _jacobians(rng, dtype, shape=(40, 3, 7)):
    return rng.standard_normal(shape).astype(dtype)


def test_pinv_satisfies_penrose_in_float64(rng):
    J = _jacobians(rng, np.float64)
    residuals, satisfied = moore_penrose_residuals(J, np.linalg.pinv(J))
    assert residuals.shape == satisfied.shape == (40, 4) and residuals.dtype == np.float64
    assert residuals.max() < 1e-13 and satisfied.all()


def test_tolerance_follows_the_dtype(rng):
    J = _jacobians(rng, np.float32)
    P = np.linalg.pinv(J)  # computed in float32
    residuals, satisfied = moore_penrose_residuals(J, P)
    assert satisfied.all()  # float32 tolerance: 10 * 7 * eps32 ~ 8e-6
    assert 1e-9 < residuals.max() < 1e-5  # float32 rounding, far above float64's
    float64_rtol = 10 * 7 * np.finfo(np.float64).eps
    _, strict = moore_penrose_residuals(J, P, rtol=float64_rtol)
    assert not strict.all()  # a float64 tolerance fails a correct float32 pseudo-inverse
    # The same data as float64 (the float32 P then is an approximate inverse) fails by default.
    assert not moore_penrose_residuals(J.astype(np.float64), P.astype(np.float64))[1].all()


def test_wrong_inverse_has_large_residuals():
    J = np.array([[2.0, 0.0], [0.0, 1.0]])
    residuals, satisfied = moore_penrose_residuals(J, J.T)  # J^T = J is no inverse
    # J J J - J = diag(6, 0); both products are symmetric, so (3) and (4) hold.
    np.testing.assert_allclose(residuals, [6 / np.sqrt(5), 6 / np.sqrt(5), 0, 0])
    assert satisfied.tolist() == [False, False, True, True]
    skewed = np.array([[1.0, 2.0, 0.0], [0.5, 1.0, 3.0]])  # rows neither orthogonal nor unit
    residuals, satisfied = moore_penrose_residuals(skewed, skewed.T)
    assert residuals[:2].min() > 1 and not satisfied[:2].any()


def test_penrose_accepts_torch_and_mixed_inputs(rng):
    J = torch.as_tensor(_jacobians(rng, np.float32))
    P = torch.linalg.pinv(J).requires_grad_(True)
    residuals, satisfied = moore_penrose_residuals(J, P)
    np.testing.assert_allclose(
        residuals, moore_penrose_residuals(J.numpy(), P.detach().numpy())[0]
    )
    assert satisfied.all()
    # float64 P of a float32 J: judged by the coarser float32 precision.
    assert moore_penrose_residuals(J, np.linalg.pinv(J.double().numpy()))[1].all()


def test_inverted_gradient_maps_are_pseudo_inverses():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    model.eval()  # as attribute() runs it: the same float32 Jacobian, rounding and all
    X = torch.randn(64, 7)
    J = jacobian(model, X).detach()  # (T, K, N), float32
    maps = attribute(model, X, "inverted-gradient", return_per_sample=True)  # pinv(J)^T
    residuals, satisfied = moore_penrose_residuals(J, maps.transpose(0, 2, 1))
    assert satisfied.all() and residuals.max() < 1e-10
    gradients = attribute(model, X, "gradient", return_per_sample=True)  # J itself
    assert not moore_penrose_residuals(J, gradients.transpose(0, 2, 1))[1][:, 0].any()
    with pytest.raises(ValueError, match=r"pseudo_inverse must have shape \(64, 7, 3\)"):
        moore_penrose_residuals(J, maps)  # forgot to transpose the map


def test_zero_matrices_have_zero_residuals_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        residuals, satisfied = moore_penrose_residuals(np.zeros((2, 3)), np.zeros((3, 2)))
    assert residuals.tolist() == [0.0] * 4 and satisfied.all()
    # A zero "inverse" of a nonzero J fails condition (1) with relative residual 1.
    residuals, _ = moore_penrose_residuals(np.eye(2, 3), np.zeros((3, 2)))
    assert residuals.tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("jac", "pinv", "kwargs", "message"),
    [
        (np.ones((2, 3)), np.ones((2, 3)), {}, r"pseudo_inverse must have shape \(3, 2\)"),
        (np.ones((1, 1, 2, 3)), np.ones((1, 1, 3, 2)), {}, "jacobian must have shape"),
        (np.full((2, 3), np.nan), np.ones((3, 2)), {}, "jacobian contains NaN"),
        (np.ones((2, 3)), np.full((3, 2), np.inf), {}, "pseudo_inverse contains NaN"),
        (np.array([["a"]]), np.ones((1, 1)), {}, "jacobian must hold real numbers"),
        (np.ones((2, 3)), np.ones((3, 2)), {"rtol": -1.0}, "rtol must be a non-negative"),
    ],
)
def test_penrose_errors_name_the_argument(jac, pinv, kwargs, message):
    with pytest.raises(ValueError, match=message):
        moore_penrose_residuals(jac, pinv, **kwargs)


# --- attribution_auc_ci ----------------------------------------------------------------------

def _problem(rng, n_samples=400, signal=0.3):
    truth = np.zeros((3, 10), dtype=bool)
    truth[[0, 1, 2, 0], [1, 4, 7, 9]] = True
    return truth, rng.normal(size=(n_samples, 3, 10)) + signal * truth


def test_rank_auc_equals_sklearn_with_ties(rng):
    truth = rng.random(40) > 0.5
    scores = rng.integers(0, 4, size=(25, 40)).astype(float)  # many ties
    expected = [roc_auc_score(truth, row) for row in scores]
    np.testing.assert_allclose(_roc_auc_rows(truth, scores), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean_abs", "mean", "sum", "max_abs"])
def test_every_replicate_is_sklearns_auc_of_the_resampled_map(rng, reduction):
    truth, _ = _problem(rng)
    maps = rng.integers(-2, 3, size=(60, 3, 10)).astype(float)  # ties in every reduced map
    result = attribution_auc_ci(truth, maps, reduction, n_bootstrap=20, random_state=3)
    # The same draws, the naive way: resample the rows, reduce, score with sklearn.
    drawn = np.random.RandomState(3).randint(0, 60, size=(20, 60))
    reduce = {
        "mean_abs": lambda m: np.abs(m).mean(0), "mean": lambda m: m.mean(0),
        "sum": lambda m: m.sum(0), "max_abs": lambda m: np.abs(m).max(0),
    }[reduction]
    expected = [roc_auc_score(truth.ravel(), reduce(maps[rows]).ravel()) for rows in drawn]
    np.testing.assert_allclose(result.distribution, expected, rtol=0, atol=1e-12)
    assert result.auc == attribution_auc(truth, reduce(maps))


def test_interval_contains_auc_is_reproducible_and_narrows(rng):
    truth, maps = _problem(rng, n_samples=4000, signal=0.1)
    result = attribution_auc_ci(truth, maps, n_bootstrap=300, random_state=0, reduction="mean")
    assert result.low <= result.auc <= result.high and result.confidence == 0.95
    again = attribution_auc_ci(
        truth, maps, n_bootstrap=300, random_state=0, reduction="mean", batch_size=7
    )
    np.testing.assert_array_equal(again.distribution, result.distribution)
    assert (again.low, again.high) == (result.low, result.high)
    short = attribution_auc_ci(truth, maps[:400], n_bootstrap=300, random_state=0, reduction="mean")
    assert result.high - result.low < 0.5 * (short.high - short.low)
    narrower = attribution_auc_ci(
        truth, maps, n_bootstrap=300, random_state=0, reduction="mean", confidence=0.5
    )
    assert result.low <= narrower.low <= narrower.high <= result.high


def test_block_bootstrap_sees_autocorrelation(rng):
    truth, _ = _problem(rng)
    # Noise constant over runs of 40 samples: only 50 independent values per entry.
    maps = np.repeat(rng.normal(size=(50, 3, 10)), 40, axis=0) + 0.3 * truth
    kwargs = dict(reduction="mean", n_bootstrap=300, random_state=0)
    iid = attribution_auc_ci(truth, maps, **kwargs)
    blocks = attribution_auc_ci(truth, maps, block_length=40, **kwargs)
    assert blocks.high - blocks.low > 2 * (iid.high - iid.low)
    whole = attribution_auc_ci(truth, maps, block_length=len(maps), **kwargs)
    assert np.all(whole.distribution == whole.auc)  # one block = the series itself


@pytest.mark.parametrize(
    ("maps_shape", "kwargs", "message"),
    [
        ((3, 10), {}, r"per_sample_maps must have shape \(T, K, N\)"),
        ((0, 3, 10), {}, r"per_sample_maps must have shape \(T, K, N\)"),
        ((5, 3, 9), {}, r"shape \(3, 10\) but the attribution map has shape \(3, 9\)"),
        ((5, 3, 10), {"reduction": "median"}, "reduction must be one of"),
        ((5, 3, 10), {"n_bootstrap": 0}, "n_bootstrap must be an integer >= 1"),
        ((5, 3, 10), {"n_bootstrap": 10.0}, "n_bootstrap must be an integer"),
        ((5, 3, 10), {"confidence": 1.0}, "confidence must be strictly between 0 and 1"),
        ((5, 3, 10), {"confidence": 0}, "confidence must be strictly between 0 and 1"),
        ((5, 3, 10), {"batch_size": 0}, "batch_size must be an integer >= 1"),
        ((5, 3, 10), {"block_length": 6}, "block_length must be an integer between 1 and 5"),
    ],
)
def test_auc_ci_errors_name_the_argument(rng, maps_shape, kwargs, message):
    truth, _ = _problem(rng)
    with pytest.raises(ValueError, match=message):
        attribution_auc_ci(truth, np.ones(maps_shape), **kwargs)


def test_auc_ci_rejects_non_finite_maps(rng):
    truth, maps = _problem(rng, n_samples=5)
    maps[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match="per_sample_maps contains NaN"):
        attribution_auc_ci(truth, maps)


def _random_hypothesis(seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["place", "grid", "hd", "speed"], size=30)
    order = rng.permutation(7)
    groups = {"position": order[:3], "hd": order[3:5], "speed": order[5:6], "time": order[6:]}
    hypothesis = {"position": ["place", "grid"], "hd": "hd", "speed": ["speed"]}
    return labels, groups, hypothesis


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hypothesis_ground_truth_and_auc_against_brute_force(seed):
    from skattr.metrics import hypothesis_auc, hypothesis_ground_truth, hypothesis_latents

    labels, groups, hypothesis = _random_hypothesis(seed)
    truth = hypothesis_ground_truth(groups, labels, hypothesis)
    group_of = {int(latent): name for name, latents in groups.items() for latent in latents}
    for latent in range(7):
        explained = hypothesis.get(group_of[latent], [])
        explained = [explained] if isinstance(explained, str) else explained
        np.testing.assert_array_equal(truth[latent], np.isin(labels, explained))
    rows = hypothesis_latents(groups, hypothesis)
    assert sorted(rows.tolist()) == sorted(int(i) for g in hypothesis for i in groups[g])
    amap = np.random.default_rng(seed).random((7, 30))
    expected = roc_auc_score(truth[rows].ravel(), amap[rows].ravel())
    assert hypothesis_auc(amap, groups, labels, hypothesis, row_norm=None) == pytest.approx(
        expected)
    for norm, scale in (("l2", lambda r: np.sqrt((r**2).sum())), ("l1", lambda r: r.sum()),
                        ("max", lambda r: r.max())):
        normed = np.array([row / scale(row) for row in amap[rows]])
        assert hypothesis_auc(amap, groups, labels, hypothesis, row_norm=norm) == pytest.approx(
            roc_auc_score(truth[rows].ravel(), normed.ravel()))


def test_hypothesis_auc_does_not_change_when_a_latent_is_rescaled():
    from skattr.metrics import hypothesis_auc

    labels, groups, hypothesis = _random_hypothesis(0)
    amap = np.random.default_rng(0).random((7, 30))
    rescaled = amap * np.array([1.0, 10.0, 0.1, 3.0, 1.0, 0.5, 7.0])[:, None]
    assert hypothesis_auc(rescaled, groups, labels, hypothesis) == pytest.approx(
        hypothesis_auc(amap, groups, labels, hypothesis))
    assert hypothesis_auc(rescaled, groups, labels, hypothesis, row_norm=None) != pytest.approx(
        hypothesis_auc(amap, groups, labels, hypothesis, row_norm=None))


@pytest.mark.parametrize("norm", ["l2", "max"])
def test_hypothesis_auc_ci_is_the_bootstrap_of_normalised_replicates(norm):
    from skattr.metrics import (
        hypothesis_auc,
        hypothesis_auc_ci,
        hypothesis_ground_truth,
        hypothesis_latents,
        normalize_rows,
    )

    labels, groups, hypothesis = _random_hypothesis(1)
    rng = np.random.default_rng(1)
    truth = hypothesis_ground_truth(groups, labels, hypothesis)
    per_sample = rng.normal(size=(60, 7, 30)) + truth * rng.random((7, 1)) * 3
    ci = hypothesis_auc_ci(per_sample, groups, labels, hypothesis, row_norm=norm,
                           n_bootstrap=25, random_state=4, block_length=5)
    assert ci.auc == pytest.approx(hypothesis_auc(np.abs(per_sample).mean(0), groups, labels,
                                                  hypothesis, row_norm=norm))
    # Brute force: the same moving-block draws, each replicate reduced, normalised and scored.
    rows = hypothesis_latents(groups, hypothesis)
    draws = np.random.RandomState(4).randint(0, 60 - 5 + 1, size=(25, 12))
    expected = []
    for starts in draws:
        picked = (starts[:, None] + np.arange(5)).ravel()[:60]
        reduced = normalize_rows(np.abs(per_sample[picked][:, rows]).mean(0), norm)
        expected.append(roc_auc_score(truth[rows].ravel(), reduced.ravel()))
    np.testing.assert_allclose(ci.distribution, expected, rtol=1e-12)


def test_normalize_rows_leaves_rows_of_zeros_at_zero():
    from skattr.metrics import normalize_rows

    maps = np.array([[[3.0, -4.0], [0.0, 0.0]]])
    np.testing.assert_allclose(normalize_rows(maps, "l2"), [[[0.6, -0.8], [0.0, 0.0]]])
    np.testing.assert_allclose(normalize_rows(maps, "l1"), [[[3 / 7, -4 / 7], [0.0, 0.0]]])
    np.testing.assert_allclose(normalize_rows(maps, "max"), [[[0.75, -1.0], [0.0, 0.0]]])


def test_summarize_by_label_against_loops(monkeypatch):
    import builtins

    from skattr.metrics import summarize_by_label

    labels, groups, _ = _random_hypothesis(3)
    amap = np.random.default_rng(3).random((7, 30))
    table = summarize_by_label(amap, groups, labels)
    assert list(table.index) == list(groups)
    for name, latents in groups.items():
        for label in table.columns:
            assert table.loc[name, label] == pytest.approx(amap[latents][:, labels == label].mean())
    real_import = builtins.__import__

    def without_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pandas)
    bunch = summarize_by_label(amap, groups, labels)
    np.testing.assert_allclose(bunch.data, table.to_numpy())
    assert bunch.index == list(table.index) and bunch.columns == list(table.columns)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda f: f.hypothesis_ground_truth({"b": [0]}, ["x"], {"c": "x"}), ValueError,
     r"hypothesis names group 'c', which latent_groups lacks; its groups are \['b'\]"),
    (lambda f: f.hypothesis_ground_truth({"b": [0]}, ["x"], {"b": "y"}), ValueError,
     r"names feature label\(s\) \['y'\] that no feature has"),
    (lambda f: f.hypothesis_ground_truth({"b": [0], "t": [0]}, ["x"], {"b": "x"}), ValueError,
     "each latent to one group only"),
    (lambda f: f.hypothesis_ground_truth([0, 1], ["x"], {"b": "x"}), TypeError,
     "latent_groups must be a mapping"),
    (lambda f: f.hypothesis_ground_truth({"b": [0]}, ["x"], {}), TypeError,
     "hypothesis must be a non-empty mapping"),
    (lambda f: f.hypothesis_auc(np.ones((2, 3)), {"b": [0], "t": [1]}, ["x", "y"], {"b": "x"}),
     ValueError, "feature_labels has 2 labels but attribution_map has 3 features"),
    (lambda f: f.summarize_by_label(np.ones((2, 3)), {"b": [0, 5]}, ["x", "y", "x"]),
     ValueError, "outside the map's 2 rows"),
    (lambda f: f.hypothesis_auc(np.ones((2, 3)), {"b": [0]}, ["x"] * 3, {"b": "x"},
                                row_norm="l3"),
     ValueError, r"row_norm must be one of \('l2', 'l1', 'max'\) or None; got 'l3'"),
    (lambda f: f.hypothesis_auc_ci(np.ones((2, 3)), {"b": [0]}, ["x"] * 3, {"b": "x"}),
     ValueError, r"per_sample_maps must have shape \(T, n_latents, n_features\)"),
    (lambda f: f.attribution_auc_ci(np.eye(2, dtype=bool), np.ones((4, 2, 2)), row_norm="sd"),
     ValueError, "row_norm must be one of"),
])
def test_hypothesis_errors_name_the_argument(call, error, message):
    from skattr import metrics

    with pytest.raises(error, match=message):
        call(metrics)

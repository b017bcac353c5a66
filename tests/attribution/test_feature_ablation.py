import numpy as np
import pytest
import torch
from captum.attr import FeatureAblation as CaptumFeatureAblation

from skattr.attribution import METHODS, FeatureAblation, attribute

from .test_attribution import small_encoder

N_FEATURES, N_LATENTS = 6, 3
GROUPS = np.array([0, 1, 1, 2, 0, 3])  # features 0 and 4, and 1 and 2, ablated together


def _inputs(model, n_samples=11, seed=1):
    field = model.receptive_field
    shape = (n_samples, N_FEATURES) if field == 1 else (n_samples, N_FEATURES, field)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _captum_maps(model, inputs, baselines, feature_mask, lag_reduction="mean"):
    """Captum's FeatureAblation, called once per latent, as ``(T, K, N)``.

    Our one-sample baselines and masks are given to captum with a leading batch axis of 1, and
    a windowed model's ``(N,)`` baseline / mask is repeated over the lags, as ours are.
    """
    sample_shape = tuple(inputs.shape[1:])

    def per_sample(values, dtype):
        values = torch.as_tensor(values, dtype=dtype)
        if values.dim() == 1 and len(sample_shape) == 2:
            values = values[:, None].expand(sample_shape)
        return values[None]

    if not isinstance(baselines, float):
        baselines = per_sample(baselines, torch.float64)
    if feature_mask is None and len(sample_shape) == 2:
        feature_mask = np.arange(N_FEATURES)
    if feature_mask is not None:
        feature_mask = per_sample(feature_mask, torch.int64)
    explainer = CaptumFeatureAblation(model)
    maps = torch.stack([
        explainer.attribute(inputs, baselines=baselines, target=k, feature_mask=feature_mask)
        for k in range(N_LATENTS)
    ], dim=1)
    if maps.dim() == 4:
        maps = maps.mean(-1) if lag_reduction == "mean" else maps.abs().mean(-1)
    return maps.numpy()


def _baselines(kind, model):
    if kind == "scalar":
        return 0.3
    rng = np.random.default_rng(2)
    if kind == "per-feature":
        return rng.standard_normal(N_FEATURES)
    return torch.as_tensor(rng.standard_normal((N_FEATURES, model.receptive_field)))


CASES = [
    # (encoder, baselines, feature_mask)
    ("mlp", "scalar", None),
    ("mlp", "per-feature", None),
    ("mlp", "scalar", "groups"),
    ("mlp", "per-feature", "groups"),
    ("conv", "scalar", None),
    ("conv", "per-feature", "groups"),
    ("conv", "per-sample", None),
    ("conv", "per-sample", "groups-over-lags"),
]


@pytest.mark.parametrize(("name", "baseline_kind", "mask_kind"), CASES)
def test_feature_ablation_equals_captum_per_latent(name, baseline_kind, mask_kind):
    model = small_encoder(name)
    inputs = _inputs(model)
    baselines = _baselines(baseline_kind, model)
    feature_mask = {
        None: None,
        "groups": GROUPS,
        # an (N, L) mask: lag l of feature i in group (i + l) % 4.
        "groups-over-lags": (np.arange(N_FEATURES)[:, None] + np.arange(10)) % 4,
    }[mask_kind]
    params = {"baselines": baselines, "feature_mask": feature_mask}
    for lag_reduction in ("mean", "mean_abs") if mask_kind == "groups-over-lags" else ("mean",):
        expected = _captum_maps(model, inputs, baselines, feature_mask, lag_reduction)
        # batch_size=4 does not divide the 11 samples: the last batch is a partial one.
        ours = attribute(model, inputs, "feature-ablation", return_per_sample=True,
                         batch_size=4, lag_reduction=lag_reduction, **params)
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-13)
        reduced = attribute(model, inputs, "feature-ablation", batch_size=4,
                            lag_reduction=lag_reduction, **params)
        np.testing.assert_allclose(reduced, np.abs(expected).mean(0), rtol=1e-12, atol=1e-13)


def test_group_members_share_the_group_attribution():
    model = small_encoder("mlp")
    maps = attribute(model, _inputs(model), "feature-ablation", feature_mask=GROUPS,
                     return_per_sample=True)
    np.testing.assert_array_equal(maps[..., 0], maps[..., 4])
    np.testing.assert_array_equal(maps[..., 1], maps[..., 2])


def test_any_integer_labels_name_the_groups():
    model = small_encoder("mlp")
    inputs = _inputs(model)
    relabelled = np.array([7, -2, -2, 40, 7, 5])
    np.testing.assert_allclose(
        attribute(model, inputs, "feature-ablation", feature_mask=relabelled),
        attribute(model, inputs, "feature-ablation", feature_mask=GROUPS), rtol=1e-13)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_perturbations_per_eval_does_not_change_the_result(name):
    model = small_encoder(name)
    inputs = _inputs(model)
    full = attribute(model, inputs, "feature-ablation", return_per_sample=True)
    for per_eval in (1, 4, 100):
        np.testing.assert_allclose(
            attribute(model, inputs, "feature-ablation", return_per_sample=True,
                      perturbations_per_eval=per_eval), full, rtol=1e-13, atol=1e-15)


def test_all_latents_come_from_one_forward_per_group_chunk():
    model = small_encoder("mlp")
    calls = []
    handle = model.register_forward_hook(lambda module, args, output: calls.append(len(args[0])))
    try:
        FeatureAblation(perturbations_per_eval=4).attribute_batch(
            model, _inputs(model, n_samples=5), "mean")
    finally:
        handle.remove()
    # one forward of the clean batch, then 6 groups in chunks of 4 and 2, all 3 latents each.
    assert calls == [5, 4 * 5, 2 * 5]


def test_registered_and_float32_model_works():
    assert METHODS["feature-ablation"] is FeatureAblation
    model = small_encoder("mlp").float()
    maps = attribute(model, torch.randn(8, N_FEATURES), "feature-ablation")
    assert maps.shape == (N_LATENTS, N_FEATURES) and maps.dtype == np.float64


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"baselines": "zero"}, "baselines must be a scalar or"),
        ({"baselines": float("nan")}, "baselines must be finite"),
        ({"baselines": [0.0, np.inf, 0, 0, 0, 0]}, "baselines contains NaN or infinite"),
        ({"baselines": np.zeros((2, 3, 4))}, r"baselines must be a scalar or a real array"),
        ({"feature_mask": np.zeros(6)}, "feature_mask must be an array of integer group labels"),
        ({"feature_mask": np.zeros((1, 2, 3), int)}, r"feature_mask must have shape \(N,\)"),
        ({"perturbations_per_eval": 0}, "perturbations_per_eval must be a positive integer"),
        ({"perturbations_per_eval": 1.5}, "perturbations_per_eval must be a positive integer"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        FeatureAblation(**params)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("mlp", {"baselines": np.zeros(5)}, r"baselines must be a scalar or an array of shape "
                                            r"\(N,\) = \(6,\); got shape \(5,\)"),
        ("mlp", {"baselines": np.zeros((6, 10))}, r"baselines must .* \(N,\) = \(6,\)"),
        ("conv", {"baselines": np.zeros((6, 3))}, r"\(N,\) or \(N, L\) = \(6, 10\)"),
        ("mlp", {"feature_mask": np.zeros(5, int)}, r"feature_mask must have shape \(N,\)"),
        ("conv", {"feature_mask": np.zeros((6, 3), int)}, r"feature_mask must have shape"),
    ],
)
def test_shapes_that_do_not_fit_the_inputs_are_named(name, params, message):
    model = small_encoder(name)
    with pytest.raises(ValueError, match=message):
        attribute(model, _inputs(model, n_samples=3), "feature-ablation", **params)

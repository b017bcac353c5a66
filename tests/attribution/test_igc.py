import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients

from skattr.attribution import METHODS, IntegratedGradientCorrelation, attribute

from .test_attribution import small_encoder

N_FEATURES, N_LATENTS = 6, 3


def _inputs(model, n_samples=11, seed=1):
    field = model.receptive_field
    shape = (n_samples, N_FEATURES) if field == 1 else (n_samples, N_FEATURES, field)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _labels(n_samples=11, seed=3):
    return np.random.default_rng(seed).standard_normal((n_samples, N_LATENTS))


def _outputs(model, inputs):
    with torch.no_grad():
        return model(inputs).numpy()


def _captum_igc_terms(model, inputs, labels, baselines=0.0, **kwargs):
    """Per-sample IGC terms ``(T, K, N[, L])`` from captum's IntegratedGradients per latent,
    weighted by ``(y_tk - mean y_k) / (T std f_k std y_k)``."""
    if not isinstance(baselines, float):
        baselines = torch.as_tensor(baselines)[None]
    explainer = CaptumIntegratedGradients(model)
    ig = torch.stack([
        explainer.attribute(inputs, baselines=baselines, target=k, **kwargs).detach()
        for k in range(N_LATENTS)
    ], dim=1).numpy()
    outputs = _outputs(model, inputs)
    share = (labels - labels.mean(0)) / (len(labels) * outputs.std(0) * labels.std(0))
    return ig * share.reshape(*share.shape, *[1] * (ig.ndim - 2))


def _correlations(a, b):
    return np.array([np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(a.shape[1])])


@pytest.mark.parametrize("name", ["mlp", "conv"])
@pytest.mark.parametrize("baseline_kind", ["scalar", "tensor"])
def test_igc_equals_weighted_captum_integrated_gradients(name, baseline_kind):
    model = small_encoder(name)
    inputs, labels = _inputs(model), _labels()
    baselines = 0.4 if baseline_kind == "scalar" else np.random.default_rng(2).standard_normal(
        (N_FEATURES,) if name == "mlp" else (N_FEATURES, model.receptive_field))
    terms = _captum_igc_terms(model, inputs, labels, baselines, n_steps=20)
    if terms.ndim == 4:
        terms = terms.sum(-1)  # IGC adds up the lags of a feature
    igc = IntegratedGradientCorrelation(n_steps=20, baselines=baselines)
    # batch_size=4 does not divide the 11 samples: the last batch is a partial one.
    ours = attribute(model, inputs, igc, target=labels, return_per_sample=True, batch_size=4)
    np.testing.assert_allclose(ours, terms, rtol=1e-6, atol=1e-8)
    reduced = attribute(model, inputs, igc, target=labels, batch_size=4)  # the default: "sum"
    np.testing.assert_allclose(reduced, terms.sum(0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(igc.correlation_, _correlations(_outputs(model, inputs), labels),
                               rtol=1e-12)


def test_every_captum_rule_is_supported():
    model = small_encoder("mlp")
    inputs, labels = _inputs(model), _labels()
    for rule in ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"):
        expected = _captum_igc_terms(model, inputs, labels, n_steps=7, method=rule).sum(0)
        igc = IntegratedGradientCorrelation(n_steps=7, rule=rule)
        np.testing.assert_allclose(attribute(model, inputs, igc, target=labels), expected,
                                   rtol=1e-6, atol=1e-8)


def test_the_rule_is_chosen_by_name_through_attribute():
    model = small_encoder("mlp")
    inputs, labels = _inputs(model), _labels()
    expected = _captum_igc_terms(model, inputs, labels, n_steps=32, method="riemann_left")
    ours = attribute(model, inputs, "igc", target=labels, rule="riemann_left", n_steps=32,
                     return_per_sample=True)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-8)
    # ... and it is not the default rule's answer.
    default = attribute(model, inputs, "igc", target=labels, n_steps=32, return_per_sample=True)
    assert np.abs(default - ours).max() > 1e-6


def test_mean_abs_lag_reduction_of_a_windowed_model():
    model = small_encoder("conv")
    inputs, labels = _inputs(model), _labels()
    terms = _captum_igc_terms(model, inputs, labels, n_steps=10)
    ours = attribute(model, inputs, IntegratedGradientCorrelation(n_steps=10), target=labels,
                     lag_reduction="mean_abs", return_per_sample=True)
    np.testing.assert_allclose(ours, np.abs(terms).mean(-1), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_rows_sum_to_the_correlation_with_the_target(name):
    model = small_encoder(name)
    inputs, labels = _inputs(model, n_samples=40), _labels(n_samples=40)
    # labels that correlate with the latents, so the check is not around 0 only.
    outputs = _outputs(model, inputs)
    labels = (outputs - outputs.mean(0)) / outputs.std(0) + 0.5 * labels
    igc = IntegratedGradientCorrelation(baselines=0.1)
    amap = attribute(model, inputs, igc, target=labels, batch_size=16)
    expected = _correlations(_outputs(model, inputs), labels)
    np.testing.assert_allclose(igc.correlation_, expected, rtol=1e-12)
    np.testing.assert_allclose(amap.sum(1), expected, atol=1e-9)  # IG's quadrature error
    assert np.abs(expected).min() > 0.3


def test_rows_sum_exactly_to_the_correlation_on_a_linear_model():
    torch.manual_seed(0)
    model = torch.nn.Linear(N_FEATURES, N_LATENTS).double()
    X = torch.randn(30, N_FEATURES, dtype=torch.float64)
    labels = _labels(n_samples=30)
    expected = _correlations(_outputs(model, X), labels)
    for rule in ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle"):
        igc = IntegratedGradientCorrelation(n_steps=2, rule=rule, baselines=-1.0)
        amap = attribute(model, X, igc, target=labels, batch_size=7)
        np.testing.assert_allclose(amap.sum(1), expected, rtol=1e-12, atol=1e-14)
    # captum's trapezoid rule halves the end weights of 1/n steps: they sum to 1 - 1/n.
    igc = IntegratedGradientCorrelation(n_steps=4, rule="riemann_trapezoid", baselines=-1.0)
    np.testing.assert_allclose(attribute(model, X, igc, target=labels).sum(1), 0.75 * expected,
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_label_free_rows_sum_to_one(name):
    model = small_encoder(name)
    inputs = _inputs(model, n_samples=20)
    igc = IntegratedGradientCorrelation()
    amap = attribute(model, inputs, "igc", batch_size=6)
    np.testing.assert_allclose(amap.sum(1), np.ones(N_LATENTS), atol=1e-9)
    np.testing.assert_allclose(
        attribute(model, inputs, igc, target=_outputs(model, inputs), batch_size=6), amap,
        rtol=1e-12)
    np.testing.assert_allclose(igc.correlation_, np.ones(N_LATENTS), rtol=1e-12)


def test_one_latent_and_a_1d_target():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    X = torch.randn(25, 4)
    y = X[:, 0].numpy() + 0.1
    amap = attribute(model, X, "igc", target=y)
    assert amap.shape == (1, 4)
    with torch.no_grad():
        expected = np.corrcoef(model(X)[:, 0].numpy(), y)[0, 1]
    np.testing.assert_allclose(amap.sum(), expected, atol=1e-5)  # float32 model


def test_igc_is_registered():
    assert METHODS["igc"] is IntegratedGradientCorrelation


def test_mismatched_target_columns_raise():
    model = small_encoder("mlp")
    message = r"target must have one column per latent for IGC \(n_targets = n_latents = 3\); " \
              r"got 2 column\(s\)"
    with pytest.raises(ValueError, match=message):
        attribute(model, _inputs(model), "igc", target=_labels()[:, :2])


def test_constant_target_columns_raise():
    model = small_encoder("mlp")
    labels = _labels()
    labels[:, 1] = 0.1  # 0.1 is not exact in binary: the std is rounding error, not 0
    with pytest.raises(ValueError, match=r"every target column to vary .* \[1\] are constant"):
        attribute(model, _inputs(model), "igc", target=labels)


def test_constant_latents_raise():
    model = small_encoder("mlp")
    with torch.no_grad():
        model[-1].weight[2] = 0.0  # latent 2 is its bias, whatever the input
    for target in (None, _labels()):
        with pytest.raises(ValueError, match=r"every latent to vary .* \[2\] are constant"):
            attribute(model, _inputs(model), "igc", target=target)


def test_attribute_batch_without_prepare_raises():
    model = small_encoder("mlp")
    with pytest.raises(RuntimeError, match="call prepare"):
        IntegratedGradientCorrelation().attribute_batch(model, _inputs(model), "mean")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rule": "simpson"}, "rule must be one of"),
        ({"n_steps": 0}, r"n_steps must be an integer >= 1 for rule='gausslegendre'"),
        ({"n_steps": 1, "rule": "riemann_left"}, r"n_steps must be an integer >= 2"),
        ({"baselines": "zero"}, "baselines must be a scalar or"),
        ({"baselines": float("inf")}, "baselines must be finite"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        IntegratedGradientCorrelation(**params)

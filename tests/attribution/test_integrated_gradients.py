import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients

from skattr.attribution import METHODS, IntegratedGradients, attribute
from skattr.attribution._paths import RULES

from .test_attribution import small_encoder


def _inputs(model, n_samples=11, seed=1):
    shape = (n_samples, 6) if model.receptive_field == 1 else (n_samples, 6, model.receptive_field)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _captum_maps(model, inputs, baseline, n_steps, rule):
    """Captum's IntegratedGradients, called once per latent, as ``(T, K, N[, L])``."""
    if torch.is_tensor(baseline):
        # captum takes a baseline of the inputs' shape (or with a leading 1).
        if baseline.dim() == 1 and inputs.dim() == 3:
            baseline = baseline[:, None]
        baseline = baseline.expand(inputs.shape[1:])[None]
    explainer = CaptumIntegratedGradients(model)
    return torch.stack([
        explainer.attribute(inputs, baselines=baseline, target=k, n_steps=n_steps,
                            method=rule).detach()
        for k in range(3)
    ], dim=1)


@pytest.mark.parametrize("name", ["mlp", "conv"])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("baseline_kind", ["scalar", "tensor"])
def test_integrated_gradients_equal_captum_per_latent(name, rule, baseline_kind):
    model = small_encoder(name)
    inputs = _inputs(model)
    generator = torch.Generator().manual_seed(2)
    baseline = (0.3 if baseline_kind == "scalar"
                else 0.5 * torch.randn(6, dtype=torch.float64, generator=generator))
    expected = _captum_maps(model, inputs, baseline, 12, rule)
    expected = (expected.mean(-1) if expected.dim() == 4 else expected).numpy()
    ig = IntegratedGradients(n_steps=12, rule=rule, baselines=baseline)
    # batch_size=4 does not divide the 11 samples: the last batch is a partial one.
    ours = attribute(model, inputs, ig, return_per_sample=True, batch_size=4)
    # captum rounds its step weights (and Riemann points) to float32, we do not: ~1e-10 apart.
    np.testing.assert_allclose(ours, expected, rtol=1e-7, atol=1e-8)
    reduced = attribute(model, inputs, ig, batch_size=4)
    np.testing.assert_allclose(reduced, np.abs(expected).mean(0), rtol=1e-7, atol=1e-8)


def test_integrated_gradients_of_conv_windows_reduce_lags_after_the_product():
    model = small_encoder("conv")
    inputs = _inputs(model, n_samples=5)
    baseline = torch.linspace(-1, 1, 6 * 10, dtype=torch.float64).reshape(6, 10)
    expected = _captum_maps(model, inputs, baseline, 8, "gausslegendre")
    ours = attribute(model, inputs, "integrated-gradients", return_per_sample=True,
                     lag_reduction="mean_abs", n_steps=8, baselines=baseline.numpy())
    np.testing.assert_allclose(ours, expected.abs().mean(-1).numpy(), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("internal_batch_size", [1, 5, 11, 30, 1000])
def test_internal_batch_size_only_bounds_memory(internal_batch_size):
    model = small_encoder("mlp")
    inputs = _inputs(model)
    full = attribute(model, inputs, "integrated-gradients", return_per_sample=True, n_steps=7)
    chunked = attribute(model, inputs, "integrated-gradients", return_per_sample=True, n_steps=7,
                        internal_batch_size=internal_batch_size)
    np.testing.assert_allclose(chunked, full, rtol=1e-12, atol=1e-14)


def test_path_points_are_bounded_by_internal_batch_size():
    sizes = []

    class Recorder(torch.nn.Linear):
        def forward(self, x):
            sizes.append(x.shape[0])
            return super().forward(x)

    model = Recorder(6, 3).double()
    attribute(model, torch.randn(10, 6, dtype=torch.float64), "integrated-gradients",
              n_steps=9, internal_batch_size=16, batch_size=10)
    # f(b) once, then per batch: the 90 path points in chunks of at most 16, and f(x).
    assert max(sizes) <= 16 and sum(sizes) == 1 + 90 + 10


def test_completeness_delta_is_small_with_gauss_legendre():
    model = small_encoder("mlp")
    ig = IntegratedGradients(n_steps=32, baselines=np.linspace(-1, 1, 6))
    attribute(model, _inputs(model, n_samples=30), ig, batch_size=8)
    assert ig.max_delta_ < 1e-10 and 0 <= ig.mean_delta_ <= ig.max_delta_
    coarse = IntegratedGradients(n_steps=4, rule="riemann_left")
    attribute(model, _inputs(model, n_samples=30), coarse, batch_size=8)
    assert coarse.max_delta_ > 1e-4  # a coarse left sum really is off, and it says so


def test_completeness_delta_is_reset_for_each_run():
    model = small_encoder("mlp")
    ig = IntegratedGradients(n_steps=2, rule="riemann_right")
    attribute(model, 3 * _inputs(model), ig)
    coarse_delta = ig.max_delta_
    attribute(model, torch.zeros(4, 6, dtype=torch.float64), ig)  # x = b: nothing to attribute
    # f(x) - f(b) is evaluated in batches of other shapes, so rounding (1e-17) may remain; the
    # earlier run's 0.03 must not.
    assert coarse_delta > 1e-3 and ig.max_delta_ < 1e-12 and ig.mean_delta_ < 1e-12


@pytest.mark.parametrize("rule", RULES)
def test_integrated_gradients_of_a_linear_model_are_exact(rule):
    model = torch.nn.Linear(5, 2).double()
    X = np.random.default_rng(0).standard_normal((20, 5))
    baseline = np.random.default_rng(1).standard_normal(5)
    ig = IntegratedGradients(n_steps=5, rule=rule, baselines=baseline)
    maps = attribute(model, X, ig, return_per_sample=True)
    W = model.weight.detach().numpy()
    # captum's trapezoid weights are 1/n halved at both ends for n points on [0, 1]: they sum
    # to 1 - 1/n, and so does its (and our) integral of a constant gradient.
    scale = 1 - 1 / 5 if rule == "riemann_trapezoid" else 1.0
    np.testing.assert_allclose(maps, scale * W[None] * (X - baseline)[:, None, :], rtol=1e-13,
                               atol=1e-14)
    np.testing.assert_allclose(maps.sum(-1), scale * (X - baseline) @ W.T, rtol=1e-12,
                               atol=1e-14)
    if rule != "riemann_trapezoid":
        assert ig.max_delta_ < 1e-13


def test_the_rule_is_chosen_by_name_through_attribute():
    model = small_encoder("mlp")
    inputs = _inputs(model, n_samples=5)
    ours = attribute(model, inputs, "integrated-gradients", rule="riemann_left", n_steps=32,
                     return_per_sample=True)
    expected = _captum_maps(model, inputs, 0.0, 32, "riemann_left").numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-7, atol=1e-8)
    # ... and it is not the default rule's answer.
    default = attribute(model, inputs, "integrated-gradients", n_steps=32, return_per_sample=True)
    assert np.abs(default - ours).max() > 1e-4


def test_integrated_gradients_are_registered():
    assert METHODS["integrated-gradients"] is IntegratedGradients


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_steps": 0}, r"n_steps must be an integer >= 1 for rule='gausslegendre'; got 0\."),
        ({"n_steps": 2.5}, "n_steps must be an integer >= 1"),
        ({"n_steps": 1, "rule": "riemann_left"}, "n_steps must be an integer >= 2"),
        ({"rule": "simpson"}, "rule must be one of"),
        ({"internal_batch_size": 0}, "internal_batch_size must be a positive integer or None"),
        ({"baselines": "zeros"}, "baselines must be a scalar or an array"),
        ({"baselines": None}, "baselines must be a scalar or an array"),
        ({"baselines": True}, "baselines must be real numbers; got dtype torch.bool"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        IntegratedGradients(**params)


@pytest.mark.parametrize(
    ("baselines", "message"),
    [
        (np.zeros(4), r"baselines must be a scalar or an array of shape \(N,\) = \(6,\)"),
        (np.zeros((2, 6)), "baselines must be a scalar or an array of shape"),
        (np.full(6, np.nan), "baselines contains NaN"),
    ],
)
def test_baselines_that_do_not_fit_a_sample_are_named(baselines, message):
    with pytest.raises(ValueError, match=message):
        attribute(small_encoder("mlp"), torch.randn(4, 6, dtype=torch.float64),
                  "integrated-gradients", baselines=baselines)

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from captum.attr import GradientShap as CaptumGradientShap

from skattr.attribution import METHODS, GradientShap, attribute
from skattr.attribution.gradient_shap import _expected_gradients

from .test_attribution import small_encoder


def _inputs(model, n_samples=7, seed=1):
    shape = (n_samples, 6) if model.receptive_field == 1 else (n_samples, 6, model.receptive_field)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@contextmanager
def _global_seed(seed):
    """Seed numpy's and torch's global generators (captum draws from them), then restore them."""
    numpy_state = np.random.get_state()  # noqa: NPY002 (captum uses the global state)
    with torch.random.fork_rng(devices=[]):
        np.random.seed(seed)  # noqa: NPY002
        torch.manual_seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002


def _captum_with_its_draws(model, inputs, baselines, n_samples, stdevs, seed=0):
    """Captum's GradientShap for each latent (reseeded, so all latents see the same draws), and
    those draws, replayed from the same seeds in the order captum makes them."""
    maps = []
    for k in range(3):
        with _global_seed(seed):
            maps.append(CaptumGradientShap(model).attribute(
                inputs, baselines=baselines, n_samples=n_samples, stdevs=stdevs, target=k
            ).detach())
    size, points = inputs.shape[0], inputs.shape[0] * n_samples
    with _global_seed(seed):
        # NoiseTunnel draws the baseline indices, then the noise; then InputBaselineXGradient
        # draws the alphas.
        chosen = baselines[np.random.choice(len(baselines), points).tolist()]  # noqa: NPY002
        noise = torch.normal(0, torch.tensor(stdevs).repeat((points, *inputs.shape[1:])))
        noisy = inputs.repeat_interleave(n_samples, dim=0) + noise
        uniform = np.random.uniform(0.0, 1.0, points)  # noqa: NPY002
        alphas = torch.tensor(uniform, dtype=inputs.dtype)

    def ours(flat):  # captum orders points sample-major, (B * S); ours are (S, B)
        return flat.reshape(size, n_samples, *flat.shape[1:]).transpose(0, 1)

    return torch.stack(maps, dim=1), (ours(noisy), ours(chosen), ours(alphas))


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_estimator_equals_captum_on_captums_own_draws(name):
    model = small_encoder(name)
    inputs = _inputs(model)
    baselines = _inputs(model, n_samples=4, seed=3)
    expected, draws = _captum_with_its_draws(model, inputs, baselines, n_samples=6, stdevs=0.2)
    ours = _expected_gradients(model, *draws)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_attribute_is_the_estimator_on_our_draws_recomputed_with_plain_autograd(name):
    model = small_encoder(name)
    inputs = _inputs(model)
    baselines = _inputs(model, n_samples=4, seed=3)
    shap = GradientShap(baselines=baselines.numpy(), n_samples=6, stdevs=0.2, random_state=5)
    shap.prepare(model, inputs, None)
    noisy, chosen, alphas = shap._draws(inputs)  # the draws of the first (here: only) batch
    # Recompute the formula one draw and one latent at a time with torch.autograd.grad.
    expected = torch.zeros(inputs.shape[0], 3, *inputs.shape[1:], dtype=torch.float64)
    for s in range(6):
        scale = alphas[s].view(-1, *[1] * (inputs.dim() - 1))
        point = (chosen[s] + scale * (noisy[s] - chosen[s])).requires_grad_(True)
        output = model(point)
        for k in range(3):
            (grad,) = torch.autograd.grad(output[:, k].sum(), point, retain_graph=True)
            expected[:, k] += grad * (noisy[s] - chosen[s]) / 6
    expected = expected.mean(-1) if expected.dim() == 4 else expected
    fresh = GradientShap(baselines=baselines.numpy(), n_samples=6, stdevs=0.2, random_state=5)
    ours = attribute(model, inputs, fresh, return_per_sample=True, batch_size=len(inputs))
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(attribute(model, inputs, fresh, batch_size=len(inputs)),
                               np.abs(expected.numpy()).mean(0), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_many_draws_agree_with_captum_on_the_mean(name):
    model = small_encoder(name)
    inputs = _inputs(model, n_samples=3)
    baselines = _inputs(model, n_samples=5, seed=3)
    n_samples = 2000
    with _global_seed(0):
        explainer = CaptumGradientShap(model)
        expected = torch.stack([
            explainer.attribute(inputs, baselines=baselines, n_samples=n_samples, stdevs=0.1,
                                target=k).detach()
            for k in range(3)
        ], dim=1)
    expected = (expected.mean(-1) if expected.dim() == 4 else expected).numpy()
    shap = GradientShap(baselines=baselines, n_samples=n_samples, stdevs=0.1, random_state=0)
    # batch_size=2 does not divide the 3 samples: the last batch is a partial one.
    ours = attribute(model, inputs, shap, return_per_sample=True, batch_size=2)
    # Both are means of 2000 independent draws of the same variable: a few standard errors.
    assert np.abs(ours - expected).max() < 0.05 * np.abs(expected).max()
    assert np.abs(ours - expected).mean() < 0.01 * np.abs(expected).max()


def test_linear_model_with_one_baseline_is_weight_times_difference():
    model = torch.nn.Linear(5, 2).double()
    X = np.random.default_rng(0).standard_normal((20, 5))
    baseline = np.random.default_rng(1).standard_normal((1, 5))
    W = model.weight.detach().numpy()
    maps = attribute(model, X, "gradient-shap", baselines=baseline, return_per_sample=True,
                     batch_size=6, random_state=0)
    np.testing.assert_allclose(maps, W[None] * (X - baseline)[:, None, :], rtol=1e-12,
                               atol=1e-14)
    zeros = attribute(model, X, "gradient-shap", return_per_sample=True, n_samples=3)
    np.testing.assert_allclose(zeros, W[None] * X[:, None, :], rtol=1e-12, atol=1e-14)


def test_shuffle_draws_its_baselines_from_the_data():
    model = torch.nn.Linear(5, 2).double()
    X = torch.randn(30, 5, dtype=torch.float64)
    W = model.weight.detach()
    maps = attribute(model, X, "gradient-shap", baselines="shuffle", n_samples=1,
                     return_per_sample=True, random_state=1, batch_size=8)
    # One draw per sample: maps = W ⊙ (x - b), so b = x - maps / W must be a row of X.
    recovered = X - torch.as_tensor(maps)[:, 0] / W[0]
    distances = (recovered[:, None] - X[None]).abs().amax(-1)  # exact, unlike torch.cdist
    assert distances.min(1).values.max() < 1e-10
    assert len(set(distances.argmin(1).tolist())) > 10  # really shuffled, not one sample
    shap = GradientShap(baselines="shuffle")
    shap.prepare(model, X, None)
    assert shap._baseline_set is X  # a reference to the data, not a copy


def test_an_n_by_features_baseline_set_for_windows_is_the_same_at_every_lag():
    model = small_encoder("conv")
    inputs = _inputs(model, n_samples=4)
    baselines = np.random.default_rng(0).standard_normal((3, 6))
    windows = np.repeat(baselines[:, :, None], model.receptive_field, axis=2)
    by_feature = attribute(model, inputs, "gradient-shap", baselines=baselines, random_state=2)
    by_window = attribute(model, inputs, "gradient-shap", baselines=windows, random_state=2)
    np.testing.assert_array_equal(by_feature, by_window)


def test_draws_are_reproducible_and_leave_the_global_random_states_alone():
    model = small_encoder("mlp")
    X = torch.randn(12, 6, dtype=torch.float64)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    first = attribute(model, X, "gradient-shap", baselines="shuffle", stdevs=0.3,
                      random_state=7, batch_size=5)
    again = attribute(model, X, "gradient-shap", baselines="shuffle", stdevs=0.3,
                      random_state=7, batch_size=5)
    other = attribute(model, X, "gradient-shap", baselines="shuffle", stdevs=0.3,
                      random_state=8, batch_size=5)
    generator = np.random.default_rng(0)
    from_generator = [attribute(model, X, "gradient-shap", baselines="shuffle",
                                random_state=generator) for _ in range(2)]
    unseeded = attribute(model, X, "gradient-shap", baselines="shuffle", stdevs=0.3)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], numpy_state[1]) and after[2:] == numpy_state[2:]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other) and not np.allclose(first, unseeded)
    assert not np.allclose(*from_generator)  # a Generator moves on between calls


def test_gradient_shap_is_registered():
    assert METHODS["gradient-shap"] is GradientShap


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_samples": 0}, r"n_samples must be a positive integer; got 0\."),
        ({"stdevs": -0.1}, r"stdevs must be a non-negative finite number; got -0\.1\."),
        ({"stdevs": float("nan")}, "stdevs must be a non-negative finite number"),
        ({"baselines": "mean"}, r"baselines must be one of \('zeros', 'shuffle'\)"),
        ({"random_state": "seed"}, "random_state must be a non-negative int"),
        ({"random_state": -1}, "random_state must be a non-negative int"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        GradientShap(**params)


@pytest.mark.parametrize(
    ("baselines", "message"),
    [
        (np.zeros((3, 4)), r"baselines must have shape \(n_baselines, 6\) with n_baselines >= 1; "
                           r"got shape \(3, 4\)\."),
        (np.zeros(6), r"baselines must have shape \(n_baselines, 6\)"),
        (np.zeros((0, 6)), r"baselines must have shape \(n_baselines, 6\)"),
        (np.full((2, 6), np.inf), "baselines contains NaN or infinite values"),
    ],
)
def test_baseline_sets_that_do_not_fit_are_named(baselines, message):
    with pytest.raises(ValueError, match=message):
        attribute(small_encoder("mlp"), torch.randn(4, 6, dtype=torch.float64), "gradient-shap",
                  baselines=baselines)

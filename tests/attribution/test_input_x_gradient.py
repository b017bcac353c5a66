import numpy as np
import pytest
import torch
from captum.attr import InputXGradient as CaptumInputXGradient

from skattr.attribution import METHODS, InputXGradient, attribute

from .test_attribution import small_encoder


def _inputs(model, n_samples=11, seed=1):
    shape = (n_samples, 6) if model.receptive_field == 1 else (n_samples, 6, model.receptive_field)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _captum_maps(model, inputs, lag_reduction="mean"):
    """Captum's InputXGradient, called once per latent, as ``(T, K, N[, L])``."""
    explainer = CaptumInputXGradient(model)
    maps = torch.stack([
        explainer.attribute(inputs.clone().requires_grad_(True), target=k).detach()
        for k in range(3)
    ], dim=1)
    if maps.dim() == 4:
        maps = maps.mean(-1) if lag_reduction == "mean" else maps.abs().mean(-1)
    return maps.numpy()


@pytest.mark.parametrize("name", ["mlp", "conv"])
@pytest.mark.parametrize("lag_reduction", ["mean", "mean_abs"])
def test_input_x_gradient_equals_captum_per_latent(name, lag_reduction):
    model = small_encoder(name)
    inputs = _inputs(model)
    expected = _captum_maps(model, inputs, lag_reduction)
    # batch_size=4 does not divide the 11 samples: the last batch is a partial one.
    ours = attribute(model, inputs, "input-x-gradient", return_per_sample=True, batch_size=4,
                     lag_reduction=lag_reduction)
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)
    reduced = attribute(model, inputs, "input-x-gradient", batch_size=4,
                        lag_reduction=lag_reduction)
    np.testing.assert_allclose(reduced, np.abs(expected).mean(0), rtol=1e-10, atol=1e-12)


def test_input_x_gradient_of_a_linear_model_is_input_times_weight():
    model = torch.nn.Linear(5, 2).double()
    X = np.random.default_rng(0).standard_normal((20, 5))
    maps = attribute(model, X, InputXGradient(), return_per_sample=True)
    np.testing.assert_allclose(maps, X[:, None, :] * model.weight.detach().numpy()[None],
                               rtol=1e-12)


def test_input_x_gradient_is_registered():
    assert METHODS["input-x-gradient"] is InputXGradient

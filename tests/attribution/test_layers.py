"""Attribution inside the network: every unit of a layer against captum's per-unit neuron
methods, and internal influence against captum's layer methods, in float64."""

import functools

import numpy as np
import pytest
import torch
from captum.attr import (
    LayerGradientXActivation,
    LayerIntegratedGradients,
    NeuronFeatureAblation,
    NeuronGradient,
    NeuronGradientShap,
    NeuronIntegratedGradients,
)

from skattr.attribution import LayerUnits, attribute, internal_influence
from skattr.attribution._core import _is_elementwise_mlp
from skattr.attribution._layers import capture_layer, layer_model
from skattr.attribution.gradient_shap import _expected_gradients

from .test_attribution import small_encoder
from .test_gradient_shap import _global_seed

# (encoder, layer name): hidden layers of the MLP (a Linear, an activation) and of the conv
# encoder (a convolution, a residual block).
LAYERS = [("mlp", "0"), ("mlp", "3"), ("conv", "net.0"), ("conv", "net.2")]


def _inputs(model, n_samples=5, seed=1):
    shape = (n_samples, 6) if model.receptive_field == 1 else (n_samples, 6, model.receptive_field)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _selectors(model, layer_name, inputs, to_input):
    """captum's neuron_selector for each of our units: the unit itself, or a channel's mean over
    its time positions (a callable selector) for a convolution."""
    layer = dict(model.named_modules())[layer_name]
    with torch.no_grad():
        hidden = capture_layer(model, inputs, layer, to_input)
    if hidden.dim() == 2:
        return layer, list(range(hidden.shape[1]))
    return layer, [lambda out, c=c: out[:, c].mean(-1) for c in range(hidden.shape[1])]


def _per_unit(model, captum_method, layer_name, inputs, to_input, **kwargs):
    """captum's map of each unit, reduced over input lags as ours are: (B, units, N)."""
    layer, selectors = _selectors(model, layer_name, inputs, to_input)
    maps = []
    for selector in selectors:
        result = captum_method(model, layer).attribute(
            inputs.clone().requires_grad_(True), neuron_selector=selector,
            attribute_to_neuron_input=to_input, **kwargs,
        ).detach()
        maps.append(result.mean(-1) if result.dim() == 3 else result)
    return torch.stack(maps, dim=1).numpy()


def _ours(model, inputs, method, layer, to_input, **params):
    return attribute(model, inputs, method, layer=layer, attribute_to_layer_input=to_input,
                     return_per_sample=True, **params)


@pytest.mark.parametrize("to_input", [False, True])
@pytest.mark.parametrize(("name", "layer"), LAYERS)
def test_layer_gradient_equals_captum_neuron_gradient_per_unit(name, layer, to_input):
    model = small_encoder(name)
    inputs = _inputs(model)
    expected = _per_unit(model, NeuronGradient, layer, inputs, to_input)
    np.testing.assert_allclose(_ours(model, inputs, "gradient", layer, to_input), expected,
                               rtol=1e-9, atol=1e-12)
    # Input x gradient is the inputs times that map (lags reduced after the product).
    field = model.receptive_field
    if field == 1:
        np.testing.assert_allclose(
            _ours(model, inputs, "input-x-gradient", layer, to_input),
            expected * inputs.numpy()[:, None], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("name", "layer"), LAYERS)
def test_layer_integrated_gradients_equal_captum_per_unit(name, layer):
    model = small_encoder(name)
    inputs = _inputs(model)
    expected = _per_unit(model, NeuronIntegratedGradients, layer, inputs, False, n_steps=16,
                         method="gausslegendre")
    ours = _ours(model, inputs, "integrated-gradients", layer, False, n_steps=16)
    # captum rounds its quadrature weights to float32: a relative ~1e-8 (see quadrature).
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(("name", "layer"), LAYERS)
def test_layer_feature_ablation_equals_captum_per_unit(name, layer):
    model = small_encoder(name)
    inputs = _inputs(model)
    if model.receptive_field == 1:
        expected = _per_unit(model, NeuronFeatureAblation, layer, inputs, False)
    else:
        # Ours ablates a feature at every lag at once: captum's feature mask of one group per
        # feature, the same value spread over the lags.
        mask = torch.arange(6)[:, None].expand(6, model.receptive_field)[None]
        expected = _per_unit(model, NeuronFeatureAblation, layer, inputs, False,
                             feature_mask=mask)
    ours = _ours(model, inputs, "feature-ablation", layer, False)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("name", "layer"), [("mlp", "1"), ("conv", "net.1")])
def test_layer_gradient_shap_equals_captum_per_unit_on_its_draws(name, layer):
    model = small_encoder(name)
    inputs, baselines = _inputs(model), _inputs(model, n_samples=4, seed=3)
    n_samples, stdevs = 6, 0.2
    module, selectors = _selectors(model, layer, inputs, False)
    expected = []
    for selector in selectors:
        with _global_seed(0):
            result = NeuronGradientShap(model, module).attribute(
                inputs, selector, baselines=baselines, n_samples=n_samples, stdevs=stdevs
            ).detach()
        expected.append(result)
    expected = torch.stack(expected, dim=1)
    # The draws captum made (the same for every unit: reseeded), replayed in its order.
    size, points = inputs.shape[0], inputs.shape[0] * n_samples
    with _global_seed(0):
        chosen = baselines[np.random.choice(len(baselines), points).tolist()]  # noqa: NPY002
        noise = torch.normal(0, torch.tensor(stdevs).repeat((points, *inputs.shape[1:])))
        noisy = inputs.repeat_interleave(n_samples, dim=0) + noise
        alphas = torch.tensor(np.random.uniform(0.0, 1.0, points), dtype=inputs.dtype)  # noqa: NPY002

    def step_major(flat):
        return flat.reshape(size, n_samples, *flat.shape[1:]).transpose(0, 1)

    cut = layer_model(model, layer, False, inputs[:1])
    ours = _expected_gradients(cut, step_major(noisy), step_major(chosen), step_major(alphas))
    torch.testing.assert_close(ours, expected, rtol=1e-9, atol=1e-12)


def test_inverted_gradient_of_a_layer_is_the_pseudo_inverse_of_its_jacobian():
    model = small_encoder("mlp")
    inputs = _inputs(model)
    jac = _ours(model, inputs, "gradient", "2", False)
    ours = _ours(model, inputs, "inverted-gradient", "2", False)
    np.testing.assert_allclose(ours, np.linalg.pinv(jac).transpose(0, 2, 1), rtol=1e-6,
                               atol=1e-10)


def test_the_cut_of_a_sequential_is_its_prefix_and_other_models_use_a_hook():
    mlp, conv = small_encoder("mlp").eval(), small_encoder("conv").eval()
    cut = layer_model(mlp, "2", False, _inputs(mlp)[:1])
    assert isinstance(cut, torch.nn.Sequential) and len(cut) == 3
    # In the model's eval mode, so that the fast MLP Jacobian recognises it.
    assert not cut.training and _is_elementwise_mlp(cut)
    assert isinstance(layer_model(conv, "net.2", False, _inputs(conv)[:1]), LayerUnits)
    # Cut before the layer: the prefix leaves the layer out.
    assert len(layer_model(mlp, "2", True, _inputs(mlp)[:1])) == 2


def _captum_influence(model, factory, layer_name, inputs, **attribute_kwargs):
    layer = dict(model.named_modules())[layer_name]
    maps = []
    for k in range(3):
        result = factory(model, layer).attribute(inputs, target=k, **attribute_kwargs).detach()
        maps.append(result.mean(-1) if result.dim() == 3 else result)
    return torch.stack(maps, dim=1).numpy()


@pytest.mark.parametrize(("name", "layer"), LAYERS)
def test_internal_influence_equals_captum_layer_gradient_x_activation(name, layer):
    model = small_encoder(name)
    inputs = _inputs(model)
    for how, multiply in (("gradient-x-activation", True), ("gradient", False)):
        expected = _captum_influence(
            model, functools.partial(LayerGradientXActivation, multiply_by_inputs=multiply),
            layer, inputs)
        ours = internal_influence(model, inputs, layer, how, return_per_sample=True)
        np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("name", "layer"), LAYERS)
def test_internal_influence_equals_captum_layer_integrated_gradients(name, layer):
    model = small_encoder(name)
    inputs = _inputs(model)
    input_baseline = torch.zeros_like(inputs)
    expected = _captum_influence(model, LayerIntegratedGradients, layer, inputs,
                                 baselines=input_baseline, n_steps=16, method="gausslegendre")
    # captum's path starts at the layer's output for the input baseline: give ours that.
    with torch.no_grad():
        start = capture_layer(model, input_baseline[:1], dict(model.named_modules())[layer])[0]
    ours = internal_influence(model, inputs, layer, "integrated-gradients", baselines=start,
                              n_steps=16, return_per_sample=True)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-12)  # float32 weights


def test_internal_influence_of_a_linear_qoi_is_that_combination():
    model = small_encoder("mlp")
    inputs = _inputs(model)
    per_latent = internal_influence(model, inputs, "3", return_per_sample=True)
    qoi = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 0.0]])
    combined = internal_influence(model, inputs, "3", qoi=qoi, return_per_sample=True)
    np.testing.assert_allclose(combined, np.einsum("qk,tku->tqu", qoi, per_latent), rtol=1e-10)
    selected = internal_influence(model, inputs, "3", qoi=[2, 0])
    np.testing.assert_allclose(selected, internal_influence(model, inputs, "3")[[2, 0]])


def test_integrated_gradients_influence_is_complete():
    # With the path from the layer-space baseline to h, the units' influences sum to
    # f(h) - f(h0) for each latent (up to the quadrature error).
    model = small_encoder("mlp")
    inputs = _inputs(model)
    layer = dict(model.named_modules())["3"]
    influence = internal_influence(model, inputs, "3", "integrated-gradients", n_steps=64,
                                   return_per_sample=True)
    with torch.no_grad():
        outputs = model(inputs).numpy()
        hidden = capture_layer(model, inputs, layer)
        rest = torch.nn.Sequential(*list(model)[4:])
        at_zero = rest(torch.zeros_like(hidden)).numpy()
    np.testing.assert_allclose(influence.sum(-1), outputs - at_zero, rtol=1e-7, atol=1e-9)


def test_streamed_results_do_not_depend_on_the_batch_size():
    model = small_encoder("conv")
    inputs = _inputs(model, n_samples=11)
    whole = internal_influence(model, inputs, "net.2", batch_size=64)
    np.testing.assert_allclose(internal_influence(model, inputs, "net.2", batch_size=3), whole,
                               rtol=1e-12)
    layer_map = attribute(model, inputs, "gradient", layer="net.2")
    np.testing.assert_allclose(
        attribute(model, inputs, "gradient", layer="net.2", batch_size=4), layer_map,
        rtol=1e-12)


class _WithSpare(torch.nn.Module):
    """An encoder beside a submodule that its forward never calls."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder, self.spare = encoder, torch.nn.Linear(2, 2).double()

    def forward(self, inputs):
        return self.encoder(inputs)


def test_the_model_is_left_without_hooks_even_when_a_layer_fails():
    model = _WithSpare(small_encoder("mlp"))
    inputs = _inputs(model.encoder)
    with pytest.raises(ValueError, match="layer must be called exactly once"):
        internal_influence(model, inputs, "spare")
    with pytest.raises(ValueError, match="layer is not called in the model's forward pass"):
        attribute(model, inputs, "gradient", layer="spare")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    # And after a successful call.
    internal_influence(model, inputs, "encoder.1", "integrated-gradients", n_steps=4)
    attribute(model, inputs, "gradient", layer="encoder.1")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize(("call", "message"), [
    (lambda m, x: attribute(m, x, layer="nope"), "layer must name a submodule"),
    (lambda m, x: attribute(m, x, attribute_to_layer_input=True), "needs a layer"),
    (lambda m, x: internal_influence(m, x, "1", how="shap"), "how must be one of"),
    (lambda m, x: internal_influence(m, x, "1", qoi=[7]), "qoi must select latents"),
    (lambda m, x: internal_influence(m, x, "1", qoi="all"), "qoi must be None"),
    (lambda m, x: internal_influence(m, x, "1", "integrated-gradients", baselines=np.zeros(3)),
     r"baselines must be a scalar or one sample of the layer's output, shape \(12,\)"),
    (lambda m, x: internal_influence(m, x, 3), "layer must be a torch.nn.Module or the name"),
])
def test_bad_layer_arguments_are_named(call, message):
    model = small_encoder("mlp")
    with pytest.raises(ValueError, match=message):
        call(model, _inputs(model))

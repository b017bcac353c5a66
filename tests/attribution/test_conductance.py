import numpy as np
import pytest
import torch
from captum.attr import NeuronConductance as CaptumNeuronConductance

from skattr.attribution import METHODS, NeuronConductance, attribute

from .test_attribution import small_encoder

N_FEATURES, N_LATENTS = 6, 3


def _inputs(model, n_samples=11, seed=1):
    field = model.receptive_field
    shape = (n_samples, N_FEATURES) if field == 1 else (n_samples, N_FEATURES, field)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _layer_and_neuron(name, model):
    """A hidden unit: the 5th unit of the MLP's second GELU, or channel 4 at time 3 of the
    conv encoder's second residual block."""
    if name == "mlp":
        return "3", model[3], 5
    return "net.3", model.net[3], (4, 3)


def _captum_maps(model, layer, neuron, inputs, baselines, lag_reduction="mean", **kwargs):
    """Captum's NeuronConductance, called once per latent, as ``(T, K, N)``."""
    if not isinstance(baselines, float):
        baselines = torch.as_tensor(baselines)
        if baselines.dim() == 1 and inputs.dim() == 3:
            baselines = baselines[:, None].expand(inputs.shape[1:])
        baselines = baselines[None]
    explainer = CaptumNeuronConductance(model, layer)
    maps = torch.stack([
        explainer.attribute(inputs, neuron, baselines=baselines, target=k, **kwargs).detach()
        for k in range(N_LATENTS)
    ], dim=1)
    if maps.dim() == 4:
        maps = maps.mean(-1) if lag_reduction == "mean" else maps.abs().mean(-1)
    return maps.numpy()


@pytest.mark.parametrize("name", ["mlp", "conv"])
@pytest.mark.parametrize("baseline_kind", ["scalar", "tensor"])
def test_conductance_equals_captum_per_latent(name, baseline_kind):
    model = small_encoder(name)
    inputs = _inputs(model)
    layer_name, layer, neuron = _layer_and_neuron(name, model)
    rng = np.random.default_rng(2)
    baselines = {
        "scalar": -0.2,
        "tensor": rng.standard_normal(
            (N_FEATURES,) if name == "mlp" else (N_FEATURES, model.receptive_field)
        ),
    }[baseline_kind]
    for lag_reduction in ("mean", "mean_abs") if name == "conv" else ("mean",):
        expected = _captum_maps(model, layer, neuron, inputs, baselines, lag_reduction,
                                n_steps=20)
        # The layer by name once and as a module once; batch_size=4 leaves a partial batch.
        params = {"neuron": neuron, "n_steps": 20, "baselines": baselines}
        ours = attribute(model, inputs, "conductance", layer=layer_name, return_per_sample=True,
                         batch_size=4, lag_reduction=lag_reduction, **params)
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-9)
        reduced = attribute(model, inputs, "conductance", layer=layer, batch_size=4,
                            lag_reduction=lag_reduction, **params)
        np.testing.assert_allclose(reduced, np.abs(expected).mean(0), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "rule", ["riemann_left", "riemann_right", "riemann_middle", "gausslegendre"]
)
def test_every_captum_rule_is_supported(rule):
    model = small_encoder("mlp")
    inputs = _inputs(model, n_samples=5)
    _, layer, neuron = _layer_and_neuron("mlp", model)
    expected = _captum_maps(model, layer, neuron, inputs, 0.0, n_steps=7, method=rule)
    ours = attribute(model, inputs, NeuronConductance(layer, neuron, n_steps=7, rule=rule),
                     return_per_sample=True)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-9)


def test_the_rule_is_chosen_by_name_through_attribute():
    model = small_encoder("mlp")
    inputs = _inputs(model, n_samples=5)
    layer_name, layer, neuron = _layer_and_neuron("mlp", model)
    expected = _captum_maps(model, layer, neuron, inputs, 0.0, n_steps=32, method="riemann_left")
    ours = attribute(model, inputs, "conductance", layer=layer_name, neuron=neuron,
                     rule="riemann_left", n_steps=32, return_per_sample=True)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-9)
    # ... and it is not the default (trapezoid) rule's answer.
    default = attribute(model, inputs, "conductance", layer=layer_name, neuron=neuron,
                        n_steps=32, return_per_sample=True)
    assert np.abs(default - ours).max() > 1e-4


def test_conductance_through_a_bottleneck_unit_sums_to_the_path_change():
    """A unit that is the only route from input to output carries the whole change of the
    output: summed over inputs, conductance -> f(x) - f(x0) as the steps grow."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 1), torch.nn.Tanh(), torch.nn.Linear(1, 2)
    ).double()
    X = torch.randn(6, 4, dtype=torch.float64)
    conductance = NeuronConductance(model[1], 0, n_steps=200, rule="gausslegendre")
    maps = attribute(model, X, conductance, return_per_sample=True)
    with torch.no_grad():
        change = (model(X) - model(torch.zeros(1, 4, dtype=torch.float64))).numpy()
    np.testing.assert_allclose(maps.sum(-1), change, rtol=1e-10, atol=1e-12)


def test_all_latents_come_from_one_forward():
    model = small_encoder("mlp")
    calls = []
    handle = model.register_forward_hook(lambda module, args, output: calls.append(len(args[0])))
    try:
        NeuronConductance(model[3], 5, n_steps=4).attribute_batch(
            model, _inputs(model, n_samples=5), "mean")
    finally:
        handle.remove()
    assert calls == [4 * 5]


def test_model_and_hooks_are_left_as_found():
    model = small_encoder("conv").train()
    model.net[0].weight.requires_grad_(False)
    attribute(model, _inputs(model), "conductance", layer="net.3", neuron=(4, 3), n_steps=5)
    assert model.training and all(m.training for m in model.modules())
    assert not model.net[0].weight.requires_grad and model.net[5].weight.requires_grad
    assert model.net[0].weight.dtype == torch.float64 and model.net[5].weight.grad is None
    assert not model.net[3]._forward_hooks
    # ... also when the run fails after the hook was registered.
    with pytest.raises(ValueError, match="neuron must index"):
        attribute(model, _inputs(model), "conductance", layer="net.3", neuron=(4, 99))
    assert not model.net[3]._forward_hooks


def test_registered_and_float32_model_works():
    assert METHODS["conductance"] is NeuronConductance
    model = small_encoder("mlp").float()
    maps = attribute(model, torch.randn(8, N_FEATURES), "conductance", layer="1", neuron=0,
                     n_steps=5)
    assert maps.shape == (N_LATENTS, N_FEATURES) and maps.dtype == np.float64


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"layer": 3}, "layer must be a torch.nn.Module or the name of one"),
        ({"neuron": 1.0}, "neuron must be an int or a tuple of ints"),
        ({"neuron": (1, "a")}, "neuron must be an int or a tuple of ints"),
        ({"neuron": ()}, "neuron must be an int or a tuple of ints"),
        ({"rule": "simpson"}, "rule must be one of"),
        ({"n_steps": 0, "rule": "gausslegendre"}, r"n_steps must be an integer >= 1"),
        ({"n_steps": 1}, r"n_steps must be an integer >= 2 for rule='riemann_trapezoid'"),
        ({"n_steps": 2.5}, "n_steps must be an integer"),
        ({"baselines": "zero"}, "baselines must be a scalar or"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        NeuronConductance(**{"layer": "1", "neuron": 0, **params})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"layer": "7.weight"}, "layer must name a submodule of the model"),
        ({"layer": torch.nn.Tanh()}, "layer must be a submodule of the model"),
        ({"neuron": 12}, r"neuron must index the layer output of shape \(12,\)"),
        ({"neuron": (0, 0)}, r"neuron must index the layer output of shape \(12,\)"),
        ({"baselines": np.zeros(4)}, r"baselines must be a scalar or an array of shape"),
    ],
)
def test_layers_and_units_not_in_the_model_are_named(params, message):
    model = small_encoder("mlp")
    with pytest.raises(ValueError, match=message):
        attribute(model, _inputs(model, n_samples=3), "conductance",
                  **{"layer": "1", "neuron": 0, "n_steps": 3, **params})
    assert not model[1]._forward_hooks

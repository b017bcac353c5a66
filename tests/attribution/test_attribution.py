import numpy as np
import pytest
import torch
from captum.attr import NeuronGradient

from skattr._encoders import build_encoder
from skattr.attribution import METHODS, attribute, jacobian


def small_encoder(name, n_features=6, n_latents=3):
    return build_encoder(name, n_features, n_latents, 12, torch.Generator().manual_seed(0)).double()


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_jacobian_equals_captum_neuron_gradient_per_latent(name):
    model = small_encoder(name)
    shape = (9, 6) if name == "mlp" else (9, 6, model.receptive_field)
    inputs = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = jacobian(model, inputs)
    last_layer = model[-1] if name == "mlp" else model.net[-1]
    selector = (lambda k: k) if name == "mlp" else (lambda k: (k, 0))
    for k in range(3):
        captum = NeuronGradient(model, last_layer).attribute(
            inputs.clone().requires_grad_(True), selector(k)
        )
        torch.testing.assert_close(ours[:, k], captum, rtol=1e-10, atol=1e-10)


def test_inverted_gradient_is_per_sample_pinv_transposed():
    model = small_encoder("mlp")
    X = np.random.default_rng(0).standard_normal((40, 6))
    per_sample = attribute(model, X, "inverted-gradient", return_per_sample=True, batch_size=7)
    jac = jacobian(model, torch.tensor(X)).numpy()
    expected = np.stack([np.linalg.pinv(j).T for j in jac])
    np.testing.assert_allclose(per_sample, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        attribute(model, X, batch_size=7), np.abs(expected).mean(0), rtol=1e-8
    )


def test_inverted_gradient_of_conv_encoder_inverts_the_signed_lag_mean():
    model = small_encoder("conv")
    windows = torch.randn(5, 6, model.receptive_field, dtype=torch.float64)
    per_sample = attribute(model, windows, "inverted-gradient", return_per_sample=True)
    lag_mean = jacobian(model, windows).mean(-1).numpy()
    np.testing.assert_allclose(per_sample, np.stack([np.linalg.pinv(j).T for j in lag_mean]),
                               rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("reduction", ["mean_abs", "mean", "sum", "max_abs"])
def test_streaming_reductions_match_the_full_array(reduction):
    model = small_encoder("mlp")
    X = torch.randn(50, 6, dtype=torch.float64)
    full = attribute(model, X, "gradient", return_per_sample=True)
    expected = {"mean_abs": np.abs(full).mean(0), "mean": full.mean(0), "sum": full.sum(0),
                "max_abs": np.abs(full).max(0)}[reduction]
    got = attribute(model, X, "gradient", reduction=reduction, batch_size=8)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


# Parameters each method needs beyond the defaults, kept small for speed.
_METHOD_PARAMS = {
    "integrated-gradients": {"n_steps": 4},
    "igc": {"n_steps": 4, "target": np.random.default_rng(1).standard_normal((15, 3))},
    "conductance": {"n_steps": 4},
    "gradient-shap": {"stdevs": 0.1, "random_state": 0},
}


@pytest.mark.parametrize("name", ["mlp", "conv"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_model_state_is_left_as_found(method, name):
    model = small_encoder(name).train()
    first, last = (model[0], model[-1]) if name == "mlp" else (model.net[0], model.net[-1])
    first.weight.requires_grad_(False)
    params = dict(_METHOD_PARAMS.get(method, {}))
    if method == "conductance":
        params.update(layer="1", neuron=0) if name == "mlp" else params.update(
            layer="net.1", neuron=(0, 0))
    attribute(model, np.random.default_rng(0).standard_normal((15, 6)), method, **params)
    assert model.training and all(m.training for m in model.modules())
    assert not first.weight.requires_grad and last.weight.requires_grad
    assert all(p.dtype == torch.float64 and p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())


def test_2d_input_to_a_windowed_model_gets_windows():
    model = small_encoder("conv")
    assert attribute(model, np.random.default_rng(0).standard_normal((30, 6))).shape == (3, 6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "saliency"}, "method must be one of"),
        ({"reduction": "median"}, "reduction must be one of"),
        ({"lag_reduction": "max"}, "lag_reduction must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"row_norm": "l3"}, r"row_norm must be one of \('l2', 'l1', 'max'\) or None"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attribute(small_encoder("mlp"), torch.randn(4, 6, dtype=torch.float64), **kwargs)


def test_parameters_a_method_does_not_take_are_named():
    message = r"method 'gradient' got unexpected parameter\(s\) \['rcond'\]"
    with pytest.raises(TypeError, match=message):
        attribute(small_encoder("mlp"), torch.randn(4, 6, dtype=torch.float64), "gradient",
                  rcond=1e-3)


class _RankDeficient(torch.nn.Module):
    """Three latents of which the third is 0.7 z0 + 0.3 z1: a rank-2 Jacobian."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(6, 2)

    def forward(self, x):
        z = torch.tanh(self.layer(x))
        return torch.cat([z, 0.7 * z[:, :1] + 0.3 * z[:, 1:]], dim=1)


def test_float32_rounding_noise_is_not_inverted():
    torch.manual_seed(0)
    model = _RankDeficient()
    X = torch.randn(200, 6)
    float32_map = attribute(model, X)
    float64_map = attribute(model.double(), X.double())
    # A cut-off tuned for float64 (1e-10) inverts float32 noise into values ~1e7.
    assert np.abs(float32_map).max() < 10
    np.testing.assert_allclose(float32_map, float64_map, rtol=1e-3, atol=1e-4)


def test_numpy_integer_batch_size_is_accepted():
    X = torch.randn(10, 6, dtype=torch.float64)
    model = small_encoder("mlp")
    np.testing.assert_array_equal(attribute(model, X, batch_size=np.int64(3)),
                                  attribute(model, X, batch_size=3))


class _NoVmapTanh(torch.autograd.Function):
    """tanh whose backward reads a value (``.item()``), which batched backward cannot do."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        if grad.abs().max().item() == 0.0:  # data-dependent control flow
            return torch.zeros_like(grad)
        return grad * (1 - y**2)


def test_jacobian_of_a_module_without_batching_rules_falls_back_to_one_backward_per_output():
    layer = torch.nn.Linear(4, 3).double()

    class Model(torch.nn.Module):
        def forward(self, x):
            return _NoVmapTanh.apply(layer(x))

    X = torch.randn(5, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError):  # the batched path really fails for this model
        inputs = X.clone().requires_grad_(True)
        torch.autograd.grad(Model()(inputs), inputs, torch.eye(3, dtype=torch.float64)[:, None]
                            .expand(3, 5, 3), is_grads_batched=True)
    expected = torch.func.vmap(torch.func.jacrev(lambda x: torch.tanh(layer(x))))(X)
    torch.testing.assert_close(jacobian(Model(), X), expected)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_lstsq_and_svd_solvers_agree(name):
    model = small_encoder(name)
    shape = (30, 6) if name == "mlp" else (30, 6, model.receptive_field)
    X = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    svd = attribute(model, X, "inverted-gradient", solver="svd", return_per_sample=True)
    lstsq = attribute(model, X, "inverted-gradient", solver="lstsq", return_per_sample=True)
    np.testing.assert_allclose(lstsq, svd, rtol=1e-8, atol=1e-10)


def test_gram_inverse_used_on_cuda_is_the_pseudo_inverse():
    from skattr.attribution.inverted_gradient import _gram_inverse

    jac = torch.randn(20, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(_gram_inverse(jac, 1e-6), torch.linalg.pinv(jac))
    jac[4, 2] = jac[4, 1]  # a collapsed latent: rank 2
    with pytest.raises(ValueError, match="full row rank"):
        _gram_inverse(jac, 1e-6)


def test_lstsq_solver_honours_rcond_on_a_rank_deficient_jacobian():
    weight = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 1e-9]], dtype=torch.float64)
    model = torch.nn.Linear(3, 2, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(weight)
    X = torch.randn(4, 3, dtype=torch.float64)
    for solver in ("svd", "lstsq"):
        amap = attribute(model, X, "inverted-gradient", solver=solver, rcond=1e-6,
                         reduction="mean")
        expected = torch.linalg.pinv(weight, rtol=1e-6).T.numpy()
        np.testing.assert_allclose(amap, expected, rtol=1e-10, atol=1e-12)


def test_unknown_solver_is_named():
    with pytest.raises(ValueError, match="solver must be one of"):
        attribute(torch.nn.Linear(3, 2), torch.randn(4, 3), solver="qr")


@pytest.mark.parametrize("shape", [(40, 3, 7), (40, 7, 3)])
def test_gram_pinv_equals_torch_pinv_with_the_same_cut_off(shape):
    from skattr.attribution.inverted_gradient import _gram_pinv

    generator = torch.Generator().manual_seed(4)
    jac = torch.randn(shape, dtype=torch.float64, generator=generator)
    jac[5] = 0.0  # pinv of zero is zero
    jac[6, 1] = jac[6, 0] * (1 + 1e-9)  # singular up to 1e-9: cut at rcond = 1e-6
    for rcond in (0.0, 1e-6, 1e-3):
        torch.testing.assert_close(
            _gram_pinv(jac, rcond), torch.linalg.pinv(jac, rtol=rcond), rtol=1e-9, atol=1e-11
        )


def test_float32_model_map_is_the_float64_pinv_of_its_jacobian():
    # The Cholesky route squares J's condition number, which costs cond^2 eps(float64); the map
    # must stay within what the float32 Jacobian's own rounding, cond eps(float32), leaves open.
    model = small_encoder("mlp").float()
    X = torch.randn(64, 6, generator=torch.Generator().manual_seed(5))
    per_sample = torch.as_tensor(attribute(model, X, "inverted-gradient", return_per_sample=True))
    jac = jacobian(model, X).double()
    expected = torch.linalg.pinv(jac, rtol=6 * torch.finfo(torch.float32).eps).mT
    error = torch.linalg.matrix_norm(per_sample - expected) / torch.linalg.matrix_norm(expected)
    allowed = torch.linalg.cond(jac) * torch.finfo(torch.float32).eps
    assert (error <= allowed).all(), (error / allowed).max()


class _Wrapped(torch.nn.Module):
    """The same network behind a forward of its own: takes jacobian's generic autograd path."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def test_mlp_jacobian_fast_path_equals_autograd_for_any_elementwise_activation():
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 7), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(7, 6), nn.Softplus(), nn.Identity(), nn.Linear(6, 3), nn.Sigmoid(),
    ).double().eval()
    X = torch.randn(11, 5, dtype=torch.float64)
    fast = jacobian(model, X)
    torch.testing.assert_close(fast, jacobian(_Wrapped(model).eval(), X), rtol=1e-12, atol=1e-14)
    assert fast.untyped_storage().data_ptr() != model[-2].weight.untyped_storage().data_ptr()


def test_mlp_jacobian_fast_path_is_skipped_when_it_would_be_wrong():
    from torch import nn

    from skattr.attribution._core import _is_elementwise_mlp

    class Scaled(nn.Sequential):
        def forward(self, x):
            return 2 * super().forward(x)

    layers = [nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)]
    assert _is_elementwise_mlp(nn.Sequential(*layers).eval())
    assert not _is_elementwise_mlp(Scaled(*layers).eval())  # its own forward
    assert not _is_elementwise_mlp(nn.Sequential(*layers).train())  # dropout may be active
    assert not _is_elementwise_mlp(nn.Sequential(nn.Linear(3, 4), nn.Softmax(-1)).eval())
    assert not _is_elementwise_mlp(nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True)).eval())
    hooked = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().eval()
    hooked[0].register_forward_hook(lambda module, args, out: 2 * out)
    assert not _is_elementwise_mlp(hooked)
    X = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(jacobian(hooked, X), jacobian(_Wrapped(hooked).eval(), X))
    inplace = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)).eval()
    assert jacobian(inplace, torch.randn(5, 3)).shape == (5, 2, 3)
    scaled = Scaled(*layers).double().eval()
    X = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(jacobian(scaled, X), 2 * jacobian(nn.Sequential(*layers), X))


@pytest.mark.parametrize("norm", ["l2", "l1", "max"])
@pytest.mark.parametrize("method", ["inverted-gradient", "gradient"])
def test_row_norm_divides_each_sample_s_rows_before_the_mean(method, norm):
    model = small_encoder("mlp")
    inputs = torch.randn(50, 6, dtype=torch.float64)
    raw = attribute(model, inputs, method, return_per_sample=True)
    scale = {"l2": np.linalg.norm(raw, axis=2), "l1": np.abs(raw).sum(2),
             "max": np.abs(raw).max(2)}[norm][..., None]
    per_sample = attribute(model, inputs, method, return_per_sample=True, row_norm=norm)
    np.testing.assert_allclose(per_sample, raw / scale, rtol=1e-12)
    np.testing.assert_allclose(attribute(model, inputs, method, row_norm=norm, batch_size=7),
                               np.abs(raw / scale).mean(0), rtol=1e-12)


def test_row_norm_leaves_a_row_of_zeros_at_zero():
    model = torch.nn.Linear(3, 2, bias=False).double()
    with torch.no_grad():
        model.weight[1] = 0.0
    values = attribute(model, torch.randn(5, 3, dtype=torch.float64), "gradient", row_norm="l2")
    np.testing.assert_allclose(values[1], 0.0)
    assert np.linalg.norm(values[0]) == pytest.approx(1.0)


def _linear(weight):
    model = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(weight))
    return model


def test_damped_inverse_is_the_closed_form_on_a_linear_model():
    weight = np.random.default_rng(0).standard_normal((3, 7))
    weight[1] = 0.9 * weight[0] + 0.1 * weight[1]  # two nearly parallel latents
    inputs = torch.randn(4, 7, dtype=torch.float64)
    norms = np.linalg.norm(weight, axis=1, keepdims=True)
    unit = weight / norms
    for damping in (0.1, 1.0, 10.0):
        expected = np.linalg.solve(unit @ unit.T + damping * np.eye(3), unit) / norms
        per_sample = attribute(_linear(weight), inputs, "inverted-gradient", damping=damping,
                               return_per_sample=True)
        np.testing.assert_allclose(per_sample, np.broadcast_to(expected, (4, 3, 7)),
                                   rtol=1e-12, atol=1e-14)


def test_damping_tends_to_the_pseudo_inverse_and_to_the_gradient():
    weight = np.random.default_rng(1).standard_normal((3, 7)) * [[1.0], [30.0], [0.01]]
    model, inputs = _linear(weight), torch.randn(2, 7, dtype=torch.float64)
    exact = np.linalg.pinv(weight).T
    nearly_exact = attribute(model, inputs, "inverted-gradient", damping=1e-9)
    np.testing.assert_allclose(nearly_exact, np.abs(exact), rtol=1e-6)
    # Heavily damped, each row is the gradient's row over its squared norm, over the damping.
    heavy = attribute(model, inputs, "inverted-gradient", damping=1e7, return_per_sample=True)[0]
    expected = weight / (np.linalg.norm(weight, axis=1, keepdims=True) ** 2 * 1e7)
    np.testing.assert_allclose(heavy, expected, rtol=1e-6)


def test_damped_rows_on_a_common_scale_ignore_each_latent_s_scale():
    weight = np.random.default_rng(2).standard_normal((3, 7))
    inputs = torch.randn(3, 7, dtype=torch.float64)
    rescaled = weight * [[5.0], [1.0], [1e-3]]
    for norm in ("max", "l2"):
        maps = [attribute(_linear(w), inputs, "inverted-gradient", damping=1.0, row_norm=norm)
                for w in (weight, rescaled)]
        np.testing.assert_allclose(maps[0], maps[1], rtol=1e-10)


def test_damped_inverse_leaves_a_row_of_zeros_at_zero():
    weight = np.random.default_rng(3).standard_normal((3, 5))
    weight[2] = 0.0
    values = attribute(_linear(weight), torch.randn(4, 5, dtype=torch.float64),
                       "inverted-gradient", damping=1.0, row_norm="max")
    assert np.isfinite(values).all()
    np.testing.assert_array_equal(values[2], 0.0)
    np.testing.assert_allclose(values[:2].max(1), 1.0)


@pytest.mark.parametrize("damping", [-0.1, float("nan"), float("inf"), True, "1"])
def test_bad_damping_is_named(damping):
    model = small_encoder("mlp")
    with pytest.raises(ValueError, match="damping must be a finite number >= 0"):
        attribute(model, torch.randn(3, 6, dtype=torch.float64), "inverted-gradient",
                  damping=damping)


def test_damped_inverse_of_a_non_finite_sample_is_nan_and_the_others_are_not():
    from skattr.attribution.inverted_gradient import damped_inverse

    jac = torch.randn(3, 2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    jac[1, 0, 0] = float("nan")
    maps = damped_inverse(jac, 1.0)
    assert torch.isnan(maps[1]).all() and torch.isfinite(maps[[0, 2]]).all()


@pytest.mark.parametrize("damping", [0.0, 1.0])
def test_output_map_inverts_the_jacobian_of_the_mapped_outputs(damping):
    rng = np.random.default_rng(4)
    weight, output_map = rng.standard_normal((3, 7)), rng.standard_normal((3, 3))
    inputs = torch.randn(2, 7, dtype=torch.float64)
    mapped = attribute(_linear(weight), inputs, "inverted-gradient", damping=damping,
                       output_map=output_map, return_per_sample=True)
    expected = attribute(_linear(output_map @ weight), inputs, "inverted-gradient",
                         damping=damping, return_per_sample=True)
    np.testing.assert_allclose(mapped, expected, rtol=1e-10, atol=1e-12)
    if damping == 0.0:
        np.testing.assert_allclose(mapped[0], np.linalg.pinv(output_map @ weight).T,
                                   rtol=1e-8, atol=1e-10)


def test_rows_that_the_output_map_leaves_alone_keep_the_encoder_s_own_inverse():
    # An unmixing: the identity but for the second block's rows on the first block's columns,
    # so columns 2-4 are those of the identity and rows 2-4 of the exact inverse are J's own.
    rng = np.random.default_rng(5)
    weight, output_map = rng.standard_normal((5, 9)), np.eye(5)
    output_map[2:, :2] = rng.standard_normal((3, 2))
    model, inputs = _linear(weight), torch.randn(2, 9, dtype=torch.float64)

    def per_sample(model, **params):
        return attribute(model, inputs, "inverted-gradient", return_per_sample=True, **params)[0]

    exact = per_sample(model, output_map=output_map)
    np.testing.assert_allclose(exact, np.linalg.pinv(output_map @ weight).T, atol=1e-10)
    np.testing.assert_allclose(exact[2:], np.linalg.pinv(weight).T[2:], atol=1e-10)
    damped = per_sample(model, output_map=output_map, damping=1.0)
    np.testing.assert_allclose(damped[:2], per_sample(_linear(output_map @ weight),
                                                      damping=1.0)[:2], rtol=1e-10)
    np.testing.assert_allclose(damped[2:], per_sample(model, damping=1.0)[2:], rtol=1e-10)


def _brute_force_windowed_inverse(jacobians, window, damping, correlated_rows=None):
    """Each sample's ``D^-1 (mean C + damping I)^-1 J_1``, the mean over the ``window``
    samples centred on it (shifted to fit at the ends), by a loop; ``correlated_rows``: the
    Jacobians whose correlation is averaged (default: ``jacobians``)."""
    correlated_rows = jacobians if correlated_rows is None else correlated_rows
    units = correlated_rows / np.linalg.norm(correlated_rows, axis=-1, keepdims=True)
    correlations = units @ units.transpose(0, 2, 1)
    maps = []
    for t, jac in enumerate(jacobians):
        first = min(max(t - (window - 1) // 2, 0), max(len(jacobians) - window, 0))
        mean = correlations[first:first + window].mean(0)
        norms = np.linalg.norm(jac, axis=-1, keepdims=True)
        maps.append(np.linalg.solve(mean + damping * np.eye(len(jac)), jac / norms) / norms)
    return np.array(maps)


@pytest.mark.parametrize(("window", "batch_size"), [(1, 4), (3, 4), (4, 5), (50, 7)])
def test_windowed_inverse_averages_the_correlation_over_neighbouring_samples(window,
                                                                             batch_size):
    # Windows cross the batches' boundaries, and one is longer than the data.
    model = small_encoder("mlp")
    inputs = torch.randn(13, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    maps = attribute(model, inputs, "inverted-gradient", damping=0.5, window=window,
                     batch_size=batch_size, return_per_sample=True)
    expected = _brute_force_windowed_inverse(jacobian(model, inputs).numpy(), window, 0.5)
    np.testing.assert_allclose(maps, expected, rtol=1e-9)
    if window > 1:  # not the per-sample inverse
        assert not np.allclose(maps, attribute(model, inputs, "inverted-gradient", damping=0.5,
                                               return_per_sample=True), rtol=1e-3)


def test_windowed_inverse_of_a_conv_encoder_averages_the_lag_reduced_jacobians():
    model = small_encoder("conv")
    inputs = torch.randn(9, 6, model.receptive_field, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(6))
    maps = attribute(model, inputs, "inverted-gradient", damping=1.0, window=3, batch_size=4,
                     return_per_sample=True)
    expected = _brute_force_windowed_inverse(jacobian(model, inputs).mean(-1).numpy(), 3, 1.0)
    np.testing.assert_allclose(maps, expected, rtol=1e-9)


def test_windowed_inverse_averages_the_mapped_rows_and_keeps_the_own_rows_per_sample():
    model = small_encoder("mlp")
    inputs = torch.randn(11, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    output_map = np.eye(3)
    output_map[2, :2] = [0.7, -0.4]
    maps = attribute(model, inputs, "inverted-gradient", damping=1.0, window=5,
                     output_map=output_map, batch_size=4, return_per_sample=True)
    jacobians = jacobian(model, inputs).numpy()
    mapped = output_map @ jacobians
    np.testing.assert_allclose(maps[:, :2],
                               _brute_force_windowed_inverse(mapped, 5, 1.0)[:, :2], rtol=1e-9)
    np.testing.assert_allclose(maps[:, 2], _brute_force_windowed_inverse(jacobians, 1, 1.0)[:, 2],
                               rtol=1e-9)


def _brute_force_moving_average(maps, window):
    """The mean of ``maps`` over the ``window`` samples centred on each (shifted to fit at the
    ends), by a loop."""
    first = [min(max(t - (window - 1) // 2, 0), max(len(maps) - window, 0))
             for t in range(len(maps))]
    return np.array([maps[f:f + window].mean(0) for f in first])


@pytest.mark.parametrize(("map_window", "batch_size"), [(3, 4), (4, 5), (2, 1), (50, 7)])
def test_map_window_averages_the_signed_maps_of_the_mapped_rows_over_neighbouring_samples(
        map_window, batch_size):
    # Windows cross the batches' boundaries, and one is longer than the data.
    model = small_encoder("mlp")
    inputs = torch.randn(11, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    output_map = np.eye(3)
    output_map[2, :2] = [0.7, -0.4]
    maps = attribute(model, inputs, "inverted-gradient", damping=1.0, window=3,
                     map_window=map_window, output_map=output_map, batch_size=batch_size,
                     return_per_sample=True)
    jacobians = jacobian(model, inputs).numpy()
    windowed = _brute_force_windowed_inverse(output_map @ jacobians, 3, 1.0)
    np.testing.assert_allclose(maps[:, :2],
                               _brute_force_moving_average(windowed, map_window)[:, :2],
                               rtol=1e-9)
    np.testing.assert_allclose(maps[:, 2], _brute_force_windowed_inverse(jacobians, 1, 1.0)[:, 2],
                               rtol=1e-9)


def test_map_window_of_the_exact_inverse_averages_its_maps():
    model = small_encoder("mlp")
    inputs = torch.randn(9, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    maps = attribute(model, inputs, "inverted-gradient", map_window=3, batch_size=4,
                     return_per_sample=True)
    own = attribute(model, inputs, "inverted-gradient", return_per_sample=True)
    np.testing.assert_allclose(maps, _brute_force_moving_average(own, 3), rtol=1e-9)


def _white_fraction(values):
    """Half the mean squared increment over the variance, by numpy."""
    flat = values.reshape(len(values), -1)
    centred = flat - flat.mean(0)
    return (np.diff(flat, axis=0) ** 2).sum(1).mean() / 2 / (centred ** 2).sum(1).mean()


def test_auto_map_window_is_the_white_fraction_rule_on_the_jacobian_s_unit_rows():
    from skattr.attribution import InvertedNeuronGradient

    model = small_encoder("mlp")
    generator = torch.Generator().manual_seed(9)
    slow = torch.cumsum(0.05 * torch.randn(400, 6, dtype=torch.float64, generator=generator), 0)
    output_map = np.eye(3)
    output_map[2, :2] = [0.7, -0.4]
    found = {}
    for noise in (0.0, 0.3, 0.5, 1.0):
        inputs = slow + noise * torch.randn(400, 6, dtype=torch.float64, generator=generator)
        method = InvertedNeuronGradient(damping=1.0, window=9, map_window="auto",
                                        output_map=output_map)
        statistics = method.sample_statistics(model, inputs, "mean", 64)
        units = (output_map @ jacobian(model, inputs).numpy())[:, :2]
        white = _white_fraction(units / np.linalg.norm(units, axis=-1, keepdims=True))
        expected = 9 if white >= 1 else min(max(int(np.floor(white / (1 - white) + 0.5)), 1), 9)
        assert method.map_window_ == expected
        found[noise] = expected
        # The map with "auto" is the map with the window it found.
        np.testing.assert_allclose(
            attribute(model, inputs, method, return_per_sample=True),
            attribute(model, inputs, "inverted-gradient", damping=1.0, window=9,
                      map_window=expected, output_map=output_map, return_per_sample=True),
            rtol=1e-9)
        assert statistics.shape == (400, 3, 3)
    # Smooth inputs keep each sample's map; noise from sample to sample is averaged.
    assert found[0.0] == 1 and found[1.0] == 9 and 1 < found[0.5] < 9


def test_auto_map_window_is_at_most_the_correlation_s_window():
    inputs = torch.randn(400, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    model = small_encoder("mlp")
    for window in (1, 4):
        auto = attribute(model, inputs, "inverted-gradient", damping=1.0, window=window,
                         map_window="auto", return_per_sample=True)
        fixed = attribute(model, inputs, "inverted-gradient", damping=1.0, window=window,
                          map_window=window, return_per_sample=True)
        np.testing.assert_allclose(auto, fixed, rtol=1e-12)  # white inputs: the longest


def test_white_fraction_streams_over_batches_and_leaves_out_non_finite_samples():
    from skattr.attribution.inverted_gradient import WhiteFraction

    generator = torch.Generator().manual_seed(1)
    walk = torch.cumsum(torch.randn(3000, 2, 3, dtype=torch.float64, generator=generator), 0)
    values = walk + torch.randn(3000, 2, 3, dtype=torch.float64, generator=generator)
    fraction = WhiteFraction()
    for batch in torch.split(values, 64):
        fraction.update(batch)
    assert fraction.result() == pytest.approx(_white_fraction(values.numpy()), rel=1e-9)
    # Independent samples are all white, a random walk's increments are small against its
    # spread.
    independent = WhiteFraction()
    independent.update(torch.randn(20_000, 4, dtype=torch.float64, generator=generator))
    assert independent.result() == pytest.approx(1.0, abs=0.03)
    random_walk = WhiteFraction()
    random_walk.update(walk)
    assert random_walk.result() < 0.01
    # A non-finite sample is left out, with its two increments.
    holed = values.clone()
    holed[100, 0, 0] = float("nan")
    partial = WhiteFraction()
    for batch in torch.split(holed, 100):
        partial.update(batch)
    kept = np.delete(values.numpy(), 100, axis=0).reshape(2999, -1)
    increments = np.concatenate([np.diff(kept[:100], axis=0), np.diff(kept[100:], axis=0)])
    centred = kept - kept.mean(0)
    expected = (increments ** 2).sum(1).mean() / 2 / (centred ** 2).sum(1).mean()
    assert partial.result() == pytest.approx(expected, rel=1e-9)
    assert np.isnan(WhiteFraction().result())
    assert WhiteFraction().window(7) == 1  # nothing seen: nothing to average


def test_map_window_keeps_a_non_finite_sample_nan_and_leaves_it_out_of_its_neighbours():
    model = torch.nn.Linear(4, 2, bias=False).double()
    inputs = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    inputs[3, 0] = float("nan")
    # A linear model's Jacobian does not depend on the input: make one sample's non-finite.
    model = torch.nn.Sequential(torch.nn.Linear(4, 4).double(), torch.nn.Tanh(), model)
    maps = attribute(model, inputs, "inverted-gradient", damping=1.0, map_window=3,
                     return_per_sample=True)
    own = attribute(model, inputs, "inverted-gradient", damping=1.0, return_per_sample=True)
    assert np.isnan(maps[3]).all()
    np.testing.assert_allclose(maps[2], own[[1, 2]].mean(0), rtol=1e-12)
    np.testing.assert_allclose(maps[4], own[[4, 5]].mean(0), rtol=1e-12)


def test_moving_average_leaves_out_non_finite_samples():
    from skattr.attribution.inverted_gradient import moving_average

    values = torch.arange(12, dtype=torch.float64).reshape(6, 2)
    values[2, 1] = float("nan")
    averaged = moving_average(values, 3)
    np.testing.assert_allclose(averaged[1], values[[0, 1]].mean(0))  # sample 2 left out
    np.testing.assert_allclose(averaged[4], values[3:6].mean(0))
    np.testing.assert_allclose(averaged[5], values[3:6].mean(0))  # shifted at the end
    assert torch.isnan(moving_average(values, 1)[2]).all()


@pytest.mark.parametrize(("params", "message"), [
    ({"damping": 1.0, "window": 0}, "window must be a positive integer; got 0"),
    ({"damping": 1.0, "window": 2.5}, "window must be a positive integer; got 2.5"),
    ({"damping": 1.0, "window": True}, "window must be a positive integer; got True"),
    ({"window": 3}, "window=3 averages the correlation .* needs damping > 0, got damping=0"),
    ({"map_window": 0}, "map_window must be a positive integer or 'auto'; got 0"),
    ({"map_window": True}, "map_window must be a positive integer or 'auto'; got True"),
    ({"map_window": "all"}, "map_window must be a positive integer or 'auto'; got 'all'"),
])
def test_bad_window_is_named(params, message):
    with pytest.raises(ValueError, match=message):
        attribute(small_encoder("mlp"), torch.randn(4, 6, dtype=torch.float64),
                  "inverted-gradient", **params)


@pytest.mark.parametrize(("output_map", "message"), [
    (np.eye(3)[:2], r"output_map must be a square matrix \(K, K\) or None; got shape \(2, 3\)"),
    (np.eye(4), r"output_map has shape \(4, 4\); the model has 3 outputs"),
])
def test_bad_output_map_is_named(output_map, message):
    with pytest.raises(ValueError, match=message):
        attribute(small_encoder("mlp"), torch.randn(3, 6, dtype=torch.float64),
                  "inverted-gradient", output_map=output_map)

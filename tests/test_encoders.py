import copy

import numpy as np
import pytest
import torch

from skattr._encoders import EncoderEnsemble, build_encoder, receptive_field, time_windows
from skattr._sampling import trial_bounds


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_encoder_maps_inputs_to_latents(name):
    encoder = build_encoder(name, 7, 4, 16, torch.Generator().manual_seed(0))
    assert encoder.receptive_field == receptive_field(name)
    shape = (5, 7) if name == "mlp" else (5, 7, encoder.receptive_field)
    assert encoder(torch.randn(shape)).shape == (5, 4)


def test_conv_output_depends_on_exactly_its_window():
    encoder = build_encoder("conv", 3, 2, 8, torch.Generator().manual_seed(0))
    windows = torch.randn(1, 3, 10, requires_grad=True)
    encoder(windows).sum().backward()
    assert (windows.grad.abs().sum(1) > 0).all()  # every one of the 10 lags matters


def test_same_generator_seed_same_weights():
    a, b = (build_encoder("mlp", 5, 2, 8, torch.Generator().manual_seed(3)) for _ in range(2))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_time_windows_repeat_edges_and_are_views():
    data = torch.arange(12.0).reshape(6, 2)
    windows = time_windows(data, 4)
    assert windows.shape == (6, 2, 4)
    assert windows[0, 0].tolist() == [0.0, 0.0, 0.0, 2.0]  # t = 0 sees t-2 .. t+1
    assert windows[5, 1].tolist() == [7.0, 9.0, 11.0, 11.0]
    assert time_windows(data, 1) is data


def test_unknown_encoder_is_rejected():
    with pytest.raises(ValueError, match="encoder must be one of"):
        build_encoder("transformer", 3, 2, 8, torch.Generator())


@pytest.mark.parametrize("field", [4, 5, 10])
def test_windows_of_trials_never_cross_a_trial_boundary(field):
    # Brute force: window t holds samples t - L//2 .. t + L - 1 - L//2, each clamped into the
    # trial of t.
    trials = np.repeat([3, 1, 3, 2], [9, 2, 6, 13])
    bounds = trial_bounds(trials)
    data = torch.arange(len(trials) * 2, dtype=torch.float64).reshape(-1, 2)
    windows = time_windows(data, field, bounds)
    for t in range(len(trials)):
        trial = np.searchsorted(bounds, t, side="right") - 1
        first, last = bounds[trial], bounds[trial + 1] - 1
        rows = np.clip(np.arange(t - field // 2, t + field - field // 2), first, last)
        torch.testing.assert_close(windows[t], data[rows].T)


@pytest.mark.parametrize(("n_in", "n_out", "width", "length"), [(5, 7, 2, 10), (8, 3, 3, 5),
                                                                 (4, 4, 3, 3)])
def test_window_conv_is_conv1d_with_its_first_and_second_derivatives(n_in, n_out, width, length):
    from skattr._encoders import _WindowConv1d

    layer = _WindowConv1d(n_in, n_out, width).double()
    x = torch.randn(6, n_in, length, dtype=torch.float64, requires_grad=True)
    ours = layer(x)
    reference = torch.nn.functional.conv1d(x, layer.weight, layer.bias)
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    # The regulariser's quantity: the gradient of a squared Jacobian-vector product.
    direction = torch.randn_like(reference)
    grads = [torch.autograd.grad((out * direction).sum(), x, create_graph=True)[0]
             for out in (ours, reference)]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)
    second = [torch.autograd.grad(g.pow(2).sum(), layer.weight, retain_graph=True)[0]
              for g in grads]
    torch.testing.assert_close(second[0], second[1], rtol=1e-10, atol=1e-12)
    assert isinstance(layer, torch.nn.Conv1d)


def test_ensemble_aligns_a_member_that_differs_by_a_block_affine_map():
    first = build_encoder("mlp", 5, 4, 16, torch.Generator().manual_seed(0))
    second = copy.deepcopy(first)
    mixing = torch.zeros(4, 4)
    mixing[:2, :2] = torch.tensor([[2.0, 1.0], [-1.0, 0.5]])
    mixing[2:, 2:] = torch.tensor([[0.3, -2.0], [1.5, 1.0]])
    shift = torch.tensor([1.0, -2.0, 0.5, 3.0])
    with torch.no_grad():  # second(x) = first(x) @ mixing + shift
        second[-1].weight.copy_(mixing.T @ first[-1].weight)
        second[-1].bias.copy_(first[-1].bias @ mixing + shift)
    inputs = torch.randn(200, 5)
    ensemble = EncoderEnsemble([first, second], n_latents=4)
    stacked = ensemble.stacked()
    with torch.no_grad():
        np.testing.assert_allclose(ensemble(inputs), (first(inputs) + second(inputs)) / 2,
                                   rtol=1e-5, atol=1e-6)  # the identity before align
        ensemble.align(inputs, [[0, 1], [2, 3]])
        np.testing.assert_allclose(ensemble(inputs), first(inputs), atol=1e-4)
        np.testing.assert_allclose(stacked(inputs),
                                   torch.cat([first(inputs), second(inputs)], 1),
                                   rtol=1e-6, atol=1e-6)
    assert torch.equal(ensemble.weight[0], torch.eye(4)) and not ensemble.bias[0].any()
    np.testing.assert_allclose(ensemble.weight[1], torch.linalg.inv(mixing), atol=1e-4)
    assert {id(p) for p in stacked.parameters()} == {id(p) for p in ensemble.parameters()}


def test_ensemble_alignment_is_within_blocks_only():
    members = [build_encoder("mlp", 5, 4, 16, torch.Generator().manual_seed(k)) for k in range(3)]
    ensemble = EncoderEnsemble(members, n_latents=4)
    ensemble.align(torch.randn(300, 5), [[0, 1, 2], [3]])
    assert not ensemble.weight[:, :3, 3].any() and not ensemble.weight[:, 3, :3].any()
    # Each block of member k is the least-squares image of member 0's, with an intercept.
    inputs = torch.randn(300, 5)
    ensemble.align(inputs, [[0, 1, 2], [3]])
    with torch.no_grad():
        target, output = members[0](inputs).double().numpy(), members[2](inputs).double().numpy()
    design = np.column_stack([output[:, :3], np.ones(300)])
    coef = np.linalg.lstsq(design, target[:, :3], rcond=None)[0]
    np.testing.assert_allclose(ensemble.weight[2, :3, :3], coef[:3], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ensemble.bias[2, :3], coef[3], rtol=1e-4, atol=1e-5)


# MLP members run as one batched product per layer, conv members one after the other.
@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_stacked_members_give_each_member_s_output_and_gradients(name):
    members = [build_encoder(name, 5, 3, 12, torch.Generator().manual_seed(k)) for k in range(3)]
    stacked = EncoderEnsemble(members, n_latents=3).stacked()
    shape = (40, 5) if name == "mlp" else (40, 5, members[0].receptive_field)
    inputs = torch.randn(shape, requires_grad=True)
    output = stacked(inputs)
    expected = torch.cat([member(inputs) for member in members], 1)
    np.testing.assert_allclose(output.detach(), expected.detach(), rtol=1e-5, atol=1e-6)
    # The regulariser's double backward: the input gradient, differentiated again.
    direction = torch.randn(output.shape)
    for out in (output, expected):
        (grad,) = torch.autograd.grad(out, inputs, direction, create_graph=True)
        grad.pow(2).sum().backward()
    # Every member gets the gradient its own output gives (the last layer's bias none: the
    # input gradient does not depend on it).
    both = [None if p.grad is None else p.grad.clone() for m in members for p in m.parameters()]
    assert sum(grad is not None for grad in both) == len(both) - len(members)
    for member in members:
        member.zero_grad(set_to_none=True)
    expected = torch.cat([member(inputs) for member in members], 1)
    (grad,) = torch.autograd.grad(expected, inputs, direction, create_graph=True)
    grad.pow(2).sum().backward()
    alone = [p.grad for m in members for p in m.parameters()]
    for before, after in zip(both, alone, strict=True):
        assert (before is None) == (after is None)
        if before is not None:
            np.testing.assert_allclose(before, 2 * after, rtol=1e-4, atol=1e-6)


def test_ensemble_alignment_leaves_out_a_collapsed_direction_of_a_block():
    # Member 1's block spans one direction; its second latent differs from a copy of the first
    # by float32-sized wiggles only. Fitting that direction would map rounding onto member 0
    # with weights of order 1e7; left out, the weights stay those of the direction that is
    # there, and the fit is the same whatever the memory layout of the outputs.
    first = build_encoder("mlp", 5, 2, 16, torch.Generator().manual_seed(0))
    second = copy.deepcopy(first)
    with torch.no_grad():
        second[-1].weight[1] = second[-1].weight[0] * (1 + 1e-7)
        second[-1].bias[1] = second[-1].bias[0]
    ensemble = EncoderEnsemble([first, second], n_latents=2)
    inputs = torch.randn(500, 5)
    ensemble.align(inputs, [[0, 1]])
    weights = ensemble.weight[1].clone()
    assert weights.abs().max() < 10
    with torch.no_grad():
        collapsed = second(inputs)[:, 0].double()
        target = first(inputs).double()
    # The one direction there is fitted: member 0's block from the collapsed latent.
    expected = torch.linalg.lstsq(torch.stack([collapsed - collapsed.mean(),
                                               torch.zeros_like(collapsed)], 1),
                                  target - target.mean(0), driver="gelsd").solution
    np.testing.assert_allclose(weights.sum(0), expected[0], rtol=1e-3, atol=1e-4)
    ensemble.align(inputs.clone()[torch.arange(500)], [[0, 1]])
    assert torch.equal(ensemble.weight[1], weights)

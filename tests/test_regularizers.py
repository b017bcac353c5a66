import pytest
import torch

from skattr._regularizers import jacobian_penalty, regularizer_weight


def test_penalty_is_unbiased_for_a_nonlinear_map():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x = torch.randn(32, 4, dtype=torch.float64, requires_grad=True)
    model = model.double()
    exact = 0.5 * torch.func.vmap(torch.func.jacrev(model))(x).pow(2).sum((1, 2)).mean()
    generator = torch.Generator().manual_seed(0)
    estimates = [
        float(jacobian_penalty(x, model(x), [slice(0, 3)], 8, generator).detach())
        for _ in range(200)
    ]
    assert sum(estimates) / len(estimates) == pytest.approx(float(exact.detach()), rel=0.02)


def test_overlapping_slices_are_each_counted():
    # A linear map: J_s is W's rows in s. Slices 0:3 and 0:1 (as the time objective spans the
    # behaviour block) give 1/2 (||W||_F^2 + ||W[0]||^2), with one projection per sample.
    weight = torch.tensor([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0], [0.5, 0.0, 0.0, 1.0]],
                          dtype=torch.float64)
    x = torch.randn(64, 4, dtype=torch.float64, requires_grad=True)
    outputs = torch.cat([x @ weight.T, 7.0 * x[:, :1]], dim=1)  # output 3 is in no slice
    exact = 0.5 * (weight.pow(2).sum() + weight[0].pow(2).sum())
    generator = torch.Generator().manual_seed(0)
    estimates = torch.tensor([
        float(jacobian_penalty(x, outputs, [slice(0, 3), slice(0, 1)], 1, generator).detach())
        for _ in range(2000)
    ])
    assert float(estimates.mean()) == pytest.approx(float(exact), rel=0.02)


def test_penalty_only_sees_its_slice():
    x = torch.randn(10, 2, requires_grad=True)
    outputs = torch.cat([x @ torch.tensor([[1.0], [0.0]]), 100.0 * x], dim=1)
    generator = torch.Generator().manual_seed(0)
    # Output 0 is x[:, 0]: ||J||_F^2 = 1, whatever the other outputs do.
    penalty = jacobian_penalty(x, outputs, [slice(0, 1)], 1, generator).detach()
    assert float(penalty) == pytest.approx(0.5)


def test_penalty_is_differentiable_in_the_parameters():
    layer = torch.nn.Linear(3, 2)
    x = torch.randn(5, 3, requires_grad=True)
    penalty = jacobian_penalty(x, layer(x), [slice(0, 2)], 1, torch.Generator().manual_seed(0))
    penalty.backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_schedule_ramps_linearly_and_can_be_off():
    assert regularizer_weight(5, 1.0, 5, 5) == 1.0  # a step, no ramp
    assert regularizer_weight(100, 0.0, 0, 10) == 0.0
    assert [regularizer_weight(s, 2.0, 0, 4) for s in range(6)] == [0, 0.5, 1.0, 1.5, 2.0, 2.0]

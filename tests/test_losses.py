import math

import numpy as np
import pytest
import torch

from skattr import _losses
from skattr._losses import infonce


def reference_infonce(r, p, n, similarity, temperature):
    """Loop-based InfoNCE straight from the definition, in float64."""
    r, p, n = (np.asarray(t, dtype=np.float64) for t in (r, p, n))
    if similarity == "cosine":
        r, p, n = (t / np.linalg.norm(t, axis=1, keepdims=True) for t in (r, p, n))
        phi = lambda a, b: a @ b / temperature  # noqa: E731
    else:
        phi = lambda a, b: -np.sum((a - b) ** 2) / temperature  # noqa: E731
    losses = []
    for i in range(len(r)):
        logits = [phi(r[i], p[i])] + [phi(r[i], n[j]) for j in range(len(n))]
        top = max(logits)
        losses.append(top + math.log(sum(math.exp(v - top) for v in logits)) - logits[0])
    return float(np.mean(losses))


@pytest.mark.parametrize("similarity", ["euclidean", "cosine"])
@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_infonce_matches_definition(similarity, temperature, rng):
    r, p, n = (rng.standard_normal((7, 3)) for _ in range(3))
    got = infonce(*(torch.tensor(t) for t in (r, p, n)), similarity, temperature)
    assert float(got) == pytest.approx(reference_infonce(r, p, n, similarity, temperature), 1e-10)


def test_euclidean_infonce_is_bounded_below_when_scaled(rng):
    # Positives closer than every negative: inflating the scale must not push the loss below 0.
    r = torch.tensor(rng.standard_normal((16, 2)))
    p, n = r + 0.01, r + 5.0
    for scale in (1.0, 10.0, 1000.0):
        assert float(infonce(scale * r, scale * p, scale * n, "euclidean", 1.0)) >= 0.0


def test_unknown_similarity_is_rejected():
    t = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="similarity must be one of"):
        infonce(t, t, t, "manhattan", 1.0)


def test_euclidean_infonce_is_exact_far_from_the_origin(rng):
    r, p, n = (rng.standard_normal((64, 3)) for _ in range(3))
    exact = reference_infonce(r, p, n, "euclidean", 1.0)
    shifted = (torch.tensor(t + 1000.0, dtype=torch.float32) for t in (r, p, n))
    assert float(infonce(*shifted, "euclidean", 1.0)) == pytest.approx(exact, abs=1e-3)


def autograd_infonce(r, p, n, similarity, temperature):
    """InfoNCE in plain autograd, with the (B, B') logits held whole."""
    if similarity == "cosine":
        r, p, n = (torch.nn.functional.normalize(t, dim=1) for t in (r, p, n))
        alignment, logits = (r * p).sum(1) / temperature, r @ n.T / temperature
    else:
        alignment = -(r - p).pow(2).sum(1) / temperature
        logits = -torch.cdist(r, n).pow(2) / temperature
    uniformity = torch.logsumexp(logits, 1)
    return (torch.logaddexp(alignment, uniformity) - alignment).mean()


@pytest.mark.parametrize("similarity", ["euclidean", "cosine"])
@pytest.mark.parametrize("block_logits", [1, 50, 1 << 20])  # a row, ragged blocks, all at once
def test_fused_gradient_equals_autograd(similarity, block_logits, monkeypatch):
    monkeypatch.setitem(_losses._BLOCK_LOGITS, "cpu", block_logits)
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn(size, 4, dtype=torch.float64, generator=generator, requires_grad=True)
               for size in (23, 23, 17)]
    expected = autograd_infonce(*tensors, similarity, 0.5)
    got = infonce(*tensors, similarity, 0.5)
    assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=1e-12)
    # The incoming gradient (here 3) scales the one computed in the forward pass.
    for a, b in zip(torch.autograd.grad(3.0 * expected, tensors),
                    torch.autograd.grad(3.0 * got, tensors), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        assert float(infonce(*tensors, similarity, 0.5)) == pytest.approx(float(expected), 1e-12)


@pytest.mark.parametrize("similarity", ["euclidean", "cosine"])
def test_fused_gradient_passes_gradcheck(similarity):
    generator = torch.Generator().manual_seed(1)
    tensors = [torch.randn(6, 3, dtype=torch.float64, generator=generator, requires_grad=True)
               for _ in range(3)]
    assert torch.autograd.gradcheck(lambda *t: infonce(*t, similarity, 0.7), tensors)


def test_fused_loss_refuses_a_second_derivative():
    tensors = [torch.randn(5, 2, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    with pytest.raises(RuntimeError, match="infonce is differentiable once"):
        torch.autograd.grad(infonce(*tensors, "euclidean", 1.0), tensors[0], create_graph=True)


@pytest.mark.parametrize("similarity", ["euclidean", "cosine"])
@pytest.mark.parametrize("block_logits", [1, 50, 1 << 20])
def test_grouped_losses_equal_each_group_alone(similarity, block_logits, monkeypatch):
    monkeypatch.setitem(_losses._BLOCK_LOGITS, "cpu", block_logits)
    generator = torch.Generator().manual_seed(2)
    tensors = [torch.randn(3, size, 4, dtype=torch.float64, generator=generator,
                           requires_grad=True) for size in (11, 11, 9)]
    grouped = infonce(*tensors, similarity, 0.5)
    alone = torch.stack([autograd_infonce(*(t[g] for t in tensors), similarity, 0.5)
                         for g in range(3)])
    torch.testing.assert_close(grouped, alone, rtol=1e-12, atol=0)
    # Each group's loss gets its own incoming gradient.
    weights = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for a, b in zip(torch.autograd.grad((weights * alone).sum(), tensors),
                    torch.autograd.grad((weights * grouped).sum(), tensors), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(infonce(*tensors, similarity, 0.5), alone.detach(),
                                   rtol=1e-12, atol=0)


def test_grouped_and_single_tensors_are_not_mixed():
    single, grouped = torch.zeros(4, 2), torch.zeros(1, 4, 2)
    with pytest.raises(ValueError, match=r"all be \(B, K\) or all \(G, B, K\); got shapes "
                                         r"\[\(1, 4, 2\), \(4, 2\), \(4, 2\)\]"):
        infonce(grouped, single, single, "euclidean", 1.0)

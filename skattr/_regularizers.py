"""The Jacobian regulariser (Hoffman et al. 2019) and its weight schedule."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def jacobian_penalty(
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    output_slices: Sequence[slice],
    n_projections: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Estimate ``R = 1/2 sum_s mean_b ||J_s(x_b)||_F^2`` over the blocks ``outputs[:, s]``.

    ``J_s`` is the Jacobian of the block ``s`` with respect to ``inputs``. Blocks may overlap
    (xCEBRA's time objective spans the behaviour block). The sum is ``tr(J^T D J)`` with ``D``
    the diagonal of how many blocks hold each output, so one random direction per sample,
    ``w = D^(1/2) sqrt(C) v`` with ``v`` uniform on the unit sphere of the ``C`` outputs held by
    any block (``E[w w^T] = D``), estimates it without bias: one vector-Jacobian product for all
    blocks, taken with ``create_graph=True`` so that the penalty can be differentiated again.

    Parameters
    ----------
    inputs : torch.Tensor of shape (B, ...)
        The encoder input, with ``requires_grad=True``.
    outputs : torch.Tensor of shape (B, K)
        The encoder output computed from ``inputs``.
    output_slices : sequence of slice
        The blocks of output dimensions to penalise (one per objective).
    n_projections : int
        Random projections per sample; 1 is unbiased, more reduce the variance.
    generator : torch.Generator
        Source of the projections, on the device of ``outputs``.

    Returns
    -------
    torch.Tensor
        The scalar estimate.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(8, 3, requires_grad=True)
    >>> W = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    >>> g = torch.Generator().manual_seed(0)
    >>> # For a linear map the estimate averages to 1/2 ||W||_F^2 = 7.
    >>> est = [jacobian_penalty(x, x @ W.T, [slice(0, 2)], 1, g).item() for _ in range(2000)]
    >>> abs(sum(est) / len(est) - 7.0) < 0.3
    True
    """
    # Counted on the host: a boolean mask of a device tensor would sync with it every step.
    multiplicity = [0] * outputs.shape[1]
    for output_slice in output_slices:
        for i in range(outputs.shape[1])[output_slice]:
            multiplicity[i] += 1
    held = [i for i, count in enumerate(multiplicity) if count]
    block = outputs[:, held]
    scale = torch.tensor([multiplicity[i] * len(held) for i in held], dtype=outputs.dtype,
                         device=outputs.device).sqrt()
    batch, width = block.shape
    total = block.new_zeros(())
    for _ in range(n_projections):
        direction = torch.randn(
            batch, width, device=block.device, dtype=block.dtype, generator=generator
        )
        direction = direction / direction.norm(dim=1, keepdim=True) * scale
        (vjp,) = torch.autograd.grad(block, inputs, direction, create_graph=True)
        total = total + vjp.pow(2).sum() / batch
    return 0.5 * total / n_projections


def regularizer_weight(step: int, weight: float, start: int, full: int) -> float:
    """Weight of the regulariser at ``step``: 0 before ``start``, linear to ``weight`` at ``full``.

    Examples
    --------
    >>> [regularizer_weight(s, 0.1, 10, 20) for s in (0, 10, 15, 20, 99)]
    [0.0, 0.0, 0.05, 0.1, 0.1]
    """
    if weight == 0.0 or step < start:
        return 0.0
    if step >= full:
        return weight
    return weight * (step - start) / (full - start)

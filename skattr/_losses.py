"""InfoNCE with a fixed temperature, for Euclidean and cosine similarities.

The ``(B, B')`` logits between references and negatives are the bulk of a training step at large
batches. They are never held whole: :class:`_FusedInfoNCE` walks them in blocks of rows that fit
in cache and, because each loss is a scalar, computes its gradient in the same pass (one
exponential per logit, no second pass in the backward). Tensors carry a leading dimension of
independent groups (the members of an ensemble, each on its own objective), so that ``G`` losses
of one shape cost one batched product instead of ``G`` small ones.
"""

from __future__ import annotations

import torch

SIMILARITIES = ("euclidean", "cosine")

# Logits per block of rows: a few MiB of float32, resident in cache on a CPU. On an accelerator
# the block only bounds memory (one block of 2^26 logits covers B = 8,000).
_BLOCK_LOGITS = {"cpu": 1 << 20}
_DEFAULT_BLOCK_LOGITS = 1 << 26


def _logit_terms(reference, positive, negative, similarity, temperature):
    """Split ``phi`` into what the fused kernel needs (all cheap ``(G, B, K)``-sized autograd
    ops).

    Returns ``(r, n, column_bias, row_offset, alignment, alpha)`` such that
    ``phi(r_i, n_j) = alpha r_i . n_j + column_bias_j + row_offset_i`` and
    ``alignment_i = phi(r_i, p_i)``. ``column_bias`` and ``row_offset`` are ``None`` when zero.
    """
    if similarity == "cosine":
        reference, positive, negative = (
            torch.nn.functional.normalize(t, dim=-1) for t in (reference, positive, negative)
        )
        alignment = (reference * positive).sum(-1) / temperature
        return reference, negative, None, None, alignment, 1.0 / temperature
    if similarity == "euclidean":
        # Distances do not change under a common shift; centring first keeps the expansion
        # below from cancelling catastrophically in float32 when the embedding drifts away from
        # the origin (the loss does not pin its location).
        centre = negative.detach().mean(-2, keepdim=True)
        reference, positive, negative = reference - centre, positive - centre, negative - centre
        # -||r - n||^2 = 2 r.n - ||n||^2 - ||r||^2
        alignment = -(reference - positive).pow(2).sum(-1) / temperature
        return (reference, negative, negative.pow(2).sum(-1) / -temperature,
                reference.pow(2).sum(-1) / -temperature, alignment, 2.0 / temperature)
    raise ValueError(f"similarity must be one of {SIMILARITIES}; got {similarity!r}.")


def _block_rows(logits_per_row: int, device: torch.device) -> int:
    budget = _BLOCK_LOGITS.get(device.type, _DEFAULT_BLOCK_LOGITS)
    return max(1, budget // max(1, logits_per_row))


def _log_partition(r, n, column_bias, alpha, weights=None):
    """``u_gi = logsumexp_j(alpha r_gi . n_gj + column_bias_gj)`` block by block, without
    autograd; ``r`` is ``(G, B, K)``, ``n`` is ``(G, B', K)``.

    With ``weights`` (``weights(u[:, rows], rows)`` gives ``dL_g/du_g`` on a block of rows),
    also returns the gradients of each ``L_g`` with respect to ``r``, ``n`` and
    ``column_bias``.
    """
    groups, n_rows, width = r.shape
    n_columns = n.shape[1]
    transposed = n.transpose(1, 2).contiguous()
    bias = column_bias if column_bias is not None else r.new_zeros(groups, n_columns)
    bias = bias[:, None, :]
    log_partition = r.new_empty(groups, n_rows)
    if weights is not None:
        # Transposed accumulators: ``(K, B) = (K, B') @ (B', B)`` and ``(K, B') = (K, B) @
        # (B, B')`` run several times faster than the same products in the other orientation
        # when K is a handful of latents.
        grad_r_t = r.new_empty(groups, width, n_rows)
        # The last row accumulates the bias gradient.
        grad_n_t = r.new_zeros(groups, width + 1, n_columns)
        r_t = torch.cat([alpha * r, r.new_ones(groups, n_rows, 1)], 2).transpose(1, 2)
    rows = _block_rows(groups * n_columns, r.device)
    for start in range(0, n_rows, rows):
        block = slice(start, start + rows)
        logits = torch.baddbmm(bias, r[:, block], transposed, alpha=alpha)
        top = logits.amax(2)
        probabilities = logits.sub_(top[..., None]).exp_()
        total = probabilities.sum(2)
        log_partition[:, block] = top + total.log()
        if weights is None:
            continue
        # softmax_j * dL/du_i: the weight of each logit in every gradient below.
        probabilities.mul_((weights(log_partition[:, block], block) / total)[..., None])
        grad_r_t[:, :, block] = torch.bmm(transposed, probabilities.transpose(1, 2))
        grad_n_t.baddbmm_(r_t[:, :, block], probabilities)
    if weights is None:
        return log_partition
    grad_r = alpha * grad_r_t.transpose(1, 2)
    grad_n = grad_n_t[:, :-1].transpose(1, 2)  # alpha is already in r_t
    return log_partition, grad_r, grad_n, grad_n_t[:, -1]


class _FusedInfoNCE(torch.autograd.Function):
    """``mean_i[logaddexp(a_gi, u_gi + o_gi) - a_gi]`` per group ``g``, with ``u`` from
    :func:`_log_partition`.

    Inputs ``(r, n, column_bias, row_offset, alignment, alpha)`` as returned by
    :func:`_logit_terms`. The gradient is computed in the forward pass and scaled by the
    incoming scalar in the backward; it is not differentiable twice (nothing in training needs
    the loss's second derivative: the regulariser differentiates the encoder, not the loss).
    """

    @staticmethod
    def forward(ctx, r, n, column_bias, row_offset, alignment, alpha):
        size = r.shape[1]

        def grad_uniformity(log_partition, rows=slice(None)):
            uniformity = (log_partition if row_offset is None
                          else log_partition + row_offset[:, rows])
            # d/du logaddexp(a, u) = sigmoid(u - a); the 1/B of the mean.
            return torch.sigmoid(uniformity - alignment[:, rows]) / size

        log_partition, grad_r, grad_n, grad_bias = _log_partition(
            r, n, column_bias, alpha, grad_uniformity
        )
        uniformity = log_partition if row_offset is None else log_partition + row_offset
        grad_offset = grad_uniformity(log_partition)
        # d/da [logaddexp(a, u) - a] = sigmoid(a - u) - 1 = -sigmoid(u - a)
        grad_alignment = -grad_offset
        ctx.save_for_backward(grad_r, grad_n, grad_bias, grad_offset, grad_alignment)
        return (torch.logaddexp(alignment, uniformity) - alignment).mean(1)

    @staticmethod
    def backward(ctx, grad_output):
        if torch.is_grad_enabled():
            # create_graph=True: the saved gradient would pass for a constant and the second
            # derivative would be silently wrong.
            raise RuntimeError("infonce is differentiable once; its second derivative is not "
                               "available (create_graph=True through the loss).")
        # One incoming gradient per group, broadcast over each saved gradient's rows.
        grad_r, grad_n, grad_bias, grad_offset, grad_alignment = (
            grad_output.view(-1, *[1] * (saved.dim() - 1)) * saved
            for saved in ctx.saved_tensors
        )
        bias_needed, offset_needed = ctx.needs_input_grad[2:4]
        return (grad_r, grad_n, grad_bias if bias_needed else None,
                grad_offset if offset_needed else None, grad_alignment, None)


def infonce(
    reference: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    similarity: str,
    temperature: float,
) -> torch.Tensor:
    """InfoNCE ``mean_i[-phi(r_i, p_i) + log(e^phi(r_i, p_i) + sum_j e^phi(r_i, n_j))]``.

    The positive is part of the denominator (the classic InfoNCE). This bounds the loss below by
    0: with the Euclidean similarity, the variant without it can be driven to minus infinity by
    inflating the embedding's scale whenever positives are closer than the nearest negative,
    which is what a time-contrastive positive one step away usually is.

    Parameters
    ----------
    reference, positive : torch.Tensor of shape (B, K) or (G, B, K)
        Embeddings of the references and of their positives (row ``i`` pairs with row ``i``).
        A leading dimension holds ``G`` independent losses of the same shape, computed
        together.
    negative : torch.Tensor of shape (B', K) or (G, B', K)
        Embeddings of the negatives, shared by all references (of the same group).
    similarity : {"euclidean", "cosine"}
        Minus the squared distance, or the cosine of unit-normalised embeddings.
    temperature : float

    Returns
    -------
    torch.Tensor
        The scalar loss, or the ``G`` losses of the groups; differentiable once (the gradient
        is computed with the value).

    Examples
    --------
    >>> import torch
    >>> reference, negative = torch.tensor([[0.0]]), torch.tensor([[1.0]])
    >>> loss = infonce(reference, reference, negative, "euclidean", 1.0)
    >>> round(float(loss), 4)  # log(e^0 + e^-1) - 0
    0.3133
    >>> # Two groups at once: the second's negative is twice as far, log(e^0 + e^-4) - 0.
    >>> references, negatives = reference.expand(2, 1, 1), torch.tensor([[[1.0]], [[2.0]]])
    >>> [round(float(v), 4) for v in infonce(references, references, negatives, "euclidean", 1.0)]
    [0.3133, 0.0181]
    """
    shapes = {t.dim() for t in (reference, positive, negative)}
    if shapes not in ({2}, {3}):
        raise ValueError(
            "reference, positive and negative must all be (B, K) or all (G, B, K); got "
            f"shapes {[tuple(t.shape) for t in (reference, positive, negative)]}."
        )
    grouped = shapes == {3}
    if not grouped:
        reference, positive, negative = (t.unsqueeze(0) for t in (reference, positive, negative))
    r, n, column_bias, row_offset, alignment, alpha = _logit_terms(
        reference, positive, negative, similarity, temperature
    )
    if torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (r, n, column_bias, row_offset, alignment)
    ):
        losses = _FusedInfoNCE.apply(r, n, column_bias, row_offset, alignment, alpha)
    else:
        with torch.no_grad():
            uniformity = _log_partition(r, n, column_bias, alpha)
            if row_offset is not None:
                uniformity = uniformity + row_offset
            losses = (torch.logaddexp(alignment, uniformity) - alignment).mean(1)
    return losses if grouped else losses[0]

"""InfoNCE with a fixed temperature, for Euclidean and cosine similarities."""

from __future__ import annotations

import torch

SIMILARITIES = ("euclidean", "cosine")


def _alignment_and_uniformity(reference, positive, negative, similarity, temperature):
    """``phi(r_i, p_i)`` and ``logsumexp_j phi(r_i, n_j)``, both ``(B,)``, over the temperature.

    The ``(B, B')`` logits are built by one fused ``addmm`` and reduced at once: at ``B = 5,000``
    they are the bulk of a training step's memory traffic.
    """
    if similarity == "cosine":
        reference, positive, negative = (
            torch.nn.functional.normalize(t, dim=1) for t in (reference, positive, negative)
        )
        reference = reference / temperature  # scales B x K values rather than B x B' logits
        return (reference * positive).sum(1), torch.logsumexp(reference @ negative.T, dim=1)
    if similarity == "euclidean":
        # Distances do not change under a common shift; centring first keeps the expansion
        # below from cancelling catastrophically in float32 when the embedding drifts away from
        # the origin (the loss does not pin its location).
        centre = negative.detach().mean(0)
        reference, positive, negative = reference - centre, positive - centre, negative - centre
        # -||r - n||^2 = 2 r.n - ||n||^2 - ||r||^2; the last term is constant along j, so it
        # leaves the logsumexp.
        logits = torch.addmm(
            negative.pow(2).sum(1) / -temperature, reference, negative.T, alpha=2.0 / temperature
        )
        uniformity = torch.logsumexp(logits, dim=1) - reference.pow(2).sum(1) / temperature
        return -(reference - positive).pow(2).sum(1) / temperature, uniformity
    raise ValueError(f"similarity must be one of {SIMILARITIES}; got {similarity!r}.")


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
    reference, positive : torch.Tensor of shape (B, K)
        Embeddings of the references and of their positives (row ``i`` pairs with row ``i``).
    negative : torch.Tensor of shape (B', K)
        Embeddings of the negatives, shared by all references.
    similarity : {"euclidean", "cosine"}
        Minus the squared distance, or the cosine of unit-normalised embeddings.
    temperature : float

    Returns
    -------
    torch.Tensor
        The scalar loss.

    Examples
    --------
    >>> import torch
    >>> reference, negative = torch.tensor([[0.0]]), torch.tensor([[1.0]])
    >>> loss = infonce(reference, reference, negative, "euclidean", 1.0)
    >>> round(float(loss), 4)  # log(e^0 + e^-1) - 0
    0.3133
    """
    alignment, uniformity = _alignment_and_uniformity(
        reference, positive, negative, similarity, temperature
    )
    return (torch.logaddexp(alignment, uniformity) - alignment).mean()

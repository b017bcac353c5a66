"""InfoNCE with a fixed temperature, for Euclidean and cosine similarities."""

from __future__ import annotations

import torch

SIMILARITIES = ("euclidean", "cosine")


def _similarities(reference, positive, negative, similarity, temperature):
    """``phi(r_i, p_i)`` as ``(B,)`` and ``phi(r_i, n_j)`` as ``(B, B')``, over the temperature."""
    if similarity == "cosine":
        reference, positive, negative = (
            torch.nn.functional.normalize(t, dim=1) for t in (reference, positive, negative)
        )
        return (reference * positive).sum(1) / temperature, reference @ negative.T / temperature
    if similarity == "euclidean":
        # ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, without materialising B x B' x K.
        squared = (
            reference.pow(2).sum(1, keepdim=True)
            + negative.pow(2).sum(1)
            - 2.0 * reference @ negative.T
        )
        return -(reference - positive).pow(2).sum(1) / temperature, -squared / temperature
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
    alignment, negatives = _similarities(reference, positive, negative, similarity, temperature)
    logits = torch.cat([alignment[:, None], negatives], dim=1)
    return (torch.logsumexp(logits, dim=1) - alignment).mean()

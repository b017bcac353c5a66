"""InfoNCE with a fixed temperature, for Euclidean and cosine similarities."""

from __future__ import annotations

import torch

SIMILARITIES = ("euclidean", "cosine")


def similarity_matrix(
    reference: torch.Tensor, other: torch.Tensor, similarity: str, temperature: float
) -> torch.Tensor:
    """Similarities ``phi(reference_i, other_j) / temperature`` as a ``(B, B')`` matrix.

    ``"euclidean"`` is minus the squared distance; ``"cosine"`` the dot product of unit vectors.
    """
    if similarity == "cosine":
        reference = torch.nn.functional.normalize(reference, dim=1)
        other = torch.nn.functional.normalize(other, dim=1)
        return reference @ other.T / temperature
    if similarity == "euclidean":
        # ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, without materialising B x B' x K.
        squared = (
            reference.pow(2).sum(1, keepdim=True)
            + other.pow(2).sum(1)
            - 2.0 * reference @ other.T
        )
        return -squared / temperature
    raise ValueError(f"similarity must be one of {SIMILARITIES}; got {similarity!r}.")


def infonce(
    reference: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    similarity: str,
    temperature: float,
) -> torch.Tensor:
    """InfoNCE ``mean_i[-phi(r_i, p_i) + logsumexp_j phi(r_i, n_j)]``.

    Parameters
    ----------
    reference, positive : torch.Tensor of shape (B, K)
        Embeddings of the references and of their positives (row ``i`` pairs with row ``i``).
    negative : torch.Tensor of shape (B', K)
        Embeddings of the negatives, shared by all references.
    similarity : {"euclidean", "cosine"}
    temperature : float

    Returns
    -------
    torch.Tensor
        The scalar loss.

    Examples
    --------
    >>> import torch
    >>> r = torch.tensor([[0.0], [1.0]])
    >>> loss = infonce(r, r, r, "euclidean", 1.0)
    >>> round(float(loss), 4)  # log(1 + e^-1)
    0.3133
    """
    if similarity == "cosine":
        reference = torch.nn.functional.normalize(reference, dim=1)
        positive = torch.nn.functional.normalize(positive, dim=1)
        negative = torch.nn.functional.normalize(negative, dim=1)
        alignment = (reference * positive).sum(1) / temperature
        return (-alignment + torch.logsumexp(reference @ negative.T / temperature, 1)).mean()
    alignment = -(reference - positive).pow(2).sum(1) / temperature
    uniformity = torch.logsumexp(similarity_matrix(reference, negative, similarity, temperature), 1)
    return (-alignment + uniformity).mean()

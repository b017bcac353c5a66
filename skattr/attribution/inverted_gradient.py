"""Inverted neuron gradient (xCEBRA): the transposed pseudo-inverse ``pinv(J_f(x))^T``."""

from __future__ import annotations

import torch

from ._core import AttributionMethod, jacobian, reduce_lags


class InvertedNeuronGradient(AttributionMethod):
    """Per-sample ``pinv(J_f(x))^T`` of shape ``(K, N)``, in float64 on the model's device.

    If ``J_f J_g`` is block-diagonal and ``f`` is the minimum-norm inverse of the mixing ``g``
    (what the Jacobian regulariser drives training to), then ``pinv(J_f) = J_g L^-1`` keeps the
    zeros of the mixing Jacobian ``J_g`` that the plain gradient loses.

    For windowed encoders, the lag axis of the Jacobian is reduced by the signed mean *before*
    inverting (the abs-then-invert variant destroys the structure).

    Parameters
    ----------
    solver : {"svd", "lstsq"}, default="svd"
        ``"svd"``: the pseudo-inverse with singular values below the cut-off treated as zero.
        With ``rcond >= 1e-7`` (the default for float32 models) it is computed through the small
        ``K x K`` Gram matrix ``G = J J^T``: as ``J^T G^-1`` by Cholesky where a bound certifies
        that no singular value is cut, else from ``G``'s eigendecomposition. That is 2-3x faster
        than :func:`torch.linalg.pinv` at ``K = 6, N = 50``; squaring the condition number costs
        ``cond(J)^2 eps(float64)``, below the ``cond(J) eps(float32)`` that a float32 Jacobian's
        own rounding leaves. Smaller cut-offs use :func:`torch.linalg.pinv` (an SVD per sample).

        ``"lstsq"``: the minimum-norm solution ``P`` of ``J P = I``, which is ``pinv(J)`` too.
        On the CPU it uses LAPACK's ``gelsd`` (rank-revealing, honours ``rcond``); on CUDA, where
        torch offers only ``gels`` (full rank assumed), it computes ``J^T (J J^T)^-1`` by
        Cholesky, which needs full row rank (``K <= N`` and no singular value below the
        cut-off); rank deficiency there raises instead of returning garbage.
    rcond : float, default=None
        Singular values below ``rcond`` times the largest are treated as zero. ``None`` means
        ``max(K, N)`` times the machine epsilon of the Jacobian's own dtype (float32 for a
        float32 model), so that rounding noise of a float32 Jacobian is not inverted into huge
        values when it is pseudo-inverted in float64.

    Examples
    --------
    >>> import torch
    >>> from skattr.attribution import attribute
    >>> model = torch.nn.Linear(4, 2, bias=False)
    >>> amap = attribute(model, torch.randn(10, 4), method="inverted-gradient", reduction="mean")
    >>> expected = torch.linalg.pinv(model.weight.double()).T
    >>> bool(torch.allclose(torch.as_tensor(amap), expected))
    True
    """

    name = "inverted-gradient"

    def __init__(self, solver: str = "svd", rcond: float | None = None) -> None:
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}.")
        if rcond is not None and not rcond >= 0:
            raise ValueError(f"rcond must be a non-negative number or None; got {rcond!r}.")
        self.solver = solver
        self.rcond = rcond

    def attribute_batch(self, model, inputs, lag_reduction, target=None):
        jac = reduce_lags(jacobian(model, inputs), lag_reduction)
        rcond = self.rcond
        if rcond is None:
            rcond = max(jac.shape[-2:]) * torch.finfo(jac.dtype).eps
        jac = jac.to(torch.float64)
        if self.solver == "lstsq":
            return _minimum_norm_inverse(jac, rcond).transpose(1, 2)
        if rcond >= _GRAM_RCOND_FLOOR:
            return _gram_pinv(jac, rcond).transpose(1, 2)
        return torch.linalg.pinv(jac, rtol=rcond).transpose(1, 2)


SOLVERS = ("svd", "lstsq")
# Below this cut-off the Gram matrix's squared singular values would be too close to float64
# rounding (sqrt(eps) ~ 1.5e-8, with a margin) to tell kept from discarded ones.
_GRAM_RCOND_FLOOR = 1e-7


def _gram_pinv(jac: torch.Tensor, rcond: float) -> torch.Tensor:
    """``pinv(J)`` for a batch ``(B, K, N)`` through the smaller Gram matrix ``G``, keeping
    singular values above ``rcond`` times the largest (as ``pinv``'s rtol).

    Where a bound certifies that no singular value is cut, ``pinv(J) = J^T G^-1`` from a Cholesky
    factorisation (the common case, and the cheapest); elsewhere from ``G``'s eigendecomposition.
    """
    wide = jac.shape[-2] <= jac.shape[-1]
    short = jac if wide else jac.transpose(1, 2)  # (B, m, n) with m <= n
    gram = short @ short.transpose(1, 2)
    inverse, certified = _certified_gram_inverse(gram, rcond)
    pinv = short.transpose(1, 2) @ inverse
    if not bool(certified.all()):
        rest = ~certified
        pinv[rest] = _eigh_pinv(short[rest], gram[rest], rcond)
    return pinv if wide else pinv.transpose(1, 2)


def _certified_gram_inverse(
    gram: torch.Tensor, rcond: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``G^-1`` by Cholesky, and where it is certain that no singular value of ``J`` falls
    below ``rcond`` times the largest, so that ``J^T G^-1`` is the cut-off pseudo-inverse.

    The certificate: ``lambda_min(G) >= 1 / ||G^-1||_F`` and ``lambda_max(G) <= trace(G)``, so
    ``rcond^2 trace(G) ||G^-1||_F < 1`` implies ``sigma_min^2 > rcond^2 sigma_max^2``. Failed
    factorisations (or NaNs) are never certified.
    """
    factor, info = torch.linalg.cholesky_ex(gram)
    failed = info > 0
    if bool(failed.any()):
        # cholesky_inverse refuses a failed factor; an identity stands in (never certified).
        identity = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        factor = torch.where(failed[:, None, None], identity, factor)
    inverse = torch.cholesky_inverse(factor)
    trace = gram.diagonal(dim1=1, dim2=2).sum(-1)
    bound = rcond**2 * trace * torch.linalg.matrix_norm(inverse)
    return inverse, ~failed & (bound < 1.0)


def _eigh_pinv(short: torch.Tensor, gram: torch.Tensor, rcond: float) -> torch.Tensor:
    """``pinv`` of ``(B, m, n)`` matrices (``m <= n``) from ``gram``'s eigendecomposition."""
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    # eigh sorts ascending, so the last eigenvalue is the largest singular value squared.
    keep = eigenvalues > rcond**2 * eigenvalues[:, -1:]
    inverse = torch.where(keep, 1.0 / eigenvalues, torch.zeros_like(eigenvalues))
    return short.transpose(1, 2) @ (eigenvectors * inverse[:, None, :]) @ eigenvectors.transpose(
        1, 2
    )


def _minimum_norm_inverse(jac: torch.Tensor, rcond: float) -> torch.Tensor:
    """``pinv(J)`` for a batch ``(B, K, N)`` as the minimum-norm solution of ``J P = I``."""
    if jac.device.type == "cpu":
        identity = torch.eye(jac.shape[1], dtype=jac.dtype, device=jac.device).expand(
            jac.shape[0], -1, -1
        )
        return torch.linalg.lstsq(jac, identity, rcond=rcond, driver="gelsd").solution
    # gels, torch's only CUDA driver, does not give minimum-norm solutions of underdetermined
    # systems; J^T (J J^T)^-1 does, for full row rank.
    return _gram_inverse(jac, rcond)


def _gram_inverse(jac: torch.Tensor, rcond: float) -> torch.Tensor:
    """``J^T (J J^T)^-1``, for Jacobians certified to have no singular value below ``rcond``
    times the largest (see :func:`_certified_gram_inverse`)."""
    inverse, certified = _certified_gram_inverse(jac @ jac.transpose(1, 2), rcond)
    if not bool(certified.all()):
        raise ValueError(
            "solver='lstsq' on CUDA needs Jacobians of full row rank (K <= N, no singular value "
            "below rcond times the largest); use solver='svd'."
        )
    return jac.transpose(1, 2) @ inverse

"""Inverted neuron gradient (xCEBRA): the transposed pseudo-inverse ``pinv(J_f(x))^T``, or its
damped (Tikhonov) version."""

from __future__ import annotations

import math
from numbers import Integral, Real

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
        Samples whose small ``K x K`` Gram matrix ``G = J J^T`` is certified well conditioned
        (``cond(G) < 1e5``, so nothing is cut) get ``J^T G^-1`` by Cholesky, with a relative
        error of at most about ``1e-11``; the others get :func:`torch.linalg.pinv` (an SVD).

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
    damping : float, default=0.0
        Tikhonov damping of the inverse, relative to the correlation of the Jacobian's rows.
        With ``J = D J_1`` (``D`` the rows' norms, ``J_1`` rows of unit length, ``C = J_1 J_1^T``
        their correlation), the map is ``D^-1 (C + damping I)^-1 J_1``; at 0 that is
        ``pinv(J)^T = D^-1 C^-1 J_1``. Directions in which the latents' gradients nearly
        coincide (small eigenvalues of ``C``) are inverted into large, noisy entries by the
        exact inverse; damping stops dividing by eigenvalues below about ``damping``, and as it
        grows each row tends to the plain gradient's row divided by its squared norm. Scaling
        a latent (a row of ``J``) scales its row of the map inversely, as for the exact inverse,
        so rows on a common scale (``row_norm``) do not depend on it. With ``damping > 0``,
        ``C + damping I`` is positive definite and is solved by Cholesky: ``solver`` and
        ``rcond`` apply to the exact inverse only.
    output_map : array-like of shape (K, K), default=None
        Invert the Jacobian of ``U f(x)`` (``U = output_map``, invertible), a linear map of the
        model's outputs, instead of ``f``'s: ``xCEBRAAttributor`` passes its
        ``block_unmixing_`` here. The exact inverse of ``U J`` is ``U^-T`` times that of
        ``J``, so the row of an output that ``U`` leaves alone (``U e_k = e_k``) is ``J``'s
        own; such rows are taken from ``J``'s inverse with damping too, which is not
        equivariant under ``U`` and would otherwise move them. ``None`` inverts ``f``'s own
        Jacobian.
    window : int, default=1
        With ``damping > 0``, the correlation ``C`` of the rows of ``U J`` (``J`` without
        ``output_map``) is averaged over ``window`` consecutive samples centred on each one
        (shifted to fit at the ends) before the inverse; the samples must be in time order.
        ``C`` is the encoder's local geometry, which changes little while the latents do, but
        each sample's own estimate carries the encoder's local noise, which the inverse divides
        by. The rows taken from ``J``'s own inverse (see ``output_map``) keep each sample's own
        ``C``. 1 inverts each sample with its own ``C``. Holds ``T K^2`` floats, and computes
        the Jacobians twice.
    map_window : int or "auto", default=1
        The signed maps of the rows that ``window`` applies to averaged over ``map_window``
        consecutive samples centred on each one (shifted to fit at the ends), after the
        inverse; the samples must be in time order. Noise that is new in every sample (spike
        counts drawn from rates, observation noise) moves each sample's Jacobian, and so its
        map, while the latents, and with them the map, change little from one sample to the
        next; the mean of the maps' absolute values then rises on features that no latent
        acts on. ``"auto"``: from the white fraction ``v`` of the unit rows ``J_1`` over time
        (half their mean squared increment between consecutive samples, over their variance;
        about 0 for a Jacobian that moves smoothly, 1 for one that is noise from sample to
        sample), ``v / (1 - v)`` samples rounded, the number that brings the noise's variance
        down to that of the rows' own changes, between 1 and ``window``. ``attribute``
        computes each batch's maps with ``map_window`` samples more on each side.

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

    def __init__(self, solver: str = "svd", rcond: float | None = None,
                 damping: float = 0.0, output_map=None, window: int = 1,
                 map_window: int | str = 1) -> None:
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}.")
        if rcond is not None and not rcond >= 0:
            raise ValueError(f"rcond must be a non-negative number or None; got {rcond!r}.")
        is_number = isinstance(damping, Real) and not isinstance(damping, bool)
        if not (is_number and 0 <= damping < float("inf")):
            raise ValueError(f"damping must be a finite number >= 0; got {damping!r}.")
        if not _is_positive_integer(window):
            raise ValueError(f"window must be a positive integer; got {window!r}.")
        if window > 1 and damping == 0:
            raise ValueError(f"window={window} averages the correlation that the damped inverse "
                             "solves with; it needs damping > 0, got damping=0.")
        if not (map_window == "auto" or _is_positive_integer(map_window)):
            raise ValueError(
                f"map_window must be a positive integer or 'auto'; got {map_window!r}.")
        self.window = int(window)
        self.map_window = map_window if map_window == "auto" else int(map_window)
        # The map window in use: map_window, or for "auto" what the last data gave.
        self.map_window_ = 1 if map_window == "auto" else int(map_window)
        self.solver = solver
        self.rcond = rcond
        self.damping = float(damping)
        self.output_map = None if output_map is None else torch.as_tensor(output_map,
                                                                           dtype=torch.float64)
        if self.output_map is not None and (
                self.output_map.ndim != 2
                or self.output_map.shape[0] != self.output_map.shape[1]):
            raise ValueError("output_map must be a square matrix (K, K) or None; got shape "
                             f"{tuple(self.output_map.shape)}.")
        # Outputs the map leaves alone (column k is e_k): the exact inverse of output_map @ J
        # has J's own rows there, the damped one need not, so those rows are taken from J's.
        self._kept_rows = None if self.output_map is None else (
            self.output_map == torch.eye(len(self.output_map), dtype=torch.float64)).all(0)

    @property
    def context(self) -> int:
        """Samples on each side of a batch that its maps need: the map window's."""
        return self.map_window_ if self.map_window_ > 1 else 0

    def sample_statistics(self, model, inputs, lag_reduction, batch_size):
        """With ``window > 1``: each sample's correlation of the rows of ``U J``, averaged over
        the window, ``(T, K, K)``; with ``map_window="auto"``, sets ``map_window_``."""
        if self.window == 1:  # nothing to average, and "auto" stays at most 1 sample
            return None
        auto = self.map_window == "auto"
        correlations, white = [], WhiteFraction()
        for start in range(0, inputs.shape[0], batch_size):
            jac = reduce_lags(jacobian(model, inputs[start:start + batch_size]), lag_reduction)
            correlation, unit, _ = row_correlation(self._mapped(jac).to(torch.float64))
            correlations.append(correlation)
            if auto:
                white.update(unit[:, self._windowed_rows(jac.shape[1]).to(unit.device)])
        if auto:
            self.map_window_ = white.window(self.window)
        return moving_average(torch.cat(correlations), self.window)

    def attribute_batch(self, model, inputs, lag_reduction, target=None, statistics=None):
        jac = reduce_lags(jacobian(model, inputs), lag_reduction)
        precision = jac.dtype  # of the model: sets the exact inverse's cut-off
        maps = self._invert(self._mapped(jac), precision, statistics)
        windowed = self._windowed_rows(jac.shape[1]).to(jac.device)
        if self.map_window_ > 1:
            rows = maps[:, windowed]
            # A sample with a non-finite entry keeps its NaN map; its neighbours leave it out.
            maps[:, windowed] = torch.where(rows.isfinite().all(-1).all(-1)[:, None, None],
                                            moving_average(rows, self.map_window_), rows)
        if not windowed.all():
            maps[:, ~windowed] = self._invert(jac, precision)[:, ~windowed]
        return maps

    def _windowed_rows(self, n_outputs: int) -> torch.Tensor:
        """Which rows are inverted from ``U J`` (and windowed): all but those ``U`` leaves
        alone, which come from ``J``'s own inverse."""
        if self._kept_rows is None:
            return torch.ones(n_outputs, dtype=torch.bool)
        return ~self._kept_rows

    def _mapped(self, jac: torch.Tensor) -> torch.Tensor:
        """``U J`` in float64 (``J`` itself, in its own dtype, without ``output_map``)."""
        if self.output_map is None:
            return jac
        if self.output_map.shape[1] != jac.shape[1]:
            raise ValueError(f"output_map has shape {tuple(self.output_map.shape)}; the model "
                             f"has {jac.shape[1]} outputs.")
        return self.output_map.to(jac.device) @ jac.to(torch.float64)

    def _invert(self, jac: torch.Tensor, precision: torch.dtype,
                correlation: torch.Tensor | None = None) -> torch.Tensor:
        """The (damped) inverse of ``jac`` ``(B, K, N)``, transposed, in float64; the exact
        inverse's default cut-off is that of ``precision``. The damped inverse solves with
        ``correlation`` ``(B, K, K)`` where given, else with each sample's own."""
        if self.damping > 0:
            return damped_inverse(jac.to(torch.float64), self.damping, correlation)
        rcond = self.rcond
        if rcond is None:
            rcond = max(jac.shape[-2:]) * torch.finfo(precision).eps
        jac = jac.to(torch.float64)
        if self.solver == "lstsq":
            return _minimum_norm_inverse(jac, rcond).transpose(1, 2)
        return _gram_pinv(jac, rcond).transpose(1, 2)


SOLVERS = ("svd", "lstsq")


def _is_positive_integer(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 1


def row_correlation(jac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a batch ``(B, K, N)``: the correlation ``C = J_1 J_1^T`` of the rows of unit length,
    the rows ``J_1`` (zero rows stay zero) and their norms ``D`` ``(B, K, 1)``."""
    norms = torch.linalg.vector_norm(jac, dim=-1, keepdim=True)
    nonzero = norms != 0  # NaN counts as non-zero: a NaN sample must not come back as zeros
    unit = torch.where(nonzero, jac / torch.where(nonzero, norms, 1.0), 0.0)
    return unit @ unit.transpose(1, 2), unit, norms


def moving_average(values: torch.Tensor, window: int) -> torch.Tensor:
    """The mean of ``values`` ``(T, ...)`` over ``window`` consecutive samples centred on each,
    the window shifted to fit at the ends (all samples if ``T < window``), leaving out samples
    with a non-finite entry; a window with none left gives NaN."""
    flat = values.reshape(len(values), -1).to(torch.float64)
    finite = flat.isfinite().all(1, keepdim=True)
    zero = flat.new_zeros(1, flat.shape[1])
    sums = torch.cat([zero, torch.where(finite, flat, 0.0).cumsum(0)])
    counts = torch.cat([zero[:, :1], finite.to(flat.dtype).cumsum(0)])
    first = (torch.arange(len(flat), device=flat.device) - (window - 1) // 2).clamp(min=0)
    stop = (first + window).clamp(max=len(flat))
    first = (stop - window).clamp(min=0)  # a full window at the far end as at the near one
    mean = (sums[stop] - sums[first]) / (counts[stop] - counts[first])
    return mean.reshape(values.shape).to(values.dtype)


class WhiteFraction:
    """The white fraction of a sequence of samples ``(B, ...)`` given in time order, batch by
    batch: half the mean squared increment between consecutive samples over the variance,
    summed over the entries, leaving out samples with a non-finite entry. About 0 for a
    sequence that changes slowly, 1 for independent samples.

    Examples
    --------
    >>> import torch
    >>> fraction = WhiteFraction()
    >>> fraction.update(torch.randn(20_000, 3, generator=torch.Generator().manual_seed(0)))
    >>> round(fraction.result(), 1)
    1.0
    """

    def __init__(self) -> None:
        self.count = 0
        self.total = self.squares = self.increments = 0.0
        self.n_increments = 0
        self.last: torch.Tensor | None = None

    def update(self, values: torch.Tensor) -> None:
        flat = values.reshape(len(values), -1).to(torch.float64)
        if self.last is not None:
            flat = torch.cat([self.last, flat])
        finite = flat.isfinite().all(1)
        both = finite[1:] & finite[:-1]
        self.increments += float((flat[1:] - flat[:-1])[both].square().sum())
        self.n_increments += int(both.sum())
        first_new = 0 if self.last is None else 1
        new = flat[first_new:][finite[first_new:]]
        self.count += len(new)
        self.total = self.total + new.sum(0)
        self.squares += float(new.square().sum())
        self.last = flat[-1:]

    def result(self) -> float:
        """The white fraction; NaN if fewer than two samples or no variance."""
        if self.count < 2 or self.n_increments == 0:
            return float("nan")
        variance = (self.squares - float(torch.as_tensor(self.total).square().sum())
                    / self.count) / self.count
        if not variance > 0:
            return float("nan")
        return self.increments / self.n_increments / 2 / variance

    def window(self, longest: int) -> int:
        """``v / (1 - v)`` for the white fraction ``v``, rounded, between 1 and ``longest``: the
        number of samples whose mean brings the white part's variance down to the rest's."""
        white = self.result()
        if not white == white:  # NaN: nothing that moves, nothing to average
            return 1
        if white >= 1:
            return longest
        return int(min(max(math.floor(white / (1 - white) + 0.5), 1), longest))


def damped_inverse(jac: torch.Tensor, damping: float,
                   correlation: torch.Tensor | None = None) -> torch.Tensor:
    """``D^-1 (C + damping I)^-1 J_1`` for a batch ``(B, K, N)`` (see
    :class:`InvertedNeuronGradient`), with each sample's own ``C`` or the ``correlation``
    ``(B, K, K)`` given; a row of zeros of ``J`` gives a row of zeros, a sample with a
    non-finite entry a map of NaNs."""
    own, unit, norms = row_correlation(jac)
    correlation = own if correlation is None else correlation.to(own)
    eye = torch.eye(jac.shape[1], dtype=jac.dtype, device=jac.device)
    # C + damping I has eigenvalues >= damping > 0: only a non-finite Jacobian fails, and its
    # samples come back NaN, as from the exact inverse, instead of stopping the whole map.
    factor, info = torch.linalg.cholesky_ex(correlation + damping * eye)
    solved = torch.cholesky_solve(unit, factor)
    solved[info > 0] = float("nan")
    nonzero = norms != 0
    return torch.where(nonzero, solved / torch.where(nonzero, norms, 1.0), 0.0)


# Samples whose Gram matrix G = J J^T is at most this ill-conditioned (by the bound in
# _bounded_gram_inverse) are pseudo-inverted by Cholesky: its relative error, about
# cond(G) eps(float64) <= 1e-11, is far below the rounding of a float32 Jacobian and close to an
# SVD's. The others take an SVD.
_GRAM_CONDITION_LIMIT = 1e5


def _gram_pinv(jac: torch.Tensor, rcond: float) -> torch.Tensor:
    """``pinv(J)`` for a batch ``(B, K, N)``, singular values below ``rcond`` times the largest
    cut (as ``torch.linalg.pinv``'s ``rtol``).

    Well-conditioned samples, where no singular value is cut, get ``J^T G^-1`` from a Cholesky
    factorisation of the smaller Gram matrix ``G``; the others :func:`torch.linalg.pinv`.
    """
    wide = jac.shape[-2] <= jac.shape[-1]
    short = jac if wide else jac.transpose(1, 2)  # (B, m, n) with m <= n
    limit = _GRAM_CONDITION_LIMIT if rcond == 0 else min(_GRAM_CONDITION_LIMIT, rcond**-2)
    inverse, usable = _bounded_gram_inverse(short @ short.transpose(1, 2), limit)
    pinv = short.transpose(1, 2) @ inverse
    if not bool(usable.all()):
        rest = ~usable
        pinv[rest] = torch.linalg.pinv(short[rest], rtol=rcond)
    return pinv if wide else pinv.transpose(1, 2)


def _bounded_gram_inverse(
    gram: torch.Tensor, limit: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``G^-1`` by Cholesky, and where ``cond(G) < limit`` is certain.

    The bound: ``lambda_min(G) >= 1 / ||G^-1||_F`` and ``lambda_max(G) <= trace(G)``, so
    ``cond(G) <= trace(G) ||G^-1||_F``. With ``limit <= rcond^-2`` it also certifies that every
    singular value of ``J`` exceeds ``rcond`` times the largest, so that none is cut and
    ``J^T G^-1`` is the pseudo-inverse. Failed factorisations (and NaNs) are never certified.
    """
    factor, info = torch.linalg.cholesky_ex(gram)
    failed = info > 0
    if bool(failed.any()):
        # cholesky_inverse refuses a failed factor; an identity stands in (never certified).
        identity = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        factor = torch.where(failed[:, None, None], identity, factor)
    inverse = torch.cholesky_inverse(factor)
    bound = gram.diagonal(dim1=1, dim2=2).sum(-1) * torch.linalg.matrix_norm(inverse)
    return inverse, ~failed & (bound < limit)


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
    times the largest (see :func:`_bounded_gram_inverse`)."""
    limit = float("inf") if rcond == 0 else rcond**-2
    inverse, certified = _bounded_gram_inverse(jac @ jac.transpose(1, 2), limit)
    if not bool(certified.all()):
        raise ValueError(
            "solver='lstsq' on CUDA needs Jacobians of full row rank (K <= N, no singular value "
            "below rcond times the largest); use solver='svd'."
        )
    return jac.transpose(1, 2) @ inverse

"""The time block's linear dependence on the behaviour block, resolved by sparsity of the map.

With the time objective on the whole embedding (the paper's layout) the behaviour block
identifies the behaviour latents ``z2`` up to an invertible linear map, but the time block is
only required to hold what the behaviour block lacks: it identifies ``z1`` up to a map that may
also add some of ``z2``. The embedding is then ``f(g(z)) ≈ L z`` with ``L`` block
lower-triangular, and the inverse ``J_g L^-1`` adds to each behaviour latent's column of the
mixing a part of the time latents' columns, which shows as attribution of the behaviour block
to neurons that only the time latents drive.

Which part is not identified by the embedding alone: a time block that moves with the behaviour
because the encoder mixed some of it in looks the same as one whose latents move with the
behaviour in the data (an internal state that follows it). Removing every correlation between
the blocks (0.15's regression of the increments) is right in the first case and wrong in the
second. What tells them apart is the map itself. For ``U`` that adds ``B`` times the behaviour
block to the time block, the inverse of the Jacobian of ``U f`` is ``pinv(J_f) U^-1``, whose
behaviour column ``k`` is ``pinv(J_f) e_k - sum_j B_jk pinv(J_f) e_j`` (``j`` over the time
dimensions): a wrong ``B`` spreads each behaviour column over the neurons that the time latents
drive. :func:`block_unmixing` chooses the ``B`` for which the behaviour columns, over the
samples, have the least total magnitude (an L1 regression of each behaviour column on the time
columns): the sparsest attribution of the behaviour that the embedding allows. On
``benchmarks/robustness.py``'s family it matches the regression of the increments where the
latents are independent and keeps its score where they are coupled
(``benchmarks/unmixing_screen.py``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

# The unmixing is chosen on the inverse damped by this much (the default map's, whatever the
# estimator's inverse_damping is, so that it belongs to the encoder and attribute(damping=...)
# of one fit shares it), on at most this many samples evenly spaced in time, as
# benchmarks/unmixing_screen.py chose it.
UNMIXING_DAMPING, UNMIXING_SAMPLES = 1.0, 4000


def unmixing_rows(n_samples: int) -> np.ndarray:
    """The samples the unmixing is chosen on: at most ``UNMIXING_SAMPLES``, evenly spaced."""
    return np.unique(np.linspace(0, n_samples - 1, UNMIXING_SAMPLES).round().astype(int))


def block_unmixing(inverse_maps: np.ndarray, behavior: list[int], time: list[int]) -> np.ndarray:
    """The map ``U`` ``(K, K)`` of the embedding that makes the behaviour rows of the inverse
    sparsest.

    For each behaviour dimension ``k``, ``b_k`` minimises
    ``sum_t sum_i |M_t[k, i] - sum_j b_jk M_t[j, i]|`` over the time dimensions ``j`` (least
    absolute deviations, solved exactly), and ``U`` is the identity with ``U[j, k] = b_jk``.
    The exact inverse of ``U J`` then has the behaviour rows
    ``M_t[k] - sum_j b_jk M_t[j]`` and the time rows of ``J``'s own inverse.

    Parameters
    ----------
    inverse_maps : ndarray of shape (n_samples, K, N)
        Per-sample signed maps of the inverse of the encoder's own Jacobian (row ``k``: latent
        ``k``), e.g. ``attribute(..., return_per_sample=True)``.
    behavior, time : list of int
        The behaviour dimensions (trained by a behaviour objective) and the time-only ones.

    Returns
    -------
    ndarray of shape (K, K)
        The identity where there is nothing to resolve: no behaviour or no time dimension.
        Samples with a non-finite entry are left out.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> time_rows = rng.standard_normal((200, 1, 6))
    >>> behaviour_rows = np.zeros((200, 1, 6))
    >>> behaviour_rows[:, 0, :3] = rng.standard_normal((200, 3))  # on 3 of the 6 features
    >>> # The behaviour rows as the encoder's inverse gives them: 0.4 of the time row added.
    >>> maps = np.concatenate([behaviour_rows + 0.4 * time_rows, time_rows], axis=1)
    >>> block_unmixing(maps, [0], [1]).round(3)
    array([[1. , 0. ],
           [0.4, 1. ]])
    """
    n_latents = inverse_maps.shape[1]
    unmixing = np.eye(n_latents)
    if not behavior or not time:
        return unmixing
    maps = np.asarray(inverse_maps, dtype=np.float64)
    maps = maps[np.isfinite(maps).all(axis=(1, 2))]
    # One row per (sample, feature): the time rows are the regressors of each behaviour row.
    design = maps[:, time].transpose(0, 2, 1).reshape(-1, len(time))
    for k in behavior:
        unmixing[time, k] = least_absolute_deviations(design, maps[:, k].reshape(-1))
    return unmixing


def least_absolute_deviations(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``argmin_b sum |target - design @ b|``, exactly, by the dual linear program.

    The dual, ``max target^T d`` subject to ``design^T d = 0`` and ``-1 <= d <= 1``, has one
    bounded variable per row and one constraint per coefficient, and ``b`` is minus the
    multipliers of its constraints. Solved by HiGHS (:func:`scipy.optimize.linprog`): on a
    200,000-row problem of ``benchmarks/robustness.py`` it took under 2 s, where the primal
    (scikit-learn's ``QuantileRegressor``, 400,000 variables) took over 700 s.
    """
    if not np.any(target):  # nothing to fit: any b with design @ b = 0 is optimal
        return np.zeros(design.shape[1])
    result = linprog(-target, A_eq=design.T, b_eq=np.zeros(design.shape[1]), bounds=(-1, 1),
                     method="highs")
    if result.status != 0:  # d = 0 is feasible and the box bounds it: only a solver failure
        raise RuntimeError(f"The least-absolute-deviations program failed: {result.message}")
    return -result.eqlin.marginals

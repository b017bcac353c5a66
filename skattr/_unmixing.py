"""The time block's linear dependence on the behaviour block, resolved before the inverse.

With the time objective on the whole embedding (the paper's layout) the behaviour block
identifies the behaviour latents ``z2`` up to an invertible linear map, but the time block is
only required to hold what the behaviour block lacks: it identifies ``z1`` up to a map that may
also add some of ``z2``. The embedding is then ``f(g(z)) ≈ L z`` with ``L`` block
lower-triangular, and the inverse ``J_g L^-1`` adds to each behaviour latent's column of the
mixing a part of the time latents' columns, which shows as attribution of the behaviour block
to the neurons that only the time latents drive. :func:`block_unmixing` estimates that part
from the data as a linear map of the embedding; the estimator inverts the Jacobian of the
embedding so unmixed (:class:`~skattr.attribution.InvertedNeuronGradient`'s ``output_map``),
which changes the behaviour rows of the map only.

It is estimated on increments of the embedding, ``f(x_{t+lag}) - f(x_t)``, not on its values:
two independent slow latents (random walks) are strongly correlated over a finite recording
by chance, their increments much less, so a regression of the values would also remove a part
of the time latents that merely drifted with the behaviour. The assumption is that the time
latents' increments are uncorrelated with the behaviour's; where they are correlated, the
correlated part is attributed to the behaviour block.
"""

from __future__ import annotations

import numpy as np


def block_unmixing(embedding: np.ndarray, behavior: list[int], time: list[int], lag: int,
                   bounds: np.ndarray | None = None) -> np.ndarray:
    """The map ``U`` ``(K, K)`` that leaves the behaviour dimensions as they are and removes
    from each time dimension its least-squares regression on the behaviour dimensions, both
    taken as increments over ``lag`` samples within a trial.

    Parameters
    ----------
    embedding : ndarray of shape (n_samples, K)
        The embedding of the training data, rows in time order.
    behavior, time : list of int
        The behaviour dimensions (trained by a behaviour objective) and the time-only ones.
    lag : int
        Samples between the two ends of an increment (the fit's time offset).
    bounds : ndarray of int, default=None
        Trial bounds (first sample of each trial, then ``n_samples``); ``None``: one trial.

    Returns
    -------
    ndarray of shape (K, K)
        The identity where there is nothing to resolve: no behaviour or no time dimension, or
        fewer increments than behaviour dimensions plus one.
    """
    n_samples, n_latents = embedding.shape
    unmixing = np.eye(n_latents)
    starts = np.arange(max(n_samples - lag, 0))
    if bounds is not None:  # increments within one trial only
        starts = starts[np.searchsorted(bounds, starts, side="right")
                        == np.searchsorted(bounds, starts + lag, side="right")]
    if not behavior or not time or len(starts) <= len(behavior):
        return unmixing
    increments = embedding[starts + lag].astype(np.float64) - embedding[starts]
    increments -= increments.mean(0)
    coefficients = np.linalg.lstsq(increments[:, behavior], increments[:, time], rcond=None)[0]
    unmixing[np.ix_(time, behavior)] = -coefficients.T
    return unmixing

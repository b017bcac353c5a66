"""Which samples form a batch: references, negatives and one positive per objective.

References and negatives are shared by all objectives. The behaviour positive needs the exact
nearest neighbour of a query in label space; a k-d tree built once per fit answers it in
``O(B log T)`` per step instead of the ``O(B T)`` of a brute-force search, so a step costs the same
at ``T = 10^4`` and ``T = 10^6``. Indices are drawn on the host from a NumPy generator (the k-d tree
lives there) and sent to the training device in one transfer per step; nothing is read back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

BEHAVIOR_DISTRIBUTIONS = ("time_delta", "delta_normal")


@dataclass
class Batch:
    """Indices into the time axis for one training step (each an int64 array of length B)."""

    reference: np.ndarray
    negative: np.ndarray
    time_positive: np.ndarray
    behavior_positive: np.ndarray | None


class ContrastiveSampler:
    """Draw batches of indices for the time- and behaviour-contrastive objectives.

    Parameters
    ----------
    n_samples : int
        Length ``T`` of the time series.
    time_offset : int
        The time positive of reference ``i`` is ``i + time_offset``.
    labels : ndarray of shape (T, L) or None
        Continuous behaviour; ``None`` disables the behaviour positive.
    distribution : {"time_delta", "delta_normal"}
        ``"time_delta"``: query ``y_i + (y_k - y_{k-time_delta})`` for a random ``k``;
        ``"delta_normal"``: query ``y_i + N(0, delta^2 I)``. The positive is the sample whose
        label is nearest the query.
    delta : float
        Standard deviation of the ``"delta_normal"`` query.
    rng : numpy.random.Generator
    time_delta : int, default=1
        Samples between the two labels whose difference displaces the ``"time_delta"`` query.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.linspace(0, 1, 100)[:, None]
    >>> sampler = ContrastiveSampler(100, 5, y, "time_delta", 0.1, np.random.default_rng(0))
    >>> batch = sampler.sample(16)
    >>> bool(np.all(batch.time_positive == batch.reference + 5))
    True
    """

    def __init__(
        self,
        n_samples: int,
        time_offset: int,
        labels: np.ndarray | None,
        distribution: str,
        delta: float,
        rng: np.random.Generator,
        time_delta: int = 1,
    ) -> None:
        if distribution not in BEHAVIOR_DISTRIBUTIONS:
            raise ValueError(
                f"behavior_distribution must be one of {BEHAVIOR_DISTRIBUTIONS}; "
                f"got {distribution!r}."
            )
        self.n_samples = n_samples
        self.time_offset = time_offset
        self.distribution = distribution
        self.delta = delta
        self.time_delta = time_delta
        self.rng = rng
        self.labels = labels
        self.tree = None if labels is None else cKDTree(labels)

    def sample(self, batch_size: int) -> Batch:
        """Draw ``batch_size`` references, negatives and positives."""
        reference = self.rng.integers(0, self.n_samples - self.time_offset, batch_size)
        negative = self.rng.integers(0, self.n_samples, batch_size)
        behavior_positive = None
        if self.tree is not None:
            behavior_positive = self.nearest(self.query(reference))
        return Batch(reference, negative, reference + self.time_offset, behavior_positive)

    def query(self, reference: np.ndarray) -> np.ndarray:
        """The label-space queries whose nearest neighbours are the behaviour positives."""
        anchor = self.labels[reference]
        if self.distribution == "time_delta":
            step = self.rng.integers(self.time_delta, self.n_samples, len(reference))
            return anchor + (self.labels[step] - self.labels[step - self.time_delta])
        return anchor + self.delta * self.rng.standard_normal(anchor.shape)

    def nearest(self, queries: np.ndarray) -> np.ndarray:
        """Index of the exact nearest neighbour (Euclidean) of each query among the labels."""
        return self.tree.query(queries, k=1)[1].astype(np.int64)

"""Surrogates that break the relation between X and y (or between X's features) while keeping
each series' own autocorrelation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SURROGATES = ("circular_shift", "block_shuffle")


@dataclass(frozen=True)
class Surrogate:
    """One surrogate data set, stored as the draw that makes it (never the data).

    ``kind``: ``"observed"`` (the data as they are), ``"circular_shift"`` (``y`` rolled by
    ``offsets[0]`` samples), ``"block_shuffle"`` (``y``'s blocks of ``block_length`` samples in
    the order ``order``) or ``"feature_shift"`` (each column ``j`` of ``X`` rolled by
    ``offsets[j]``).
    """

    kind: str
    offsets: tuple[int, ...] = ()
    order: tuple[int, ...] = ()
    block_length: int = 0

    def apply(self, X: np.ndarray, y: np.ndarray | None):
        """The surrogate ``(X, y)``."""
        if self.kind == "circular_shift":
            return X, np.roll(y, self.offsets[0], axis=0)
        if self.kind == "block_shuffle":
            return X, shuffle_blocks(y, self.order, self.block_length)
        if self.kind == "feature_shift":
            rolled = np.empty_like(X)
            for column, offset in enumerate(self.offsets):
                rolled[:, column] = np.roll(X[:, column], offset)
            return rolled, y
        return X, y


def shuffle_blocks(y: np.ndarray, order, block_length: int) -> np.ndarray:
    """``y`` cut into consecutive blocks of ``block_length`` (the last one shorter) and put
    back in ``order``."""
    pieces = [y[start : start + block_length] for start in range(0, len(y), block_length)]
    return np.concatenate([pieces[i] for i in order])


def draw_surrogates(kind: str, n_surrogates: int, n_samples: int, n_features: int,
                    min_shift: int, block_length: int, rng: np.random.Generator) -> list:
    """``n_surrogates`` draws of ``kind``: circular shifts of ``y`` by offsets uniform in
    ``[min_shift, n_samples - min_shift]``, block shuffles of ``y`` (never the identity
    order), or independent circular shifts of each feature of ``X``."""
    if kind == "circular_shift":
        offsets = rng.integers(min_shift, n_samples - min_shift + 1, n_surrogates)
        return [Surrogate(kind, offsets=(int(offset),)) for offset in offsets]
    if kind == "feature_shift":
        return [Surrogate(kind, offsets=tuple(int(v) for v in rng.integers(
            min_shift, n_samples - min_shift + 1, n_features))) for _ in range(n_surrogates)]
    n_blocks = -(-n_samples // block_length)
    draws = []
    while len(draws) < n_surrogates:
        order = rng.permutation(n_blocks)
        if np.any(order != np.arange(n_blocks)):
            draws.append(Surrogate(kind, order=tuple(int(i) for i in order),
                                   block_length=block_length))
    return draws


__all__ = ["SURROGATES", "Surrogate", "draw_surrogates", "shuffle_blocks"]

"""Which samples form a batch: references, negatives and one positive per objective.

References and negatives are shared by all objectives. Behaviour positives come from a
:class:`LabelIndex` built once per fit over the *distinct* label values. Continuous labels:
the exact nearest distinct value of a query, found by a k-d tree over the distinct values, then
a sample drawn uniformly among those that hold it. Recorded labels repeat (an animal resting,
tracking quantised to pixels); a tree over all ``T`` samples degenerates there, since a leaf of
identical points cannot be split and is scanned for every query. Over distinct values a draw
costs ``O(B log U)`` for ``U`` distinct values, whatever the repeats, and the same at
``T = 10^4`` and ``10^7``. With a behaviour gap the search takes the nearest value that has a
sample beyond the gap (the k nearest, k growing fourfold) and draws among that value's samples
beyond it, found by binary search over the samples sorted by value and then time. Discrete
labels (trials, conditions, stimulus identity): a sample drawn uniformly among those with the
reference's own value.

Indices are drawn on the host from a NumPy generator; :class:`BatchPrefetcher` draws the next
batches on a background thread while an accelerator computes the current step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

BEHAVIOR_DISTRIBUTIONS = ("time_delta", "delta_normal", "discrete")


@dataclass
class Batch:
    """Indices into the time axis for one training step (each an int64 array of length B)."""

    reference: np.ndarray
    negative: np.ndarray
    time_positive: np.ndarray
    behavior_positive: np.ndarray | None
    # Every behaviour group's positives, by the group's label columns (``None``: all of them).
    behavior_positives: dict | None = None


class LabelIndex:
    """The distinct rows of ``labels`` and, for each, the samples that hold it.

    Parameters
    ----------
    labels : ndarray of shape (T, L)
    nearest : bool, default=True
        Build the k-d tree over the distinct values that :meth:`nearest_value` needs (not
        needed for discrete labels).

    Attributes
    ----------
    values : ndarray of shape (U, L)
        The distinct rows, sorted.
    value_of_sample : ndarray of shape (T,)
        Row of ``values`` that each sample holds.
    counts : ndarray of shape (U,)
        Samples holding each value.

    Examples
    --------
    >>> import numpy as np
    >>> index = LabelIndex(np.array([[0.0], [1.0], [0.0], [0.0]]))
    >>> index.counts.tolist(), index.value_of_sample.tolist()
    ([3, 1], [0, 1, 0, 0])
    >>> sorted(set(index.draw(np.zeros(50, dtype=int), np.random.default_rng(0)).tolist()))
    [0, 2, 3]
    """

    def __init__(self, labels: np.ndarray, nearest: bool = True) -> None:
        # One stable lexicographic sort groups equal rows, with the samples of a value in time
        # order (several times faster than np.unique(axis=0), which sorts structured rows).
        self.samples_by_value = np.lexsort(labels.T[::-1])
        ordered = labels[self.samples_by_value]
        first = np.ones(len(labels), dtype=bool)
        first[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)  # -0.0 == 0.0: one value
        self.values = ordered[first]
        # The samples holding value u: samples_by_value[first_sample[u] : + counts[u]].
        self.first_sample = np.flatnonzero(first)
        self.counts = np.diff(np.append(self.first_sample, len(labels)))
        self.value_of_sample = np.empty(len(labels), dtype=np.int64)
        self.value_of_sample[self.samples_by_value] = np.cumsum(first) - 1
        # Strictly increasing over samples_by_value (value first, then time): one binary search
        # finds where a time window starts and ends among the samples of any value.
        self._value_time_key = (self.value_of_sample[self.samples_by_value] * (len(labels) + 1)
                                + self.samples_by_value)
        self.tree = cKDTree(self.values) if nearest else None

    def nearest_value(self, queries: np.ndarray, workers: int = 1) -> np.ndarray:
        """Row of ``values`` nearest (Euclidean) to each query; among distinct values exactly
        as near, the one the k-d tree returns."""
        return self.tree.query(queries, k=1, workers=workers)[1].astype(np.int64)

    def draw(self, value: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One sample drawn uniformly among those holding each ``value``."""
        within = rng.integers(0, self.counts[value])
        return self.samples_by_value[self.first_sample[value] + within]

    def holders_outside(self, value: np.ndarray, start: np.ndarray, stop: np.ndarray):
        """Where the samples holding ``value`` outside the time window ``start..stop``
        (inclusive) lie: ``(count outside, first position inside, count inside)``, positions
        into ``samples_by_value``; arrays broadcast."""
        base = value * (len(self.value_of_sample) + 1)
        inside_first = np.searchsorted(self._value_time_key, base + start, side="left")
        inside = np.searchsorted(self._value_time_key, base + stop, side="right") - inside_first
        return self.counts[value] - inside, inside_first, inside

    def draw_outside(self, value: np.ndarray, holders: tuple, rng: np.random.Generator
                     ) -> np.ndarray:
        """One sample drawn uniformly among those holding each ``value`` outside a time
        window, given ``holders``, what :meth:`holders_outside` returned for that ``value`` and
        window (every value must have a sample outside)."""
        outside, inside_first, inside = holders
        position = self.first_sample[value] + rng.integers(0, outside)
        return self.samples_by_value[position + np.where(position >= inside_first, inside, 0)]


class ContrastiveSampler:
    """Draw batches of indices for the time- and behaviour-contrastive objectives.

    Parameters
    ----------
    n_samples : int
        Length ``T`` of the time series.
    time_offset : int
        The time positive of reference ``i`` is ``i + time_offset``.
    labels : ndarray of shape (T, L) or None
        Behaviour; ``None`` disables the behaviour positive.
    distribution : {"time_delta", "delta_normal", "discrete"}
        ``"time_delta"``: query ``y_i + (y_k - y_{k-time_delta})`` for a random ``k``;
        ``"delta_normal"``: query ``y_i + N(0, delta^2 I)``. The positive is drawn uniformly
        among the samples whose label is the distinct value nearest the query.
        ``"discrete"``: drawn uniformly among the samples whose label equals ``y_i`` (the
        reference itself included).
    delta : float
        Standard deviation of the ``"delta_normal"`` query.
    rng : numpy.random.Generator
    time_delta : int, default=1
        Samples between the two labels whose difference displaces the ``"time_delta"`` query.
    workers : int, default=1
        Threads of the k-d tree query (``-1``: all cores); more than one only where the host
        has cores that the training computation does not use.
    indices : dict, default=None
        The :class:`LabelIndex` of each group's labels (by the group's key: ``None`` without
        ``groups``, else its tuple of columns) if the caller has built them already (with the
        k-d tree that a continuous ``distribution`` needs); unused without ``labels``.
    groups : list of tuple of int, default=None
        Behaviour groups: each tuple the columns of ``labels`` one behaviour objective
        contrasts; every group gets its own positives (``Batch.behavior_positives``, by the
        tuple), drawn with its own index. ``None``: all columns form one group (key ``None``).
    bounds : ndarray of int, default=None
        Trials: ``bounds[s]:bounds[s + 1]`` are the samples of trial ``s`` (see
        :func:`trial_bounds`); ``None`` is one trial. A reference is drawn uniformly among the
        samples whose time positive lies in the same trial, and the ``"time_delta"`` query's
        two labels lie in one trial too. Negatives and behaviour positives come from any
        trial.
    gap : int, default=0
        Continuous labels: the behaviour positive is the sample nearest the query among those
        more than ``gap`` samples from its reference in time (samples of other trials are
        never excluded); among distinct values exactly as near, the k-d tree's order. 0 keeps
        every sample. Where no sample of the trial lies outside the gap, the nearest value's.

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
        workers: int = 1,
        indices: dict | None = None,
        bounds: np.ndarray | None = None,
        groups: list[tuple[int, ...]] | None = None,
        gap: int = 0,
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
        self.gap = gap
        self.rng = rng
        self.labels = labels
        self.workers = workers
        self.indices = {}
        if labels is not None:
            self._group_labels = ({None: labels} if groups is None else
                                  {tuple(g): np.ascontiguousarray(labels[:, list(g)])
                                   for g in groups})
            self.indices = indices if indices is not None else {
                key: LabelIndex(values, nearest=distribution != "discrete")
                for key, values in self._group_labels.items()}
        self.index = next(iter(self.indices.values()), None)
        self.bounds = np.array([0, n_samples]) if bounds is None else np.asarray(bounds)
        self._lagged_counts = {}
        for name, lag in (("time_offset", time_offset), ("time_delta", time_delta)):
            if name == "time_delta" and (labels is None or distribution != "time_delta"):
                continue
            counts = np.maximum(np.diff(self.bounds) - lag, 0)
            if counts.sum() == 0:
                raise ValueError(
                    f"{name}={lag} needs a trial of at least {lag + 1} samples, but the "
                    f"longest of the {len(counts)} trial(s) has {np.diff(self.bounds).max()}."
                )
            self._lagged_counts[lag] = np.cumsum(counts), counts

    def lagged(self, lag: int, size: int) -> np.ndarray:
        """``size`` samples ``t`` drawn uniformly among those with ``t + lag`` in their trial.

        With one trial this is ``rng.integers(0, n_samples - lag, size)``, draw for draw.
        """
        cumulative, counts = self._lagged_counts[lag]
        draw = self.rng.integers(0, cumulative[-1], size)
        if len(counts) == 1:
            return draw
        trial = np.searchsorted(cumulative, draw, side="right")
        return self.bounds[trial] + draw - (cumulative[trial] - counts[trial])

    def sample(self, batch_size: int) -> Batch:
        """Draw ``batch_size`` references, negatives and positives."""
        reference = self.lagged(self.time_offset, batch_size)
        negative = self.rng.integers(0, self.n_samples, batch_size)
        positives = {group: self.behavior_positive(reference, group) for group in self.indices}
        return Batch(reference, negative, reference + self.time_offset,
                     next(iter(positives.values()), None), positives or None)

    def behavior_positive(self, reference: np.ndarray, group=None) -> np.ndarray:
        """The behaviour positive of each reference, in ``group``'s label columns (``None``:
        the ungrouped labels)."""
        index = self.indices[group]
        if self.distribution == "discrete":
            return index.draw(index.value_of_sample[reference], self.rng)
        queries = self.query(reference, group)
        if self.gap == 0:
            return index.draw(index.nearest_value(queries, self.workers), self.rng)
        return self._positive_outside_gap(index, queries, reference)

    def _positive_outside_gap(self, index: LabelIndex, queries: np.ndarray,
                              reference: np.ndarray) -> np.ndarray:
        """The sample nearest each query among those more than ``gap`` samples from its
        reference in the reference's trial: the k nearest distinct values, k growing
        fourfold for the queries none of whose k values has such a sample."""
        trial = np.searchsorted(self.bounds, reference, side="right") - 1
        start = np.maximum(reference - self.gap, self.bounds[trial])
        stop = np.minimum(reference + self.gap, self.bounds[trial + 1] - 1)
        positive = np.empty(len(reference), dtype=np.int64)
        pending = np.arange(len(reference))
        n_values, k = len(index.values), 8
        while pending.size:
            k = min(k, n_values)
            nearest = index.tree.query(queries[pending], k=k, workers=self.workers)[1]
            nearest = nearest.reshape(len(pending), k).astype(np.int64)
            holders = index.holders_outside(nearest, start[pending, None], stop[pending, None])
            outside = holders[0] > 0
            found = outside.any(1)
            if k == n_values:  # no sample outside the gap: the nearest value's own (column 0)
                found[:] = True
            chosen = np.flatnonzero(found), outside[found].argmax(1)
            value, holders = nearest[chosen], tuple(part[chosen] for part in holders)
            apart = holders[0] > 0
            rows = pending[found]
            positive[rows[apart]] = index.draw_outside(
                value[apart], tuple(part[apart] for part in holders), self.rng)
            positive[rows[~apart]] = index.draw(value[~apart], self.rng)
            pending, k = pending[~found], 4 * k
        return positive

    def query(self, reference: np.ndarray, group=None) -> np.ndarray:
        """The label-space queries whose nearest neighbours are the behaviour positives."""
        labels = self._group_labels[group]
        anchor = labels[reference]
        if self.distribution == "time_delta":
            step = self.lagged(self.time_delta, len(reference)) + self.time_delta
            return anchor + (labels[step] - labels[step - self.time_delta])
        return anchor + self.delta * self.rng.standard_normal(anchor.shape)


def trial_bounds(trials: np.ndarray) -> np.ndarray:
    """The bounds of the trials: ``bounds[s]:bounds[s + 1]`` are the samples of trial ``s``.

    A trial is a run of consecutive samples with the same id (rows are in time order), so an
    id that comes back after another starts a new trial.

    Examples
    --------
    >>> trial_bounds(np.array([7, 7, 7, 2, 2, 7]))
    array([0, 3, 5, 6])
    """
    changes = np.flatnonzero(trials[1:] != trials[:-1]) + 1
    return np.concatenate([[0], changes, [len(trials)]])


class BatchPrefetcher:
    """Draw batches on a background thread, ``depth`` ahead of the training loop.

    The thread is the only user of the sampler's generator and draws in order, so the batches
    are exactly those that drawing in the loop would give. ``prepare`` turns a batch into what
    the step needs on the host (e.g. one pinned index tensor), off the loop's thread as well.
    An error in the thread is raised by :meth:`next`; :meth:`close` stops the thread.

    Examples
    --------
    >>> import numpy as np
    >>> sampler = ContrastiveSampler(100, 5, None, "time_delta", 0.1, np.random.default_rng(0))
    >>> with BatchPrefetcher(sampler, 8, lambda batch: batch.reference) as batches:
    ...     first = batches.next()
    >>> serial = ContrastiveSampler(100, 5, None, "time_delta", 0.1, np.random.default_rng(0))
    >>> bool(np.array_equal(first, serial.sample(8).reference))
    True
    """

    def __init__(self, sampler: ContrastiveSampler, batch_size: int, prepare: Callable,
                 depth: int = 2) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sampler, batch_size, prepare), daemon=True,
            name="skattr-batch-prefetcher",
        )
        self._thread.start()

    def _run(self, sampler, batch_size, prepare) -> None:
        try:
            while not self._stop.is_set():
                item = (prepare(sampler.sample(batch_size)), None)
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as error:  # handed to the loop, which raises it
            self._queue.put((None, error))

    def next(self):
        """The next prepared batch, in drawing order."""
        item, error = self._queue.get()
        if error is not None:
            raise error
        return item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.01)

    def __enter__(self) -> BatchPrefetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class SerialBatches:
    """:class:`BatchPrefetcher`'s interface, drawing each batch when asked (no thread)."""

    def __init__(self, sampler: ContrastiveSampler, batch_size: int, prepare: Callable) -> None:
        self._sampler, self._batch_size, self._prepare = sampler, batch_size, prepare

    def next(self):
        return self._prepare(self._sampler.sample(self._batch_size))

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialBatches:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

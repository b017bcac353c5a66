"""Simulated navigation data: an agent foraging in a box, recorded by place, grid,
head-direction and speed cells (the ``ratinabox`` package, an optional extra)."""

from __future__ import annotations

from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

#: The cell types of :func:`make_ratinabox`, in the order of their columns.
CELL_TYPES = ("place", "grid", "head_direction", "speed")


@contextmanager
def _seeded_global_numpy(seed: int):
    """numpy's global generator seeded for the duration, then restored.

    ratinabox draws from ``np.random`` itself (cell centres, grid phases, the agent's random
    motion); seeding it here and restoring it after keeps the simulation reproducible without
    changing the caller's global random state.
    """
    state = np.random.get_state()  # noqa: NPY002 (ratinabox draws from the global generator)
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "dt": [Interval(Real, 0, None, closed="neither")],
        "n_place": [Interval(Integral, 0, None, closed="left")],
        "n_grid": [Interval(Integral, 0, None, closed="left")],
        "n_head_direction": [Interval(Integral, 0, None, closed="left")],
        "n_speed": [Interval(Integral, 0, None, closed="left")],
        "max_rate": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_ratinabox(
    n_samples: int = 5_000,
    *,
    dt: float = 0.1,
    n_place: int = 20,
    n_grid: int = 20,
    n_head_direction: int = 20,
    n_speed: int = 20,
    max_rate: float = 10.0,
    random_state=None,
) -> Bunch:
    """An agent foraging in a 1 m x 1 m box, recorded by four types of cells.

    The agent moves with ratinabox's default random motion (smooth speed and rotation, walls
    repel it); the simulation runs at ``dt``, the bin width of the recording. Each cell's rate
    is ratinabox's: place cells (Gaussian fields of width 0.2 m), grid cells (three modules of
    rectified cosines), head-direction cells (von Mises tuning of 45 degrees) and speed cells
    (linear in speed, each with its own gain and baseline). Spike counts are Poisson draws of
    ``rate x dt`` per bin.

    Needs ``ratinabox`` (``pip install skattr[ratinabox]``); nothing is downloaded.

    Parameters
    ----------
    n_samples : int, default=5000
        Time bins.
    dt : float, default=0.1
        Bin width and simulation step, in seconds.
    n_place, n_grid, n_head_direction, n_speed : int, default=20
        Cells of each type.
    max_rate : float, default=10.0
        Peak rate of the place, grid and head-direction cells, in Hz; the speed cells' rates
        reach about this at twice the mean speed.
    random_state : int, RandomState instance or None, default=None
        Seeds the cells, the agent's path and the spikes. numpy's global generator, which
        ratinabox uses, is seeded for the simulation and restored after it.

    Returns
    -------
    Bunch
        ``counts`` (n_samples, n_cells) spike counts; ``rates`` (n_samples, n_cells) in Hz;
        ``position`` (n_samples, 2) in m; ``head_direction`` (n_samples, 2), its cosine and
        sine; ``speed`` (n_samples,) in m/s; ``cell_type`` (n_cells,) one of
        ``CELL_TYPES`` per column; ``time`` (n_samples,) in s.

    Examples
    --------
    >>> from skattr.datasets import make_ratinabox
    >>> data = make_ratinabox(n_samples=200, n_place=3, n_grid=2, n_head_direction=2,
    ...                       n_speed=1, random_state=0)
    >>> data.counts.shape, data.position.shape, list(data.cell_type[[0, 3, 5, 7]])
    ((200, 8), (200, 2), ['place', 'grid', 'head_direction', 'speed'])
    """
    try:
        from ratinabox.Agent import Agent
        from ratinabox.Environment import Environment
        from ratinabox.Neurons import GridCells, HeadDirectionCells, PlaceCells, SpeedCell
    except ImportError as error:
        raise ImportError(
            "make_ratinabox needs the ratinabox package: pip install 'skattr[ratinabox]'."
        ) from error
    rng = check_random_state(random_state)
    seed = rng.randint(np.iinfo(np.int32).max)
    counts_rng = np.random.default_rng(seed)
    with _seeded_global_numpy(seed):
        environment = Environment(params={"scale": 1.0, "dimensionality": "2D"})
        agent = Agent(environment, params={"dt": dt})
        populations = []
        if n_place:
            populations.append(PlaceCells(agent, params={
                "n": n_place, "widths": 0.2, "max_fr": max_rate, "min_fr": 0.0}))
        if n_grid:
            populations.append(GridCells(agent, params={
                "n": n_grid, "max_fr": max_rate, "min_fr": 0.0}))
        if n_head_direction:
            populations.append(HeadDirectionCells(agent, params={
                "n": n_head_direction, "max_fr": max_rate, "min_fr": 0.0}))
        gains = counts_rng.uniform(0.5, 1.0, n_speed) * max_rate / 2
        baselines = counts_rng.uniform(0.0, 0.2, n_speed) * max_rate
        populations += [SpeedCell(agent, params={"max_fr": baseline + gain, "min_fr": baseline})
                        for gain, baseline in zip(gains, baselines, strict=True)]
        rates = np.empty((n_samples, n_place + n_grid + n_head_direction + n_speed))
        position = np.empty((n_samples, 2))
        head_direction = np.empty((n_samples, 2))
        speed = np.empty(n_samples)
        for t in range(n_samples):
            agent.update()
            position[t] = agent.pos
            head_direction[t] = agent.head_direction / np.linalg.norm(agent.head_direction)
            # The velocity the speed cells read (the agent's recorded one).
            speed[t] = np.linalg.norm(agent.history["vel"][-1])
            rates[t] = np.concatenate([np.ravel(p.get_state()) for p in populations])
    rates = np.maximum(rates, 0.0)
    counts = counts_rng.poisson(rates * dt).astype(float)
    cell_type = np.repeat(np.array(CELL_TYPES, dtype=object),
                          [n_place, n_grid, n_head_direction, n_speed])
    return Bunch(counts=counts, rates=rates, position=position,
                 head_direction=head_direction, speed=speed, cell_type=cell_type,
                 time=dt * np.arange(1, n_samples + 1))


__all__ = ["CELL_TYPES", "make_ratinabox"]

"""DQN → Q-table: the network's Q-values on a discretiser's grid, a start for on-robot learning.

The grid is uniform (``--bins``, else the env's qlearning preset, else 6 bins per channel), has
explicit inner edges in the channels' own units (``--bin-edges``), which puts the resolution where
the policy's decisions change, e.g. at 10-30 cm for a range sensor that reads up to 2 m, or fits
the rollouts (``--bins auto``, ``auto_grid``): per channel, edges at quantiles of the visited
states, no more bins than the default grid's and no more than keep ``AUTO_STATES_PER_BIN``
visited states per grid state.

Method ``visited`` (the default): a bin's row is the mean of the network's Q-values over the
rollout states that fall into it, so the table reproduces the DQN where the policy goes; bins no
rollout state reaches get the Q-values at the bin's centre. Method ``centres`` uses the centres
everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from shared.discretize import Discretizer
from shared.errors import SpecError
from shared.spec import TaskSpec
from trainer.errors import UsageError

METHODS = ("visited", "centres")
#: Bins per channel when neither ``--bins`` nor the env's qlearning preset gives them.
DEFAULT_BINS = 6
#: ``--bins auto``: visited states per grid state the grid aims at (fewer bins, more of them seen).
AUTO_STATES_PER_BIN = 2
#: ``--bins auto``: bins per channel at most.
AUTO_MAX_BINS = 16
#: Largest grid the exporter fills (rows × a few actions × 8 bytes stays a few MB).
MAX_STATES = 1_000_000


def _channel(position: int, names: Sequence[str] | None) -> str:
    """``channel 1 ('front_distance_m')``: a channel by its 0-based position and, if known, name."""
    if names is not None and position < len(names):
        return f"channel {position} ({names[position]!r})"
    return f"channel {position}"


def parse_bin_edges(text: str, names: Sequence[str] | None = None) -> tuple[tuple[float, ...], ...]:
    """``--bin-edges`` text → inner edges per list: ``0.1,0.3`` (every channel) or ``0.1;0.2,0.5``.

    Lists are separated by ``;``, edges within a list by ``,``; an empty list means one bin.
    ``names`` (the spec's channels) only make messages clearer; ``grid_for`` matches the lists to
    the channels and checks them against their ranges.
    """
    if not text.strip():
        raise UsageError(
            "--bin-edges: expected inner edges, e.g. 0.1,0.3 for every channel or "
            "0.1,0.3;0.2;0.5 for one list per channel, found an empty value"
        )
    lists = text.split(";")
    edges = []
    for position, part in enumerate(lists):
        values = []
        for token in part.split(",") if part.strip() else ():
            try:
                value = float(token)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                where = "every channel" if len(lists) == 1 else _channel(position, names)
                raise UsageError(
                    f"--bin-edges: {where}: expected finite numbers separated by ',' (and ';' "
                    f"between channels), found {token.strip()!r} in {part.strip()!r}"
                )
            values.append(value)
        edges.append(tuple(values))
    return tuple(edges)


def _edges_grid(spec: TaskSpec, edges: Sequence[Sequence[float]]) -> Discretizer:
    """The grid with inner ``edges``: one list for every channel, or one list per channel."""
    obs = spec.observation
    lists = [tuple(edges[0])] * obs.size if len(edges) == 1 else [tuple(e) for e in edges]
    if len(lists) != obs.size:
        raise UsageError(
            f"--bin-edges: expected 1 or {obs.size} ';'-separated edge lists (channels "
            f"{', '.join(obs.names)}, in that order), found {len(lists)}: "
            f"{[list(e) for e in edges]}"
        )
    for position, values in enumerate(lists):
        for value in values:
            number = isinstance(value, int | float | np.integer | np.floating)
            if isinstance(value, bool) or not number or not math.isfinite(value):
                raise UsageError(
                    f"--bin-edges: {_channel(position, obs.names)}: expected finite numbers, "
                    f"found {value!r} in {list(values)}"
                )
    try:
        return Discretizer.from_edges(lists, obs.lows, obs.highs, obs.names)
    except SpecError as exc:  # names the channel, the found edges and its (low, high)
        raise UsageError(f"--bin-edges: {exc}") from None


def grid_for(
    spec: TaskSpec,
    bins: Sequence[int] | None,
    edges: Sequence[Sequence[float]] | None = None,
) -> Discretizer:
    """The grid: inner ``edges`` per channel (in the channels' units, one list for all or one per
    channel), else ``bins`` (one count, or one per channel), else the qlearning preset's, else 6.
    """
    from trainer.hyperparams import build_config
    from trainer.qlearning import make_discretizer

    if edges is not None:
        if bins is not None:
            raise UsageError(
                f"--bins {','.join(map(str, bins))} and --bin-edges: give one of them (--bins "
                "makes uniform bins, --bin-edges places each edge)"
            )
        return _check_size(_edges_grid(spec, edges), "--bin-edges", "fewer edges per channel")
    overrides = []
    if bins is not None:
        counts = list(bins) * spec.observation.size if len(bins) == 1 else list(bins)
        if len(counts) != spec.observation.size:
            raise UsageError(
                f"--bins: expected 1 or {spec.observation.size} counts (channels "
                f"{', '.join(spec.observation.names)}), found {len(counts)}: {list(bins)}"
            )
        overrides.append("bins=" + ",".join(str(c) for c in counts))
    config = build_config("qlearning", spec.env_id, overrides)
    is_index = spec.observation.size == 1 and spec.observation.channels[0].unit == "index"
    if not config.bins and not is_index:  # a Discrete observation gets one bin per state
        config.bins = (DEFAULT_BINS,) * spec.observation.size
    return _check_size(make_discretizer(spec, config), "--bins", "fewer bins per channel")


def _check_size(grid: Discretizer, flag: str, fix: str) -> Discretizer:
    """``grid`` if the table fits in ``MAX_STATES`` rows, else a UsageError naming ``flag``."""
    if grid.n_states > MAX_STATES:
        raise UsageError(
            f"{flag}: {list(grid.n_bins)} bins make {grid.n_states} states, more than "
            f"{MAX_STATES}; use {fix}"
        )
    return grid


def auto_grid(spec: TaskSpec, visited_raw: np.ndarray, default: Discretizer) -> Discretizer:
    """``--bins auto``: the ``default`` grid (the preset's, else 6 bins per channel) when it has
    at most ``states / AUTO_STATES_PER_BIN`` states, which the rollouts can fill; else, per
    channel, at most the default's bins and at most k, the largest with ``k ** channels`` within
    that budget (2 to ``AUTO_MAX_BINS``), with edges at quantiles of the visited states, so that
    each bin of a channel holds about as many of them. Quantiles that coincide (a channel that
    sits at one value) merge, so such a channel gets fewer bins.

    Quantile edges put the bins where the policy spends its time, not where its decisions
    change, so a grid that is already affordable is kept: on ObstacleAvoid the uniform 6×6×6
    returned 803 and quantile edges -19,808 (docs/benchmarks/export.md)."""
    obs = spec.observation
    states = np.asarray(visited_raw, dtype=np.float64).reshape(-1, obs.size)
    budget = max(len(states) / AUTO_STATES_PER_BIN, 1.0)
    if default.n_states <= budget:
        return default
    counts = default.n_bins
    k = int(np.clip(math.floor(budget ** (1.0 / obs.size) + 1e-9), 2, AUTO_MAX_BINS))
    edges = []
    for position in range(obs.size):
        n = min(int(counts[position]), k)
        low, high = obs.lows[position], obs.highs[position]
        cuts = np.quantile(states[:, position], np.arange(1, n) / n)
        edges.append(tuple(float(c) for c in np.unique(cuts) if low < c < high))
    grid = Discretizer.from_edges(edges, obs.lows, obs.highs, obs.names)
    return _check_size(grid, "--bins auto", "--bins with fewer bins per channel")


def _is_uniform(grid: Discretizer) -> bool:
    """Whether ``grid`` has equal-width bins (--bins, the preset) rather than placed edges."""
    try:
        return grid == Discretizer.uniform(grid.lows, grid.highs, grid.n_bins, grid.names)
    except SpecError:  # too many bins for a uniform grid over that float range
        return False


def distill(
    q_values: Callable[[np.ndarray], np.ndarray],
    spec: TaskSpec,
    grid: Discretizer,
    visited_raw: np.ndarray,
    visited_q: np.ndarray,
    *,
    method: str = "visited",
) -> tuple[np.ndarray, dict[str, object]]:
    """The Q-table (n_states, n_actions) float64 and a description of how it was filled.

    Args:
        q_values: normalised observations (N, n_channels) → the network's Q-values (N, n_actions).
        spec: the run's task spec (normalises the bin centres).
        grid: the discretiser.
        visited_raw: rollout states, raw units (N, n_channels).
        visited_q: the network's Q-values at ``visited_raw`` (N, n_actions).
        method: ``visited`` or ``centres`` (see the module docstring).
    """
    if method not in METHODS:
        raise UsageError(f"--qtable-method: expected one of {METHODS}, found {method!r}")
    centres = grid.all_centers()
    table = np.asarray(q_values(spec.observation.normalize(centres)), dtype=np.float64)
    visited_bins = 0
    if method == "visited":
        index = grid.indices(visited_raw)
        counts = np.bincount(index, minlength=grid.n_states)
        sums = np.zeros_like(table)
        np.add.at(sums, index, np.asarray(visited_q, dtype=np.float64))
        seen = counts > 0
        table[seen] = sums[seen] / counts[seen, None]
        visited_bins = int(seen.sum())
    return table, {
        "method": method,
        "grid": "uniform" if _is_uniform(grid) else "edges",
        "table_bytes": int(table.nbytes),
        "bins": list(grid.n_bins),
        "grid_states": grid.n_states,
        "bins_visited": visited_bins,
    }

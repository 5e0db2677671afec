"""DQN → Q-table: the network's Q-values on a discretiser's grid, a start for on-robot learning.

Method ``visited`` (the default): a bin's row is the mean of the network's Q-values over the
rollout states that fall into it, so the table reproduces the DQN where the policy goes; bins no
rollout state reaches get the Q-values at the bin's centre. Method ``centres`` uses the centres
everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from shared.discretize import Discretizer
from shared.spec import TaskSpec
from trainer.errors import UsageError

METHODS = ("visited", "centres")
#: Bins per channel when neither ``--bins`` nor the env's qlearning preset gives them.
DEFAULT_BINS = 6
#: Largest grid the exporter fills (rows × a few actions × 8 bytes stays a few MB).
MAX_STATES = 1_000_000


def grid_for(spec: TaskSpec, bins: Sequence[int] | None) -> Discretizer:
    """The grid: ``bins`` (one count, or one per channel), else the qlearning preset's, else 6."""
    from trainer.hyperparams import build_config
    from trainer.qlearning import make_discretizer

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
    grid = make_discretizer(spec, config)
    if grid.n_states > MAX_STATES:
        raise UsageError(
            f"--bins: {list(grid.n_bins)} make {grid.n_states} states, more than "
            f"{MAX_STATES}; use fewer bins per channel"
        )
    return grid


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
        "bins": list(grid.n_bins),
        "grid_states": grid.n_states,
        "bins_visited": visited_bins,
    }

"""Uncertainty by a bootstrap over the drive's steps: the fit again on steps drawn with
replacement (each step's readings weighted by how often it was drawn), from the fitted values.

The readings within a step are far from independent (the rangers' median window shares each
ping between neighbouring ticks; the map's own errors repeat along a turn), so the Jacobian's
σ² (JᵀJ)⁻¹ alone is too small; whole steps are the units that vary independently.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import least_squares

from trainer.fit.model import SCALE_M, Replay, residuals

#: Resamples: enough for a standard deviation to ~15 %, and a fit in seconds.
RESAMPLES = 24


def step_spreads(
    replay: Replay,
    steps: tuple[str, ...],
    x: np.ndarray,
    latency: int,
    bounds: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
) -> np.ndarray:
    """The standard deviation of each parameter over fits on resampled steps."""
    segment = np.cumsum([0] + [a != b for a, b in itertools.pairwise(steps)])
    valid = np.isfinite(replay.ranges_m)
    per_reading = np.broadcast_to(segment[:, None], valid.shape)[valid]
    rng = np.random.default_rng(seed)
    count = int(segment[-1]) + 1
    values = []
    for _ in range(RESAMPLES):
        drawn = np.bincount(rng.integers(0, count, count), minlength=count).astype(float)
        scale = np.sqrt(drawn[per_reading])
        solution = least_squares(
            lambda y, s=scale: residuals(replay, y, latency) * s,
            np.clip(x, bounds[0] + 1e-6, bounds[1] - 1e-6),
            bounds=bounds,
            diff_step=1e-4,
            x_scale=np.array([0.1, 0.1, 0.05, 0.3, 5.0]),
            loss="soft_l1",
            f_scale=SCALE_M,
        )
        values.append(solution.x)
    return np.std(np.array(values), axis=0, ddof=1)


def _segments(replay: Replay, steps: tuple[str, ...]) -> tuple[np.ndarray, int]:
    """Each valid reading's step (a run of ticks in one plan step), and how many steps."""
    segment = np.cumsum([0] + [a != b for a, b in itertools.pairwise(steps)])
    valid = np.isfinite(replay.ranges_m)
    return np.broadcast_to(segment[:, None], valid.shape)[valid], int(segment[-1]) + 1


def share_better(
    replay: Replay, steps: tuple[str, ...], costs: tuple[np.ndarray, np.ndarray], seed: int = 0
) -> float:
    """How often the first fit's cost (per reading) stays below the second's over steps drawn
    with replacement: a paired bootstrap of which of two fits the drive prefers."""
    per_reading, count = _segments(replay, steps)
    difference = np.bincount(per_reading, costs[1] - costs[0], count)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, count, (2000, count))
    return float(np.mean(difference[drawn].sum(axis=1) > 0.0))

"""The rangers' noise and dropout: from the ``still`` step, and from readings against the map."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from trainer.fit.estimate import Estimate
from trainer.fit.log import CalibrationLog
from trainer.fit.model import Replay, bearings

#: The largest uncertainty of an identified dropout rate.
_DROPOUT_SIGMA = 0.02


def median_factor(queue_len: int) -> float:
    """The standard deviation of the median of ``queue_len`` unit normals (gpiozero's window)."""
    draws = np.random.default_rng(0).standard_normal((200_000, queue_len))
    return float(np.median(draws, axis=1).std())


def noise(log: CalibrationLog) -> Estimate:
    """σ of the raw readings from the still step: the readings' spread, undoing the median."""
    still = np.array([step == "still" for step in log.steps])
    ranges = log.ranges_m[still]
    spreads, count = [], 0
    for column in ranges.T:
        usable = column[np.isfinite(column) & (column < log.top_m - 1e-6)]
        if len(usable) >= 5:
            spreads.append(np.sum((usable - usable.mean()) ** 2))
            count += len(usable) - 1
    if count < 10:
        return Estimate(
            math.nan, math.inf, False, "noise: the still step had too few readings in range"
        )
    sigma = math.sqrt(sum(spreads) / count) / median_factor(log.queue_len)
    # Neighbouring medians share readings: about a third as many independent ones.
    return Estimate(sigma, sigma / math.sqrt(2.0 * count / max(log.queue_len, 1)), True)


def dropout(
    log: CalibrationLog, replay: Replay, x: np.ndarray, latency: int, r: np.ndarray
) -> Estimate:
    """The chance a ping misses its echo: readings at the top where the map is well below it."""
    _, seen = bearings(replay, x, latency)
    seen = seen[np.isfinite(seen)]
    predicted = seen - r
    near = predicted < log.top_m - 0.6
    total = int(near.sum())
    if total < 200:
        return Estimate(math.nan, math.inf, False, "dropout: too few readings in range")
    share = float((seen[near] >= log.top_m - 1e-6).sum()) / total
    q = log.queue_len
    need = q // 2 + 1

    def shown(p: float) -> float:
        return sum(math.comb(q, j) * p**j * (1 - p) ** (q - j) for j in range(need, q + 1))

    prob = 0.0 if share <= 0 else brentq(lambda p: shown(p) - share, 0.0, 1.0)
    sigma = math.sqrt(max(share, 1.0 / total) * (1 - share) / total) ** (1.0 / need)
    if sigma > _DROPOUT_SIGMA:
        why = f"dropout: the median window hides single missed echoes (±{sigma:.2g})"
        return Estimate(prob, sigma, False, why)
    return Estimate(prob, sigma, True)

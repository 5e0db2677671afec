"""The replay: the logged duties through ``shared.world``'s drive model, and the ranges' map.

``shared.world`` drives each wheel towards ``sign(d) × gain × max speed × (|d| - dead band) /
(1 - dead band)`` with a first-order lag, integrated exactly; here the same recursion runs over
all ticks at once (a linear filter), giving the heading and the centre's position at each tick.

A robot turning on the spot sees its surroundings as a range-vs-bearing map ``M(bearing)``: each
ranger faces outwards on the mount circle, so ranger ``k`` (facing ``φ_k`` off the heading) reads
``M(θ + φ_k)``. With the right parameters every ranger and every step agree on one map; the
residual of each reading against the map the others make (leave-one-out) is what the fit
minimises. The map is kept on ``BINS`` bearing bins, each reading shared between its two nearest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from shared.world import DriveParams
from trainer.fit.log import CalibrationLog

#: Bearing bins of the map (0.5° each), smoothed by a narrow Gaussian (σ in bins) where the
#: readings are dense and a wide one where they are sparse (its share of the weight).
BINS = 720
NARROW_BINS = 2.0
WIDE_BINS = 8.0
WIDE_SHARE = 0.1
#: Residuals beyond about this (m) count linearly, not squared (``least_squares``' f_scale).
SCALE_M = 0.05
#: The drive's reference geometry: a fitted gain is relative to the simulator's motor.
REFERENCE = DriveParams()
#: The parameter vector's order (``x``): each gain, the dead band, log τ, the side angle (deg).
NAMES = ("left_gain", "right_gain", "dead_band", "log_time_constant", "side_ranger_deg")


@dataclass(frozen=True)
class Replay:
    """What the fit needs of a log, as arrays: duties, ranges, which readings count."""

    duties: np.ndarray  # (n, 2)
    ranges_m: np.ndarray  # (n, 3), nan where refused
    dt_s: float
    top_m: float
    #: The median window's delay (ticks): a reading is the median of the last ``queue_len``.
    median_lag: float

    @classmethod
    def of(cls, log: CalibrationLog) -> Replay:
        """The replay of ``log``."""
        return cls(
            duties=log.duties,
            ranges_m=log.ranges_m,
            dt_s=log.dt_s,
            top_m=log.top_m,
            median_lag=(log.queue_len - 1) / 2.0,
        )


def targets(duties: np.ndarray, gain: float, dead_band: float) -> np.ndarray:
    """Target wheel speeds (rad/s) for duties, as ``DriveParams.target_wheel_speed_rad_s``."""
    magnitude = np.minimum(np.abs(duties), 1.0)
    fraction = np.where(magnitude > dead_band, (magnitude - dead_band) / (1.0 - dead_band), 0.0)
    return np.sign(duties) * fraction * gain * REFERENCE.max_wheel_speed_rad_s


def poses(replay: Replay, x: np.ndarray, latency: int) -> np.ndarray:
    """(n, 3): x, y (m) and heading (rad) at each tick, from rest at the origin."""
    left_gain, right_gain, dead_band, log_tau, _ = x
    tau = math.exp(log_tau)
    dt = replay.dt_s
    applied = np.vstack([np.zeros((latency, 2)), replay.duties[: len(replay.duties) - latency]])
    target = np.column_stack(
        [
            targets(applied[:, 0], left_gain, dead_band),
            targets(applied[:, 1], right_gain, dead_band),
        ]
    )
    decay = math.exp(-dt / tau)
    after = lfilter([1.0 - decay], [1.0, -decay], target, axis=0)  # speed at each tick's end
    before = np.vstack([np.zeros((1, 2)), after[:-1]])
    mean = target + (before - target) * (tau / dt * (1.0 - decay))
    radius = REFERENCE.wheel_radius_m
    turn = (mean[:, 1] - mean[:, 0]) * radius / REFERENCE.wheel_base_m * dt
    speed = (mean[:, 1] + mean[:, 0]) / 2.0 * radius * dt
    heading = np.concatenate([[0.0], np.cumsum(turn)[:-1]])
    middle = heading + turn / 2.0
    xs = np.concatenate([[0.0], np.cumsum(speed * np.cos(middle))[:-1]])
    ys = np.concatenate([[0.0], np.cumsum(speed * np.sin(middle))[:-1]])
    return np.column_stack([xs, ys, heading])


def _delayed(values: np.ndarray, lag: float) -> np.ndarray:
    """``values`` (n, c) ``lag`` ticks earlier (linear between ticks; the first held)."""
    if lag == 0:
        return values
    index = np.arange(len(values)) - lag
    index = np.clip(index, 0.0, None)
    low = np.floor(index).astype(int)
    high = np.minimum(low + 1, len(values) - 1)
    frac = (index - low)[:, None]
    return values[low] * (1.0 - frac) + values[high] * frac


def bearings(replay: Replay, x: np.ndarray, latency: int) -> tuple[np.ndarray, np.ndarray]:
    """Each reading's bearing (rad) and its range seen from the start (m), both (n, 3)."""
    side = math.radians(x[4])
    pose = _delayed(poses(replay, x, latency), replay.median_lag)
    angle = pose[:, 2:3] + np.array([side, 0.0, -side])
    ranges = replay.ranges_m
    # Seen from the start: a reading from a point moved by p is longer by p · u(bearing).
    shift = pose[:, 0:1] * np.cos(angle) + pose[:, 1:2] * np.sin(angle)
    seen = np.where(ranges < replay.top_m - 1e-6, ranges + shift, replay.top_m)
    return angle, seen


def _kernel(width_bins: float) -> np.ndarray:
    """The FFT of a circular Gaussian of ``width_bins`` (σ), 1 at its centre."""
    offset = np.minimum(np.arange(BINS), BINS - np.arange(BINS))
    return np.fft.rfft(np.exp(-0.5 * (offset / width_bins) ** 2))


_NARROW = _kernel(NARROW_BINS)
_WIDE = _kernel(WIDE_BINS)


def _smooth(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.fft.irfft(np.fft.rfft(values) * kernel, BINS)


def _binned(replay: Replay, x: np.ndarray, latency: int) -> tuple[np.ndarray, ...]:
    """The readings on the map's bins: (seen, low bin, high bin, their weights, the map's
    weight per bin, its level per bin)."""
    angle, seen = bearings(replay, x, latency)
    valid = np.isfinite(seen)
    angle, seen = angle[valid], seen[valid]
    position = np.mod(angle, 2.0 * math.pi) * (BINS / (2.0 * math.pi))
    low = np.floor(position).astype(int) % BINS
    high = (low + 1) % BINS
    w_high = position - np.floor(position)
    w_low = 1.0 - w_high
    weight = np.bincount(low, w_low, BINS) + np.bincount(high, w_high, BINS)
    total = np.bincount(low, w_low * seen, BINS) + np.bincount(high, w_high * seen, BINS)
    # Narrow where readings are dense, wide where they are sparse; a light prior at the mean
    # keeps empty stretches defined.
    prior = 1e-3
    weight_s = _smooth(weight, _NARROW) + WIDE_SHARE * _smooth(weight, _WIDE) + prior
    total_s = (
        _smooth(total, _NARROW) + WIDE_SHARE * _smooth(total, _WIDE) + prior * float(np.mean(seen))
    )
    return seen, low, high, w_low, w_high, weight_s, total_s / weight_s


def map_levels(replay: Replay, x: np.ndarray, latency: int) -> tuple[np.ndarray, np.ndarray]:
    """The map: each bin's range (m) and how many readings it holds (weights)."""
    *_, weight, level = _binned(replay, x, latency)
    return level, weight


def residuals(replay: Replay, x: np.ndarray, latency: int) -> np.ndarray:
    """Each reading minus the map the other readings make at its bearing (leave-one-out)."""
    seen, low, high, w_low, w_high, weight, level = _binned(replay, x, latency)
    predicted = w_low * level[low] + w_high * level[high]
    leverage = (1.0 + WIDE_SHARE) / (w_low * weight[low] + w_high * weight[high])
    return (seen - predicted) / np.maximum(1.0 - leverage, 0.05)


def costs(replay: Replay, x: np.ndarray, latency: int) -> np.ndarray:
    """Each reading's share of ``cost``."""
    z = residuals(replay, x, latency) / SCALE_M
    return SCALE_M**2 * (np.sqrt(1.0 + z * z) - 1.0)


def cost(replay: Replay, x: np.ndarray, latency: int) -> float:
    """What the optimiser minimises: ``least_squares``'s soft-L1 cost of the residuals (a
    residual well above ``SCALE_M``, a reading across an edge of the map, counts less)."""
    return float(np.sum(costs(replay, x, latency)))

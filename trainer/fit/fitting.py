"""The fit: each latency 0..4 ticks, the drive's and rangers' parameters by least squares on the
map residuals (``trainer.fit.model``), then the rangers' noise and dropout.

A coarse grid (one gain for both motors × the dead band) starts each latency's fit near the
right turn rates, a scan starts the side angle, then ``scipy.optimize.least_squares`` fits all
five together. The latency with the smallest residual wins; its uncertainty, and each value's,
come from the optimiser's Jacobian (σ² (JᵀJ)⁻¹, σ² from the residual).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from trainer.fit.bootstrap import share_better, step_spreads
from trainer.fit.estimate import Estimate
from trainer.fit.log import CalibrationLog
from trainer.fit.model import (
    BINS,
    NAMES,
    REFERENCE,
    SCALE_M,
    Replay,
    cost,
    costs,
    map_levels,
    residuals,
)
from trainer.fit.sensors import dropout, noise

LATENCIES = range(5)
_GAINS = np.geomspace(0.3, 2.5, 28)
_DEAD_BANDS = np.linspace(0.0, 0.5, 11)
_SIDES = np.arange(10.0, 86.0, 5.0)
_LOG_TAUS = np.log(np.geomspace(0.03, 0.6, 12))
#: Left gain over right gain, at the same sum.
_RATIOS = np.geomspace(0.33, 3.0, 25)
#: Least squares starts from this many grid points of distinct gains.
_STARTS = 3
#: Turn-rate aliases checked (largest first), and how alike their map copies must be.
_ALIASES = (3, 2)
_ALIAS_GAP = 0.7
#: Rounds of scans before least squares.
_ROUNDS = 2
_LOWER = np.array([0.05, 0.05, 0.0, math.log(0.01), 5.0])
_UPPER = np.array([3.0, 3.0, 0.9, math.log(1.5), 89.0])
#: The simulator's reference robot, as the parameter vector (and no latency).
DEFAULT_X = np.array(
    [1.0, 1.0, REFERENCE.dead_band, math.log(REFERENCE.time_constant_s), 45.0], dtype=float
)
#: The largest uncertainty that still counts as identified, per parameter.
_IDENTIFIED = {
    "left_gain": ("relative", 0.1),
    "right_gain": ("relative", 0.1),
    "dead_band": ("absolute", 0.05),
    "time_constant_s": ("relative", 0.5),
    "side_ranger_deg": ("absolute", 5.0),
}
#: The best latency must fit better than the runner-up in this share of step resamples.
_LATENCY_SHARE = 0.8


@dataclass
class FitResult:
    """Everything the fit found, and how well the replay reproduces the log."""

    estimates: dict[str, Estimate] = field(default_factory=dict)
    #: RMS (m) of the ranges against the map, replayed with the fitted / the default parameters.
    residual_m: float = math.nan
    default_residual_m: float = math.nan
    readings: int = 0
    #: Cost per latency tried (half the sum of squared residuals).
    latency_costs: dict[int, float] = field(default_factory=dict)
    #: How often the chosen latency beat the runner-up over resampled steps.
    latency_share: float = math.nan


def fit(log: CalibrationLog) -> FitResult:
    """Fit ``log``: every parameter the drive identifies, each with its uncertainty."""
    replay = Replay.of(log)
    fits = _cross_seeded(replay, {latency: _fit_latency(replay, latency) for latency in LATENCIES})
    best = min(fits, key=lambda k: fits[k].cost)
    chosen = _unaliased(replay, best, fits[best])
    r = residuals(replay, chosen.x, best)
    n, p = len(r), len(chosen.x) + 1
    s2 = float(r @ r) / max(n - p, 1)
    result = FitResult(
        residual_m=float(np.sqrt(np.mean(r**2))),
        default_residual_m=float(np.sqrt(np.mean(residuals(replay, DEFAULT_X, 0) ** 2))),
        readings=n,
        latency_costs={k: round(f.cost, 6) for k, f in fits.items()},
    )
    sigmas = np.maximum(
        _sigmas(chosen.jac, s2),
        step_spreads(replay, log.steps, chosen.x, best, (_LOWER, _UPPER)),
    )
    for index, key in enumerate(NAMES):
        value, sigma, name = float(chosen.x[index]), float(sigmas[index]), key
        if key == "log_time_constant":
            name, value, sigma = "time_constant_s", math.exp(value), math.exp(value) * sigma
        result.estimates[name] = _judged(name, value, sigma, chosen.x[index], index)
    if "side_ranger_deg" in result.estimates and not result.estimates["side_ranger_deg"].identified:
        result.estimates["side_ranger_deg"].why_not = (
            "side rangers' angle: the surroundings had no structure both a side and the front "
            "ranger saw"
        )
    runner_up = min((k for k in fits if k != best), key=lambda k: fits[k].cost)
    share = share_better(
        replay,
        log.steps,
        (costs(replay, chosen.x, best), costs(replay, fits[runner_up].x, runner_up)),
    )
    result.latency_share = share
    result.estimates["latency_ticks"] = Estimate(
        float(best),
        0.0,
        share >= _LATENCY_SHARE,
        ""
        if share >= _LATENCY_SHARE
        else (
            f"latency: {best} ticks fits better than {runner_up} in only {share:.0%} of the "
            "drive's steps resampled"
        ),
    )
    result.estimates["noise_std_m"] = noise(log)
    result.estimates["dropout_prob"] = dropout(log, replay, chosen.x, best, r)
    return result


@dataclass
class _LatencyFit:
    x: np.ndarray
    cost: float
    jac: np.ndarray


def _fit_latency(replay: Replay, latency: int) -> _LatencyFit:
    """The best parameters for one latency: a grid, scans, then least squares from the best few
    grid points (a turn rate off by a factor can fit a map that repeats)."""
    grid = []
    for gain in _GAINS:
        for dead_band in _DEAD_BANDS:
            x = np.array([gain, gain, dead_band, DEFAULT_X[3], DEFAULT_X[4]])
            grid.append((cost(replay, x, latency), x))
    grid.sort(key=lambda pair: pair[0])
    starts: list[np.ndarray] = []
    for _, x in grid:
        if all(abs(math.log(x[0] / other[0])) > 0.1 for other in starts):
            starts.append(x)
        if len(starts) == _STARTS:
            break
    fits = [_polished(replay, latency, start) for start in starts]
    return min(fits, key=lambda f: f.cost)


def _cross_seeded(replay: Replay, fits: dict[int, _LatencyFit]) -> dict[int, _LatencyFit]:
    """Each latency's fit again from every other latency's, its time constant shifted by the
    difference (a tick of latency and a tick of lag look alike): the best of them all."""
    out = {}
    for latency, own in fits.items():
        best = own
        for other, fit_ in fits.items():
            if other == latency:
                continue
            x = fit_.x.copy()
            tau = math.exp(x[3]) + (other - latency) * replay.dt_s
            x[3] = math.log(min(max(tau, 0.02), 1.0))
            candidate = _polished(replay, latency, x)
            if candidate.cost < best.cost:
                best = candidate
        out[latency] = best
    return out


def _polished(replay: Replay, latency: int, start: np.ndarray) -> _LatencyFit:
    """Scan each parameter in turn, then least squares; again from there (``_ROUNDS``)."""
    found = _LatencyFit(start, cost(replay, start, latency), np.zeros((1, len(start))))
    for _ in range(_ROUNDS):
        best, chosen = found.cost, found.x
        for scan in _scans(chosen):
            for x in scan:
                c = cost(replay, x, latency)
                if c < best:
                    best, chosen = c, x
        polished = _least_squares(replay, latency, chosen)
        if polished.cost >= found.cost - 1e-9 and found.jac.shape[0] > 1:
            break
        found = polished
    return found


def _scans(x: np.ndarray) -> list[list[np.ndarray]]:
    """Candidates along each direction from ``x``: τ, the gains' ratio, the side angle, the
    gains' scale, the dead band."""
    total = x[0] + x[1]

    def with_(index: int, value: float) -> np.ndarray:
        y = x.copy()
        y[index] = value
        return y

    ratio = [np.array([total * r / (1 + r), total / (1 + r), *x[2:]]) for r in _RATIOS]
    scale = [np.array([x[0] * f, x[1] * f, *x[2:]]) for f in np.linspace(0.85, 1.15, 13)]
    dead = [with_(2, v) for v in np.clip(x[2] + np.linspace(-0.06, 0.06, 13), 0.0, 0.85)]
    return [
        [with_(3, v) for v in _LOG_TAUS],
        ratio,
        [with_(4, v) for v in _SIDES],
        scale,
        dead,
    ]


def _least_squares(replay: Replay, latency: int, x: np.ndarray) -> _LatencyFit:
    """``scipy.optimize.least_squares`` on the map residuals from ``x``."""
    solution = least_squares(
        lambda y: residuals(replay, y, latency),
        np.clip(x, _LOWER + 1e-6, _UPPER - 1e-6),
        bounds=(_LOWER, _UPPER),
        diff_step=1e-4,
        x_scale=np.array([0.1, 0.1, 0.05, 0.3, 5.0]),
        loss="soft_l1",
        f_scale=SCALE_M,
    )
    return _LatencyFit(solution.x, float(solution.cost), solution.jac)


def _unaliased(replay: Replay, latency: int, found: _LatencyFit) -> _LatencyFit:
    """The fit at ``n`` times the turn rate when its map repeats ``n`` times round.

    Turning at 1/n of the true rate (and the side angle at 1/n) is as consistent as the truth:
    the map just holds n copies of the surroundings, one per 2π/n. The surroundings do not
    repeat, so a map that does is the alias; the largest ``n`` whose copies agree wins.
    """
    level, weight = map_levels(replay, found.x, latency)
    seen = weight > 1.0
    spread = float(np.std(level[seen])) if seen.any() else 0.0
    for n in _ALIASES:
        shift = BINS // n
        both = seen & np.roll(seen, -shift)
        if both.sum() < BINS // 4 or spread == 0.0:
            continue
        gap = float(np.sqrt(np.mean((level[both] - np.roll(level, -shift)[both]) ** 2)))
        scaled = found.x * np.array([n, n, 1.0, 1.0, n])
        if gap < _ALIAS_GAP * spread and np.all(scaled <= _UPPER):
            return _least_squares(replay, latency, scaled)
    return found


def _sigmas(jac: np.ndarray, s2: float) -> np.ndarray:
    """1-σ uncertainties from the Jacobian (inf where a column does not matter)."""
    try:
        cov = np.linalg.inv(jac.T @ jac) * s2
    except np.linalg.LinAlgError:
        return np.full(jac.shape[1], math.inf)
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))


def _judged(name: str, value: float, sigma: float, raw: float, index: int) -> Estimate:
    """An estimate, identified when its uncertainty is small and it is not at a bound."""
    kind, limit = _IDENTIFIED[name]
    allowed = limit * abs(value) if kind == "relative" else limit
    at_bound = min(raw - _LOWER[index], _UPPER[index] - raw) < 1e-3
    if not math.isfinite(sigma) or sigma > allowed or at_bound:
        reason = "at the edge of its range" if at_bound else f"uncertainty ±{sigma:.3g}"
        return Estimate(value, sigma, False, f"{name}: the drive does not pin it down ({reason})")
    return Estimate(value, sigma, True)

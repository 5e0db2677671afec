"""What a fit becomes: a robot profile's ``[env]`` and ``[fit.*]`` tables, and the printed table."""

from __future__ import annotations

import math
from typing import Any

from trainer.fit.fitting import FitResult
from trainer.fit.log import CalibrationLog

ENV_ID = "sim2pi/ObstacleAvoid-v0"
#: The env's control period (s): a latency in the log's ticks becomes the env's ticks.
ENV_PERIOD_S = 0.05
#: The order of the table and of ``[fit]``, with each value's unit.
ORDER = (
    ("left_gain", ""),
    ("right_gain", ""),
    ("dead_band", ""),
    ("time_constant_s", "s"),
    ("latency_ticks", "ticks"),
    ("side_ranger_deg", "deg"),
    ("noise_std_m", "m"),
    ("dropout_prob", ""),
)


def env_kwargs(result: FitResult, log: CalibrationLog) -> dict[str, Any]:
    """The env's keyword arguments for every identified parameter (the rest keep the env's)."""
    found = {name: e.value for name, e in result.estimates.items() if e.identified}
    env: dict[str, Any] = {}
    if "left_gain" in found and "right_gain" in found:
        mean = (found["left_gain"] + found["right_gain"]) / 2.0
        env["motor_gain"] = _round(min(mean, 2.0))
        env["left_motor_gain"] = _round(found["left_gain"] / mean)
        env["right_motor_gain"] = _round(found["right_gain"] / mean)
    if "dead_band" in found:
        env["dead_band_range"] = [_round(found["dead_band"])] * 2
    if "time_constant_s" in found:
        env["motor_time_constant_s"] = _round(min(max(found["time_constant_s"], 0.01), 2.0))
    if "latency_ticks" in found:
        env["latency_ticks"] = round(found["latency_ticks"] * log.dt_s / ENV_PERIOD_S)
    if "noise_std_m" in found:
        env["sensor_noise_m"] = _round(found["noise_std_m"])
    if "dropout_prob" in found:
        env["dropout_prob"] = _round(found["dropout_prob"])
    if "side_ranger_deg" in found:
        env["side_ranger_deg"] = _round(min(found["side_ranger_deg"], 90.0))
    return env


def fit_tables(result: FitResult, log: CalibrationLog) -> dict[str, Any]:
    """``[fit]``: the log, the residuals, what was not identified; ``[fit.NAME]`` per value."""
    missing = [e.why_not for _, e in _ordered(result) if not e.identified]
    tables: dict[str, Any] = {
        "log": str(log.path),
        "ticks": len(log.steps),
        "rate_hz": log.rate_hz,
        "readings": result.readings,
        "residual_m": _round(result.residual_m),
        "default_residual_m": _round(result.default_residual_m),
        "not_identified": missing,
    }
    for name, estimate in _ordered(result):
        entry: dict[str, Any] = {"identified": estimate.identified}
        if math.isfinite(estimate.value):
            entry["value"] = _round(estimate.value)
        if math.isfinite(estimate.sigma):
            entry["uncertainty"] = _round(estimate.sigma)
        if not estimate.identified:
            entry["why_not"] = estimate.why_not
        tables[name] = entry
    return {"fit": tables}


def table_lines(result: FitResult) -> list[str]:
    """The fit as a table for a person: each value ± its uncertainty, then the residuals."""
    lines = [f"{'parameter':<18} {'fitted':>10} {'± 1σ':>9}  identified"]
    for name, estimate in _ordered(result):
        unit = dict(ORDER)[name]
        value = "—" if not math.isfinite(estimate.value) else f"{estimate.value:.4g}"
        sigma = "—" if not math.isfinite(estimate.sigma) else f"{estimate.sigma:.2g}"
        said = "yes" if estimate.identified else f"no: {estimate.why_not}"
        lines.append(f"{name:<18} {value:>10} {sigma:>9}  {said}{f' ({unit})' if unit else ''}")
    lines.append(
        f"range residual (RMS over {result.readings} readings): fitted simulator "
        f"{result.residual_m:.4f} m, default simulator {result.default_residual_m:.4f} m"
    )
    return lines


def _ordered(result: FitResult) -> list[tuple[str, Any]]:
    return [(name, result.estimates[name]) for name, _ in ORDER if name in result.estimates]


def _round(value: float) -> float:
    """Four significant digits: the fit is not more precise than that."""
    return float(f"{value:.4g}")

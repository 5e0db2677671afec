"""The calibration log: the loop's tick telemetry (every tick) and its header, a sidecar
``PATH.meta.json`` (``docs/calibration.md`` documents both field by field).

The ticks are JSON Lines as ``robot run`` writes them (``python -m trainer plot-telemetry``
reads them), so the header lives beside them: written before the drive starts (what was
planned), replaced atomically at the end with the summary (how it went).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robot.calibration.plan import Step, plan_duration_s
from robot.config import RobotConfig, TelemetryConfig
from robot.errors import ConfigError
from shared.files import os_reason
from shared.spec import ObservationSpec

#: The header's ``format``; a reader refuses what it does not know.
FORMAT = "sim2pi-calibration"
FORMAT_VERSION = 1
#: Bytes of one tick's record, generously (a record is ~300 bytes): the log is sized with it.
RECORD_BYTES = 600
#: The telemetry writer rotates at this size: the log never reaches it (it is checked first).
NEVER_ROTATE_BYTES = 10_000_000_000
LOG_NAME = "calibration.jsonl"


def default_log_path(config: RobotConfig) -> Path:
    """``calibration.jsonl`` beside the config's telemetry file."""
    return config.telemetry.path.parent / LOG_NAME


def meta_path(log: Path) -> Path:
    """The header's path: ``PATH.meta.json``."""
    return log.with_name(f"{log.name}.meta.json")


def log_telemetry(log: Path, ticks: int) -> TelemetryConfig:
    """Telemetry of every tick to ``log``, never rotated; ConfigError when ``log``'s folder
    cannot take ``ticks`` records (it is made if missing)."""
    where = f"calibrate --log {log}"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(log.parent).free
    except OSError as exc:
        raise ConfigError(
            f"{where}: cannot make its folder ({os_reason(exc)}); choose another --log"
        ) from None
    needed = ticks * RECORD_BYTES
    if free < 2 * needed:
        raise ConfigError(
            f"{where}: expected {2 * needed / 1e6:.1f} MB free for the drive's log, found "
            f"{free / 1e6:.1f} MB; free some space or choose another --log"
        )
    if log.is_dir() or not os.access(log.parent, os.W_OK):
        raise ConfigError(f"{where}: not a writable file; choose another --log")
    return TelemetryConfig(
        enabled=True, path=log, every_n_ticks=1, max_bytes=NEVER_ROTATE_BYTES, backups=0
    )


def header(
    config: RobotConfig,
    plan: Sequence[Step],
    spec: ObservationSpec,
    spec_source: str,
) -> dict[str, Any]:
    """What the fitter needs beside the ticks: the plan, the rate, the channels, the hardware,
    the geometry, when; ``summary`` is null until the drive ends."""
    calibration = config.calibration
    hardware = {"backend": config.hardware.backend, **_plain(dataclasses.asdict(config.hardware))}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "config": str(config.source),
        "rate_hz": config.loop.rate_hz,
        "plan": [step.as_dict() for step in plan],
        "plan_duration_s": round(plan_duration_s(plan), 6),
        "channels": [
            {"name": c.name, "unit": c.unit, "low": c.low, "high": c.high} for c in spec.channels
        ],
        "spec_source": spec_source,
        "hardware": hardware,
        "geometry": {
            "wheel_base_m": calibration.wheel_base_m,
            "robot_radius_m": calibration.robot_radius_m,
            "ranger_mount_m": calibration.ranger_mount_m,
        },
        "calibration": _plain(dataclasses.asdict(calibration)),
        "stop_distance_m": round(calibration.stop_distance_m, 6),
        "collision_distance_m": config.supervisor.collision_distance_m,
        "summary": None,
    }


def write_meta(log: Path, meta: dict[str, Any]) -> Path:
    """Replace ``PATH.meta.json`` with ``meta`` atomically; its path."""
    path = meta_path(log)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_plain(meta), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: paths as strings, tuples as lists, inf/NaN as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

"""Value checks of a robot profile's ``[env]``: what JSON (config.json, a manifest) can hold."""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

from trainer.errors import UsageError

#: How deeply a value in ``[env]`` may nest arrays and tables (a robot's values are flat).
MAX_DEPTH = 4


def check_json_value(value: Any, path: Path, key: str, depth: int = 0) -> None:
    """Refuse TOML values that JSON (config.json, the manifest) cannot hold or no robot has:
    dates and times, nan and inf, arrays or tables nested more than ``MAX_DEPTH`` deep."""
    if isinstance(value, _dt.date | _dt.time):
        raise UsageError(
            f"{path} [env] {key}: expected a number, string, boolean, array or table, found "
            f"the date/time {value.isoformat()}; quote it if the env takes a string"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(
            f"{path} [env] {key}: expected a finite number, found {value}; write the robot's "
            "measured value, or leave the key out for the env's default"
        )
    if depth >= MAX_DEPTH and isinstance(value, list | dict):
        raise UsageError(
            f"{path} [env] {key}: expected a number, string, boolean or a flat array, found "
            f"arrays or tables nested more than {MAX_DEPTH} deep; e.g. {key} = [0.3, 0.3]"
        )
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        check_json_value(item, path, key, depth + 1)

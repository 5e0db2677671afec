"""Reading a calibration drive's log (``calibration.jsonl``) and its header (``.meta.json``).

The fit reads what a real robot's log has: the rate, the plan's step names, the channels (which
range is which, and the top of their range), the rangers' median window (``queue_len``), and per
tick the ranges and what the motors got. It never reads the header's ``sim`` truth, nor the
``[hardware.sim]`` keys that describe the simulated robot.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import UsageError

FORMAT = "sim2pi-calibration"
FORMAT_VERSION = 1
#: The reference robot's range channels: left, front, right (the rangers' order in the world).
RANGE_CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
#: A drive shorter than this many ticks cannot be fitted.
MIN_TICKS = 100
_FIX = "run `python -m robot calibrate` again and fit its calibration.jsonl"


@dataclass(frozen=True)
class CalibrationLog:
    """One complete calibration drive, as arrays over its ticks."""

    path: Path
    rate_hz: float
    #: (ticks, 3): left, front, right ranges (m); nan where the tick's readings were refused.
    ranges_m: np.ndarray
    #: (ticks, 2): the duties the motors got (left, right).
    duties: np.ndarray
    #: (ticks,): the plan step under way.
    steps: tuple[str, ...]
    #: The channels' top (m): a missed echo or anything farther reads it.
    top_m: float
    #: The rangers' median window (gpiozero's ``queue_len``; 1: raw readings).
    queue_len: int
    #: The robot's declared geometry (``[calibration]``).
    ranger_mount_m: float

    @property
    def dt_s(self) -> float:
        """The control period (s)."""
        return 1.0 / self.rate_hz


def read_log(path: str | Path) -> CalibrationLog:
    """The log at ``path`` and its header, checked; one ``UsageError`` for what cannot be fitted."""
    path = Path(path)
    meta_file = path.with_name(f"{path.name}.meta.json")
    meta = _json_file(meta_file, "the header")
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise UsageError(
            f"{meta_file}: expected format {FORMAT!r} version {FORMAT_VERSION}, found "
            f"{meta.get('format')!r} version {meta.get('format_version')!r}; {_FIX}"
        )
    summary = meta.get("summary") or {}
    if summary.get("outcome") != "complete":
        found = summary.get("outcome") or "no summary (the drive never ended)"
        raise UsageError(
            f"{meta_file} summary.outcome: expected 'complete', found {found!r} "
            f"({summary.get('detail', 'no detail')}); {_FIX} until it completes"
        )
    names = [channel.get("name") for channel in meta.get("channels", [])]
    missing = [name for name in RANGE_CHANNELS if name not in names]
    if missing:
        raise UsageError(
            f"{meta_file} channels: expected the ranges {', '.join(RANGE_CHANNELS)}, found "
            f"{names}; fit-robot fits the reference robot's three rangers"
        )
    columns = [names.index(name) for name in RANGE_CHANNELS]
    top_m = min(float(meta["channels"][i].get("high", 2.0)) for i in columns)
    records = _records(path)
    ranges, duties, steps = [], [], []
    for record in records:
        obs = record.get("obs")
        ranges.append([math.nan] * 3 if obs is None else [float(obs[i]) for i in columns])
        command = record.get("command")
        moving = command is not None and record.get("stopped") is None
        duties.append([float(command[0]), float(command[1])] if moving else [0.0, 0.0])
        steps.append(str(record.get("calibration_step")))
    if len(records) < MIN_TICKS:
        raise UsageError(
            f"{path}: expected at least {MIN_TICKS} ticks, found {len(records)}; the drive is "
            f"too short to fit: {_FIX} with the default [calibration]"
        )
    return CalibrationLog(
        path=path,
        rate_hz=float(meta["rate_hz"]),
        ranges_m=np.asarray(ranges, dtype=np.float64),
        duties=np.asarray(duties, dtype=np.float64),
        steps=tuple(steps),
        top_m=top_m,
        queue_len=_queue_len(meta.get("hardware") or {}),
        ranger_mount_m=float((meta.get("geometry") or {}).get("ranger_mount_m", 0.08)),
    )


def _json_file(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``, or one ``UsageError``."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such file ({what} of the calibration log); give the calibration.jsonl "
            f"that `python -m robot calibrate` wrote, with its .meta.json beside it"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: {what} cannot be read ({exc}); {_FIX}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object, found {type(data).__name__}; {_FIX}")
    return data


def _records(path: Path) -> list[dict[str, Any]]:
    """The log's tick records; a torn or foreign line is one ``UsageError``."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such file; give the calibration.jsonl `python -m robot calibrate` wrote"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc}); {_FIX}") from None
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(
                f"{path} line {number}: expected a JSON tick record, found {line[:60]!r} "
                f"(a torn or edited log); {_FIX}"
            ) from None
        if not isinstance(record, dict) or "obs" not in record or "calibration_step" not in record:
            raise UsageError(
                f"{path} line {number}: expected a calibration tick (obs, command, "
                f"calibration_step), found {line[:60]!r}; {_FIX}"
            )
        records.append(record)
    return records


def _queue_len(hardware: dict[str, Any]) -> int:
    """The rangers' median window from the header's ``hardware`` (gpio, sim: ``queue_len``)."""
    sensors = hardware.get("distance_sensors") or (hardware.get("gpio") or {}).get(
        "distance_sensors"
    )
    if not sensors:
        return 1
    return max(1, int(sensors[0].get("queue_len", 1)))

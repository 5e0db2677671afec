"""Per-tick telemetry as size-rotated JSON Lines (each tick's record), and the run's statistics
and exit summary."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from robot.config import TelemetryConfig
from robot.control.decider import Choice
from robot.hardware.base import Snapshot

_log = logging.getLogger(__name__)


class TelemetryWriter:
    """Appends one JSON object per written tick; rotates ``ticks.jsonl`` → ``.1`` … at max size.

    Each record is handed to the OS as it is written (line buffering): the process dying loses
    at most the record of the tick in progress (the OS keeps what it was given; a power cut can
    still lose what it had not yet written to the card).
    """

    def __init__(self, config: TelemetryConfig) -> None:
        """Open ``config.path`` for appending (its directory made if missing); OSError when it
        cannot be (a directory; a FIFO nobody reads fails at once instead of blocking).

        ``robot run`` refuses anything but a regular file before it gets here
        (``robot.runtime.writable``); tests write to ``/dev/full`` to fill a disk.
        """
        self.config = config
        self.path = Path(config.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = _open_append(self.path)
        self._size = os.fstat(self._file.fileno()).st_size
        # One encoder for the run: json.dumps with separators builds a new one per call.
        self._encode = json.JSONEncoder(separators=(",", ":")).encode
        #: Records written since start.
        self.written = 0

    def wants(self, tick: int) -> bool:
        """Whether tick number ``tick`` is sampled (every ``every_n_ticks``-th)."""
        return tick % self.config.every_n_ticks == 0

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line, rotating first if it would overflow ``max_bytes``."""
        if self._file is None:
            return
        line = self._encode(record) + "\n"
        if self._size and self._size + len(line) > self.config.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line)
        self.written += 1

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        backups = self.config.backups
        if backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for n in range(backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = _open_append(self.path)
        self._size = 0

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:  # the last lines are lost; nothing else can be done here
                _log.error("telemetry: closing %s failed: %s", self.path, exc)


def _open_append(path: Path) -> IO[str]:
    """``path`` opened for appending text, line-buffered."""
    # O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of hanging the run.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
    try:
        os.set_blocking(fd, True)
        # Line-buffered: each record reaches the OS as it is written, so a crash (even a
        # SIGKILL) loses at most the tick in progress; ``robot bench`` measures the cost.
        return open(fd, "a", encoding="utf-8", buffering=1)
    except BaseException:
        os.close(fd)
        raise


@dataclass
class TickTrace:
    """What one tick saw and did: the loop's accounting of it, and its telemetry record."""

    started_s: float
    #: How late the tick started after its deadline (seconds; negative: early).
    lateness_s: float
    snapshot: Snapshot | None = None
    #: The observation (raw units, the spec's order); None when the snapshot was refused.
    observation: np.ndarray | None = None
    #: What the decider chose; None when it was not asked (a refused snapshot, a held stop).
    choice: Choice | None = None
    #: The tick had a valid observation and raised nothing (it may feed the watchdog).
    fresh: bool = False
    ended_s: float = 0.0
    on_time: bool = True
    #: Time the tick took, by ``time.perf_counter`` (seconds).
    compute_s: float = 0.0

    def record(self, tick: int, stopped_for: str | None) -> dict[str, Any]:
        """The tick's telemetry record (the decider adds its own fields)."""
        observation = self.observation
        decision = None if self.choice is None else self.choice.decision
        return {
            "t_s": round(self.started_s, 6),
            "tick": tick,
            "obs": None if observation is None else [round(float(v), 5) for v in observation],
            "action": None if decision is None else decision.action_index,
            "q": None if decision is None else [round(float(v), 5) for v in decision.q_values],
            "compute_us": round(self.compute_s * 1e6, 1),
            "late_us": round(self.lateness_s * 1e6, 1),
            "stopped": stopped_for,
            "overrun": not self.on_time,
            "bumper": None if self.snapshot is None else self.snapshot.bumper,
        }


class SampleRing:
    """The last ``capacity`` samples (preallocated, so a long run cannot grow memory)."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        if capacity < 1:
            raise ValueError(f"SampleRing: expected capacity >= 1, found {capacity!r}")
        # np.zeros: pages the run never reaches are never touched (no RSS for them).
        self._values = np.zeros(capacity, dtype=np.float64)
        # Written through a memoryview: ``add`` runs a few times a tick, and a plain item
        # assignment there costs a fraction of numpy's.
        self._slots = memoryview(self._values)
        self._capacity = capacity
        self._count = 0

    def add(self, value: float) -> None:
        """Record one sample."""
        self._slots[self._count % self._capacity] = value
        self._count += 1

    def __len__(self) -> int:
        return min(self._count, self._capacity)

    def percentiles(self, *q: float) -> list[float]:
        """Percentiles of the kept samples (NaN when empty)."""
        if not len(self):
            return [float("nan")] * len(q)
        return [float(v) for v in np.percentile(self._values[: len(self)], q)]


@dataclass
class RunStats:
    """What the loop measured: ticks, overruns, stops and why, latencies."""

    ticks: int = 0
    decisions: int = 0
    overruns: int = 0
    errors: int = 0
    started_s: float = 0.0
    ended_s: float = 0.0
    first_decision_s: float | None = None
    exit_reason: str = ""
    #: Stop reason → [events, ticks held]: an event is a change from driving (or another reason).
    stops: dict[str, list[int]] = field(default_factory=dict)
    decision_s: SampleRing = field(default_factory=SampleRing)
    compute_s: SampleRing = field(default_factory=SampleRing)
    lateness_s: SampleRing = field(default_factory=SampleRing)

    def count_stop(self, reason: str, new_event: bool) -> None:
        """Count one tick held stopped for ``reason``."""
        entry = self.stops.setdefault(reason, [0, 0])
        entry[0] += int(new_event)
        entry[1] += 1

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary of the run."""
        duration = max(self.ended_s - self.started_s, 0.0)
        decision = self.decision_s.percentiles(50, 99, 100)
        compute = self.compute_s.percentiles(50, 99, 100)
        late = self.lateness_s.percentiles(50, 99, 100)
        return {
            "ticks": self.ticks,
            "decisions": self.decisions,
            "duration_s": round(duration, 6),
            "rate_hz": round(self.ticks / duration, 3) if duration > 0 else None,
            "overruns": self.overruns,
            "errors": self.errors,
            "stops": {k: {"events": v[0], "ticks": v[1]} for k, v in self.stops.items()},
            "exit_reason": self.exit_reason,
            "first_decision_after_s": None
            if self.first_decision_s is None
            else round(self.first_decision_s - self.started_s, 6),
            "decision_us": _micro(decision),
            "tick_compute_us": _micro(compute),
            "lateness_us": _micro(late),
        }


def _micro(values: list[float]) -> dict[str, float | None]:
    return {
        name: None if math.isnan(v) else round(v * 1e6, 1)
        for name, v in zip(("p50", "p99", "max"), values, strict=True)
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few lines for the log."""
    stops = ", ".join(
        f"{reason} ×{v['events']} ({v['ticks']} ticks)" for reason, v in summary["stops"].items()
    )
    d, c, late = summary["decision_us"], summary["tick_compute_us"], summary["lateness_us"]
    return (
        f"{summary['ticks']} ticks in {summary['duration_s']:.3f} s "
        f"({summary['rate_hz']} Hz), {summary['decisions']} decisions, "
        f"{summary['overruns']} overruns, {summary['errors']} errors; exit: "
        f"{summary['exit_reason']}\n"
        f"  motor stops: {stops or 'none'}\n"
        f"  decision µs p50 {d['p50']} p99 {d['p99']} max {d['max']}; tick compute µs "
        f"p50 {c['p50']} p99 {c['p99']}; lateness µs p50 {late['p50']} p99 {late['p99']}"
    )

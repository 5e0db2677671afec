"""What the page shows, aggregated from the telemetry records as they arrive.

The latest record (ranges, action, Q-values, stop, the supervisor's takeover, the learner's ε),
counts of stop and takeover events, and the loop's health over about the last second of the
loop's own time (``t_s``): its rate, lateness and overruns. The runtime restarting (a tick number
going back) starts the health window afresh; the counts go on. A tick number that jumps by more
than ``every_n_ticks`` means records were lost (the loop rotated faster than the follower
polls): they are counted as missed, not silently left out.

Every value served is checked and bounded here: numbers are finite (else null), lists and texts
are cut to a size the page can draw, and a field of the wrong shape is null and named in
``bad_fields``; ``/state.json`` is then always valid JSON of a known shape.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: Health is measured over this much of the loop's time (seconds).
WINDOW_S = 1.0
#: At most this many observation or Q-values are served (the reference robot has 3 and 5).
MAX_VALUES = 64
#: A reason, an event's name: at most this many characters.
MAX_TEXT = 64
#: At most this many distinct stop or takeover reasons are counted by name (then "other").
MAX_REASONS = 32
#: At most this many learner events of the latest record are served.
MAX_EVENTS = 16


@dataclass(frozen=True)
class Layout:
    """What does not change while the dashboard runs: names, ranger angles, refresh rate."""

    #: The observation's channel names, in order (empty: unknown, shown by index).
    channels: tuple[str, ...] = ()
    #: Each channel's ranger angle (degrees, counter-clockwise from straight ahead), or None for
    #: a channel that is not a range; all None: the observation is shown as a list.
    ranger_deg: tuple[float | None, ...] = ()
    #: The actions' names, by index (empty: unknown, shown by index).
    actions: tuple[str, ...] = ()
    #: The file followed, for the page's footer.
    telemetry_path: str = ""
    refresh_hz: float = 10.0
    #: The loop records every this many ticks (``[telemetry] every_n_ticks``): a larger step
    #: between two records means records were missed.
    every_n_ticks: int = 1
    #: The bundle's label (its directory and env id), or why it could not be read.
    bundle: str = ""

    def as_json(self) -> dict[str, Any]:
        """The layout as a JSON-ready object."""
        return {
            "channels": list(self.channels),
            "ranger_deg": list(self.ranger_deg),
            "actions": list(self.actions),
            "telemetry_path": self.telemetry_path,
            "refresh_hz": self.refresh_hz,
            "bundle": self.bundle,
        }


@dataclass
class _Window:
    """Records within ``WINDOW_S`` of the newest (by ``t_s``)."""

    entries: deque[tuple[float, int, float, bool]] = field(default_factory=deque)

    def add(self, t_s: float, tick: int, late_us: float, overrun: bool) -> None:
        self.entries.append((t_s, tick, late_us, overrun))
        while self.entries and t_s - self.entries[0][0] > WINDOW_S:
            self.entries.popleft()

    def health(self) -> dict[str, Any]:
        entries = self.entries
        rate = None
        if len(entries) >= 2 and entries[-1][0] > entries[0][0]:
            rate = (entries[-1][1] - entries[0][1]) / (entries[-1][0] - entries[0][0])
        late = [max(e[2], 0.0) for e in entries]
        return {
            "rate_hz": None if rate is None else round(rate, 2),
            "late_p50_us": round(statistics.median(late), 1) if late else None,
            "late_max_us": round(max(late), 1) if late else None,
            "overruns_window": sum(1 for e in entries if e[3]),
            "window_records": len(entries),
        }


class DashboardState:
    """The aggregation behind ``/state.json``: feed it records, ask it for the view."""

    def __init__(self, layout: Layout) -> None:
        """Start empty for ``layout``."""
        self.layout = layout
        self.latest: dict[str, Any] | None = None
        self.records = 0
        self.restarts = 0
        self.overruns = 0
        self.updates_seen = 0
        self.stop_events: dict[str, int] = {}
        self.takeover_events: dict[str, int] = {}
        #: Records the loop wrote that never reached the dashboard (a gap in the tick numbers).
        self.missed = 0
        #: When (monotonic seconds, the caller's clock) the newest record arrived.
        self.arrived_s: float | None = None
        self._window = _Window()

    def add(self, records: list[dict[str, Any]], now_s: float) -> None:
        """Take ``records`` (oldest first) written at ``now_s`` (the caller's clock)."""
        for record in records:
            self._add(record)
        if records:
            self.arrived_s = now_s

    def _add(self, record: dict[str, Any]) -> None:
        tick, t_s = _number(record.get("tick")), _number(record.get("t_s"))
        if tick is None or t_s is None:
            return  # not a tick record
        previous = self.latest
        if previous is not None and tick < previous["tick"]:
            self.restarts += 1  # the runtime started again: its ticks count from 0
            self._window = _Window()
            previous = None
        if previous is not None:
            step = max(self.layout.every_n_ticks, 1)
            self.missed += max(int(tick - previous["tick"]) // step - 1, 0)
        stopped, takeover = _text(record.get("stopped")), _text(record.get("supervisor"))
        if stopped is not None and (previous is None or previous.get("stopped") != stopped):
            _count(self.stop_events, stopped)
        # A takeover begins where the reason changes, or where the record says one began at
        # once after another (``takeover_begins``; a sampled record may miss that tick).
        if takeover is not None and (
            record.get("takeover_begins") is True
            or previous is None
            or previous.get("supervisor") != takeover
        ):
            _count(self.takeover_events, takeover)
        overrun = record.get("overrun") is True
        self.overruns += int(overrun)
        self.updates_seen += int("td_error" in record)
        self._window.add(t_s, int(tick), _number(record.get("late_us")) or 0.0, overrun)
        self.records += 1
        self.latest = {**record, "tick": tick, "stopped": stopped, "supervisor": takeover}

    def view(self, now_s: float) -> dict[str, Any]:
        """Everything the page shows, JSON-ready: finite numbers, bounded lists and texts."""
        latest = self.latest or {}
        bad: list[str] = []
        obs, q = _numbers(latest, "obs", bad), _numbers(latest, "q", bad)
        action = latest.get("action")
        if isinstance(action, bool) or not isinstance(action, int) or action < 0:
            bad += [] if action is None else ["action"]
            action = None
        names = self.layout.actions
        name = names[action] if action is not None and action < len(names) else None
        learning = None
        if "epsilon" in latest:
            events = latest.get("learn_events", [])
            learning = {
                "epsilon": _number(latest.get("epsilon")),
                # The learner's own count (records carry it), else the updates seen here.
                "updates": _number(latest.get("updates", self.updates_seen)),
                "td_error": _number(latest.get("td_error")),
                "reward": _number(latest.get("reward")),
                "events": [_text(e) or "?" for e in events[:MAX_EVENTS]]
                if isinstance(events, list)
                else [],
            }
        bumper = latest.get("bumper")
        return {
            "layout": self.layout.as_json(),
            "records": self.records,
            "missed": self.missed,
            "restarts": self.restarts,
            "since_last_record_s": None
            if self.arrived_s is None
            else round(max(now_s - self.arrived_s, 0.0), 3),
            "tick": _number(latest.get("tick")),
            "t_s": _number(latest.get("t_s")),
            "obs": obs,
            "action": {"index": action, "name": name},
            "q": q,
            "bumper": bumper if isinstance(bumper, bool) else None,
            "shielded": latest.get("shielded") is True,
            "stop": {"current": latest.get("stopped"), "counts": dict(self.stop_events)},
            "supervisor": {
                "current": latest.get("supervisor"),
                "counts": dict(self.takeover_events),
            },
            "health": {
                **self._window.health(),
                "overruns_total": self.overruns,
                "compute_us": _number(latest.get("compute_us")),
            },
            "learning": learning,
            "bad_fields": bad,
        }


def _number(value: Any) -> float | None:
    """``value`` when it is a finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _numbers(record: dict[str, Any], key: str, bad: list[str]) -> list[float | None] | None:
    """``record[key]`` as at most ``MAX_VALUES`` finite numbers (else null); a field that is no
    list, or is longer, is named in ``bad``."""
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        bad.append(key)
        return None
    if len(value) > MAX_VALUES:
        bad.append(key)
    return [_number(item) for item in value[:MAX_VALUES]]


def _text(value: Any) -> str | None:
    """``value`` when it is a string, cut to ``MAX_TEXT`` characters, else None."""
    return value[:MAX_TEXT] if isinstance(value, str) else None


def _count(counts: dict[str, int], reason: str) -> None:
    """One more ``reason``; past ``MAX_REASONS`` distinct ones, counted as "other"."""
    if reason not in counts and len(counts) >= MAX_REASONS:
        reason = "other"
    counts[reason] = counts.get(reason, 0) + 1

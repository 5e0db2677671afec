"""What the page shows, aggregated from the telemetry records as they arrive.

The latest record (ranges, action, Q-values, stop, the supervisor's takeover, the learner's ε),
counts of stop and takeover events, and the loop's health over about the last second of the
loop's own time (``t_s``): its rate, lateness and overruns. The runtime restarting (a tick number
going back) starts the health window afresh; the counts go on.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: Health is measured over this much of the loop's time (seconds).
WINDOW_S = 1.0


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
        #: When (monotonic seconds, the caller's clock) the newest record arrived.
        self.arrived_s: float | None = None
        self._window = _Window()

    def add(self, records: list[dict[str, Any]], now_s: float) -> None:
        """Take ``records`` (oldest first) that arrived at ``now_s``."""
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
        stopped, takeover = record.get("stopped"), record.get("supervisor")
        if isinstance(stopped, str) and (previous is None or previous.get("stopped") != stopped):
            self.stop_events[stopped] = self.stop_events.get(stopped, 0) + 1
        # A takeover begins where the reason changes, or where the record says one began at
        # once after another (``takeover_begins``; a sampled record may miss that tick).
        if isinstance(takeover, str) and (
            record.get("takeover_begins") is True
            or previous is None
            or previous.get("supervisor") != takeover
        ):
            self.takeover_events[takeover] = self.takeover_events.get(takeover, 0) + 1
        overrun = record.get("overrun") is True
        self.overruns += int(overrun)
        self.updates_seen += int("td_error" in record)
        self._window.add(t_s, int(tick), _number(record.get("late_us")) or 0.0, overrun)
        self.records += 1
        self.latest = record

    def view(self, now_s: float) -> dict[str, Any]:
        """Everything the page shows, JSON-ready."""
        latest = self.latest or {}
        action = latest.get("action")
        names = self.layout.actions
        name = names[action] if isinstance(action, int) and 0 <= action < len(names) else None
        learning = None
        if "epsilon" in latest:
            learning = {
                "epsilon": latest.get("epsilon"),
                # The learner's own count (records carry it), else the updates seen here.
                "updates": latest.get("updates", self.updates_seen),
                "td_error": latest.get("td_error"),
                "reward": latest.get("reward"),
                "events": latest.get("learn_events", []),
            }
        return {
            "layout": self.layout.as_json(),
            "records": self.records,
            "restarts": self.restarts,
            "since_last_record_s": None
            if self.arrived_s is None
            else round(max(now_s - self.arrived_s, 0.0), 3),
            "tick": latest.get("tick"),
            "t_s": latest.get("t_s"),
            "obs": latest.get("obs"),
            "action": {"index": action, "name": name},
            "q": latest.get("q"),
            "bumper": latest.get("bumper"),
            "shielded": bool(latest.get("shielded", False)),
            "stop": {"current": latest.get("stopped"), "counts": dict(self.stop_events)},
            "supervisor": {
                "current": latest.get("supervisor"),
                "counts": dict(self.takeover_events),
            },
            "health": {
                **self._window.health(),
                "overruns_total": self.overruns,
                "compute_us": latest.get("compute_us"),
            },
            "learning": learning,
        }


def _number(value: Any) -> float | None:
    """``value`` when it is a finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None

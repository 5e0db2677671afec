"""Clocks for the control loop: the real monotonic one, and a simulated one (tests, and software
in the loop on the ``gym`` backend unless ``--real-time``: ``robot.cli.run.loop_clock``).

Both give seconds on a monotonic scale and wait until a deadline unless woken by an Event
(a signal handler sets it, so SIGTERM does not wait out the period).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the loop needs from time."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def wait_until(self, deadline_s: float, wake: threading.Event) -> None:
        """Return at ``deadline_s`` or as soon as ``wake`` is set, whichever comes first."""
        ...


class MonotonicClock:
    """``time.monotonic``; waiting is ``Event.wait`` on the remaining time."""

    def now(self) -> float:
        """Seconds since an arbitrary point, never going back."""
        return time.monotonic()

    def wait_until(self, deadline_s: float, wake: threading.Event) -> None:
        """Sleep until ``deadline_s`` (absolute, so rounding errors never add up to drift)."""
        remaining = deadline_s - time.monotonic()
        if remaining > 0:
            wake.wait(remaining)


class SimulatedClock:
    """Time that only moves when someone waits or calls ``advance``: nothing ever sleeps, so tests
    and software in the loop run as fast as the machine goes."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s
        self._lock = threading.Lock()

    def now(self) -> float:
        """The simulated time in seconds."""
        with self._lock:
            return self._now_s

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (e.g. to model computation time)."""
        if seconds < 0:
            raise ValueError(f"advance: expected seconds >= 0, found {seconds!r}")
        with self._lock:
            self._now_s += seconds

    def wait_until(self, deadline_s: float, wake: threading.Event) -> None:
        """Jump to ``deadline_s`` (unless woken, when no time passes)."""
        if wake.is_set():
            return
        with self._lock:
            self._now_s = max(self._now_s, deadline_s)

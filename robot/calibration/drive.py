"""The calibration drive as a ``Decider``: each tick, the plan's step at that time.

The loop asks it like any policy; it ends the drive (through ``end``, the loop's
``request_stop``) when the plan is over, when a range reads closer than the pivot's reach
(``stop_distance_m``), when the drive has lasted ``max_duration_s``, and on the first takeover
of the supervisor (a contact: the supervisor is configured to drive a stop, never a recovery).
On each of those ticks it drives a stop, so the motors are at 0 before the loop ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from robot.calibration.plan import Step, Timeline
from robot.control.decider import Choice
from robot.hardware.base import STOP
from shared.spec import MotorCommand

#: How a drive ends (the loop's exit reason; a signal's name ends it too).
COMPLETE, TOO_CLOSE, TOO_LONG = "complete", "too_close", "max_duration"


class CalibrationDrive:
    """Drives a plan of steps on the loop's clock; ``outcome`` says how it ended."""

    learns = False
    name = "calibration drive"

    def __init__(
        self,
        plan: Sequence[Step],
        ranges: Sequence[int],
        *,
        stop_distance_m: float,
        max_duration_s: float,
    ) -> None:
        """``ranges``: the observation's range channels (metres), checked against
        ``stop_distance_m`` every tick."""
        self.timeline = Timeline(plan)
        self.ranges = tuple(ranges)
        self.stop_distance_m = stop_distance_m
        self.max_duration_s = max_duration_s
        #: How the drive ended (``complete``, ``too_close``, ``max_duration``, ``contact``…),
        #: with a line for a person; None while it runs (or when a signal ended it).
        self.outcome: str | None = None
        self.detail = ""
        self._end: Callable[[str], None] = lambda reason: None
        self._started_s: float | None = None
        self._step = plan[0].name if plan else ""
        self._asked: MotorCommand | None = None

    def attach(self, end: Callable[[str], None]) -> None:
        """``end(reason)`` ends the drive (the loop's ``request_stop``)."""
        self._end = end

    def decide(self, observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        """The plan's command at ``now_s``, or a stop when the drive ends on this tick."""
        if self._started_s is None:
            self._started_s = now_s
        # To the microsecond: a period added up 20 times a second must not land a tick a hair
        # before a step's end (3.4999999 s) and drive the step before it once more.
        elapsed_s = round(now_s - self._started_s, 6)
        command = STOP
        if self.outcome is None:
            nearest = min((float(observation[i]) for i in self.ranges), default=math.inf)
            step = self.timeline.step_at(elapsed_s)
            if nearest < self.stop_distance_m:  # NaN never compares below: no reading, no stop
                self._finish(
                    TOO_CLOSE,
                    f"a range reads {nearest:.3f} m, closer than the pivot's reach "
                    f"({self.stop_distance_m:.3f} m): stopped during {self._step}",
                )
            elif step is None:
                self._finish(COMPLETE, f"all {len(self.timeline.plan)} steps driven")
            elif elapsed_s >= self.max_duration_s:
                self._finish(TOO_LONG, f"the drive lasted max_duration_s ({self.max_duration_s} s)")
            else:
                self._step = step.name
                command = MotorCommand(step.left, step.right)
        self._asked = command
        return Choice(command, None)

    def interrupted(self, observation: np.ndarray, reason: str) -> None:
        """The supervisor took the motors (a contact): the drive ends at once."""
        self._asked = None
        if self.outcome is None:
            self._finish(reason, f"the supervisor found a {reason} during {self._step}")

    def _finish(self, outcome: str, detail: str) -> None:
        self.outcome, self.detail = outcome, detail
        self._end(outcome)

    def telemetry_fields(self) -> dict[str, Any]:
        """``command`` (the duties asked this tick, null when not asked) and
        ``calibration_step`` (the plan's step)."""
        asked, self._asked = self._asked, None
        command = None if asked is None else [asked.left, asked.right]
        return {"command": command, "calibration_step": self._step}

    def summary(self) -> dict[str, Any] | None:
        """None: how the drive ended is ``outcome`` (the loop files a summary as learning's)."""
        return None

    def close(self) -> None:
        """Nothing to release."""

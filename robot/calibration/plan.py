"""The calibration drive's plan: data, a list of steps (name, left duty, right duty, duration).

Everything the drive moves is here, in order (``docs/calibration.md`` says why each step is
there):

1. ``still``: nothing moves; the rangers' noise and dropout.
2. ``spin_left_D`` / ``spin_right_D`` for each of ``duties``: turning in place (one wheel back,
   the other forward), a ``pause`` after each; the step responses give the motors' time constant
   and latency, the lowest duty that turns gives the dead band, the period of the range pattern
   the turn rate, the lag between the side and front rangers' patterns their angle.
3. ``reverse_left_1``, ``reverse_right_2``, … ``reverse_right_20``: a spin that changes
   direction every ``REVERSAL_S`` without a stop, at the rung of ``duties`` nearest
   ``REVERSAL_DUTY``, then a ``pause``. After each reversal a delay keeps the turn going
   unchanged for its ticks, a lag slows it at once: a tick of latency and a slower motor, which
   look alike after a start from rest, differ here. As many halves each way: the robot ends
   near the heading it began with.
4. ``pivot_left_fwd_D`` / ``pivot_left_back_D`` (only the left wheel), then the right wheel's,
   for each of ``pivot_duties``: each wheel alone, so the two motors' gains can be told apart;
   the back step undoes the forward one, so the robot ends where it began.

Nothing drives both wheels the same way: the robot never leaves its spot (a spin turns about
its centre, a pivot about one wheel: a circle of one track width).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robot.config.calibration import CalibrationConfig

STILL, PAUSE = "still", "pause"
#: The reversals: this many spin halves, alternating left and right (an even number: back to
#: the start's heading), each this long, at the rung of ``duties`` nearest this duty.
REVERSALS = 20
REVERSAL_S = 0.3
REVERSAL_DUTY = 0.7


@dataclass(frozen=True)
class Step:
    """One step of the drive: both motors' duties (in [-1, 1]) held for ``duration_s``."""

    name: str
    left: float
    right: float
    duration_s: float

    def as_dict(self) -> dict[str, object]:
        """The step as JSON-ready data (the log's header)."""
        return {
            "name": self.name,
            "left": self.left,
            "right": self.right,
            "duration_s": self.duration_s,
        }


def build_plan(config: CalibrationConfig) -> tuple[Step, ...]:
    """The drive ``config`` asks for, in order."""
    steps = [Step(STILL, 0.0, 0.0, config.still_s)] if config.still_s > 0 else []

    def then(name: str, left: float, right: float, duration_s: float) -> None:
        steps.append(Step(name, left, right, duration_s))
        if config.pause_s > 0:
            steps.append(Step(PAUSE, 0.0, 0.0, config.pause_s))

    for duty in config.duties:
        then(f"spin_left_{duty:.2f}", -duty, duty, config.step_s)
        then(f"spin_right_{duty:.2f}", duty, -duty, config.step_s)
    duty = reversal_duty(config.duties)
    for index in range(1, REVERSALS + 1):
        sign = 1.0 if index % 2 else -1.0  # left first, as the ladder
        way = "left" if index % 2 else "right"
        steps.append(Step(f"reverse_{way}_{index}", -sign * duty, sign * duty, REVERSAL_S))
    if config.pause_s > 0:
        steps.append(Step(PAUSE, 0.0, 0.0, config.pause_s))
    for side in ("left", "right"):
        for duty in config.pivot_duties:
            for way, sign in (("fwd", 1.0), ("back", -1.0)):
                left, right = (sign * duty, 0.0) if side == "left" else (0.0, sign * duty)
                then(f"pivot_{side}_{way}_{duty:.2f}", left, right, config.pivot_s)
    return tuple(steps)


def reversal_duty(duties: Sequence[float]) -> float:
    """The reversals' duty: the rung of ``duties`` nearest ``REVERSAL_DUTY`` (the higher of two
    as near): well above a dead band, slow enough that the rangers sample the turn densely."""
    return min(duties, key=lambda duty: (round(abs(duty - REVERSAL_DUTY), 9), -duty))


def plan_duration_s(plan: Sequence[Step]) -> float:
    """The plan's total duration (seconds)."""
    return sum(step.duration_s for step in plan)


class Timeline:
    """Which step of a plan holds at a time since the drive began."""

    def __init__(self, plan: Sequence[Step]) -> None:
        self.plan = tuple(plan)
        # To the microsecond, as the drive's elapsed time: sums of 0.3 s steps land a hair off
        # (ten make 2.9999999999999996 s), and a tick on a step's end must find the next step.
        ends = itertools.accumulate(step.duration_s for step in self.plan)
        self._ends = [round(end, 6) for end in ends]
        #: The plan's total duration (seconds).
        self.duration_s = self._ends[-1] if self._ends else 0.0

    def step_at(self, elapsed_s: float) -> Step | None:
        """The step under way ``elapsed_s`` after the start; None once the plan is over."""
        index = bisect.bisect_right(self._ends, max(elapsed_s, 0.0))
        return self.plan[index] if index < len(self.plan) else None


def format_plan(plan: Sequence[Step], rate_hz: float) -> list[str]:
    """The plan as lines for a person: each step, then the total duration and ticks."""
    lines = [f"{'step':<22} {'left':>6} {'right':>6} {'s':>6}"]
    at_s = 0.0
    for step in plan:
        lines.append(
            f"{step.name:<22} {step.left:>6.2f} {step.right:>6.2f} {step.duration_s:>6.2f}"
        )
        at_s += step.duration_s
    ticks = round(at_s * rate_hz)
    lines.append(f"total {at_s:.1f} s, {len(plan)} steps, about {ticks} ticks at {rate_hz:g} Hz")
    return lines

"""``[supervisor]``: what takes the motors from the policy when the robot is in contact, makes no
progress or oscillates, and when it gives up (``stuck``). Every default and range is stated here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from robot.config.rules import MotorSteps, Problem
from robot.config.section import Section, choice, flag, integer, number, ruled

#: What a run does once recovery has failed ``max_failed_recoveries`` times in a row.
ON_STUCK = ("retry", "hold", "exit")


@dataclass(frozen=True)
class SupervisorConfig(Section):
    """The supervisor: on in every mode (greedy policies, learning, software in the loop)."""

    toml_path: ClassVar[str] = "supervisor"
    #: Off: the policy drives whatever it chooses (on-robot learning refuses to run so).
    enabled: bool = flag(True)
    #: A range below this (metres) is a contact, like the bumper. An HC-SR04 reads >= 0.02 m and
    #: the front one reads ~0.02 m at contact; at 0.05 m noisy readings made contacts of nothing.
    collision_distance_m: float = number(0.03, low=0.0, high=1.0, unit="m")
    #: No choice drives forward (left + right duty > 0) while any range is below this (metres):
    #: the best-valued action that does not is driven instead. 0: off.
    shield_distance_m: float = number(0.2, low=0.0, high=4.0, unit="m")
    #: The recovery manoeuvre: (left duty, right duty, duration_s) steps, duties in [-1, 1],
    #: durations 0..10 s. A step that turns is mirrored to turn away from the nearer side; after
    #: an oscillation the steps that back off are left out. The first, a short stop, spares the
    #: gearbox a reversal at full current; every tick of it is a tick in contact.
    recovery: tuple[tuple[float, float, float], ...] = ruled(
        MotorSteps(), ((0.0, 0.0, 0.1), (-0.5, -0.5, 0.6), (-0.6, 0.6, 0.5))
    )
    #: No progress: the policy drove forward for this long (seconds) while every range echoed
    #: and stayed within ``progress_change_m`` of its average (mean absolute deviation). 0: off.
    progress_window_s: float = number(3.0, low=0.0, high=60.0, unit="s")
    progress_change_m: float = number(0.03, low=0.001, high=1.0, unit="m")
    #: Oscillation: this many reversals of the turning direction (spin left, spin right, …)
    #: within ``oscillation_window_s``. 0: off.
    oscillation_reversals: int = integer(8, low=0, high=1000)
    oscillation_window_s: float = number(4.0, low=0.1, high=60.0, unit="s")
    #: A recovery fails when the supervisor must take over again within this many seconds of
    #: its end.
    settle_s: float = number(3.0, low=0.0, high=600.0, unit="s")
    #: Recoveries that fail in a row before the robot recovers once more and stops: ``stuck``.
    max_failed_recoveries: int = integer(3, low=1, high=1000)
    #: Once stuck: "retry" (the policy again after ``stuck_retry_s``), "hold" (stopped until
    #: restarted or reloaded), "exit" (the run ends with exit code 3).
    on_stuck: str = choice(ON_STUCK, "retry")
    stuck_retry_s: float = number(30.0, low=0.0, high=86_400.0, unit="s")

    def cross_checks(self) -> Iterable[Problem | None]:
        """A recovery with no step would take the motors and drive nothing."""
        if not self.recovery:
            fix = "give at least one step, e.g. [[-0.5, -0.5, 0.6]]"
            yield Problem("recovery", "expected at least one step, found none", fix)

"""``[calibration]``: the scripted drive of ``python -m robot calibrate`` (optional section).

The drive (``robot.calibration.plan``) stands still, spins in place both ways on a ladder of
``duties``, reverses its spin twenty times at the rung nearest 0.7 (0.3 s each; the plan's
constants), then pivots on one wheel per side on ``pivot_duties``; every key's default and
range is stated here. The robot's geometry keys say how far its body reaches while it pivots,
which is how close a range may read during the drive (``stop_distance_m``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from robot.config.rules import Problem, Rule, is_number
from robot.config.section import Section, number, ruled
from robot.config.toml_table import Table, describe, shown
from shared.world import REFERENCE_SENSOR_MOUNT_M, ROBOT_RADIUS_M, WHEEL_BASE_M

#: At most this many rungs on a ladder: the drive is a few tens of seconds.
MAX_RUNGS = 12


class Duties(Rule):
    """``[0.15, 0.25, ...]``: 1..12 distinct duties in (0, 1], in ascending order."""

    toml_type = list
    fix = "write the duties in ascending order, each above 0 and at most 1, e.g. [0.25, 0.5, 1.0]"

    def read(self, table: Table, key: str, default: Any, base: Path) -> Any:
        """The array as written (checked on construction)."""
        return table.get(key, list, default, fix=self.fix)

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is an ascending list of duties in (0, 1]."""
        if not isinstance(value, list | tuple):
            return Problem(key, f"expected an array of duties, found {describe(value)}", self.fix)
        if not 1 <= len(value) <= MAX_RUNGS:
            return Problem(key, f"expected 1..{MAX_RUNGS} duties, found {len(value)}", self.fix)
        for index, duty in enumerate(value):
            if not (is_number(duty) and math.isfinite(duty) and 0.0 < duty <= 1.0):
                found = f"{shown(duty)} at index {index}"
                return Problem(
                    key, f"expected duties above 0 and at most 1, found {found}", self.fix
                )
        if any(b <= a for a, b in itertools.pairwise(value)):
            return Problem(
                key, f"expected ascending distinct duties, found {shown(value)}", self.fix
            )
        return None

    def normalise(self, value: Any) -> tuple[float, ...]:
        """A tuple of floats."""
        return tuple(float(v) for v in value)


@dataclass(frozen=True)
class CalibrationConfig(Section):
    """The calibration drive: what it drives, for how long, and how close it lets things come."""

    toml_path: ClassVar[str] = "calibration"
    #: Spin in place (one wheel back, the other forward) at each duty, both ways. Below and above
    #: the expected dead band (~0.15 for an L298N), so the fit finds where the wheels start.
    duties: tuple[float, ...] = ruled(Duties(), (0.15, 0.25, 0.35, 0.5, 0.7, 1.0))
    #: Pivot on one wheel (the other held at 0) at each duty, forward then back, each side.
    pivot_duties: tuple[float, ...] = ruled(Duties(), (0.5, 1.0))
    #: How long each spin step lasts (seconds): a good part of a turn above the dead band.
    step_s: float = number(1.5, low=0.2, high=10.0, unit="s")
    #: How long each pivot step lasts (seconds); the back step undoes the forward one.
    pivot_s: float = number(1.0, low=0.2, high=10.0, unit="s")
    #: The stop between two steps (seconds): the wheels come to rest, the step response is clean.
    pause_s: float = number(0.5, low=0.0, high=5.0, unit="s")
    #: Standing still at the start (seconds): the rangers' noise and dropout while nothing moves.
    still_s: float = number(2.0, low=0.0, high=30.0, unit="s")
    #: The drive refuses to start while a range reads closer than this (metres), or the bumper
    #: is pressed.
    safe_distance_m: float = number(0.35, low=0.05, high=4.0, unit="m")
    #: The drive never lasts longer than this (seconds); the plan must fit in it.
    max_duration_s: float = number(60.0, low=1.0, high=600.0, unit="s")
    #: The robot's geometry (metres): the distance between the wheels' contact points, the
    #: radius of a disc that holds its footprint, and how far the rangers sit from its centre.
    #: Defaults: the simulator's reference robot (``shared.world``).
    wheel_base_m: float = number(WHEEL_BASE_M, low=0.02, high=1.0, unit="m")
    robot_radius_m: float = number(ROBOT_RADIUS_M, low=0.02, high=1.0, unit="m")
    ranger_mount_m: float = number(REFERENCE_SENSOR_MOUNT_M, low=0.0, high=1.0, unit="m")

    @property
    def stop_distance_m(self) -> float:
        """A range below this (metres) during the drive ends it: a pivot about one wheel sweeps
        the body out to ``wheel_base_m + robot_radius_m`` from the centre, and a ranger sees
        from ``ranger_mount_m`` out."""
        return max(self.wheel_base_m + self.robot_radius_m - self.ranger_mount_m, 0.0)

    def cross_checks(self) -> Iterable[Problem | None]:
        """The plan fits in ``max_duration_s``; the start is checked farther out than the drive."""
        from robot.calibration.plan import build_plan, plan_duration_s

        if self.safe_distance_m <= self.stop_distance_m:
            found = f"{self.safe_distance_m} m <= {self.stop_distance_m:.3f} m"
            yield Problem(
                "safe_distance_m",
                "expected more than the pivot's reach (wheel_base_m + robot_radius_m - "
                f"ranger_mount_m), found {found}",
                f"raise safe_distance_m above {self.stop_distance_m:.3f} m",
            )
        total_s = plan_duration_s(build_plan(self))
        if total_s > self.max_duration_s:
            yield Problem(
                "max_duration_s",
                f"expected at least the plan's duration ({total_s:.1f} s), found "
                f"{self.max_duration_s} s",
                "raise max_duration_s, or shorten the plan (fewer duties, shorter step_s, "
                "pivot_s, pause_s or still_s)",
            )

"""Before any motor moves: a few readings of every sensor, and a refusal when the drive is unsafe.

The drive refuses to start (``CalibrationRefusedError``: one line, exit 2) while the bumper is
pressed or a range's median over the readings is closer than ``[calibration] safe_distance_m``,
and when no valid readings come within ``TIMEOUT_S``. The readings are taken on the loop's
clock, one per control period (on the ``sim`` backend waiting steps the world, motors at 0).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robot.control.clock import Clock
from robot.control.observation import ObservationBuilder, Refusal
from robot.errors import RobotError
from robot.hardware.base import Hardware
from shared.spec import ObservationSpec

#: Valid readings taken before the drive (the median of each range is judged).
READINGS = 5
#: No valid readings within this long (seconds): refused.
TIMEOUT_S = 5.0


class CalibrationRefusedError(RobotError, RuntimeError):
    """The drive must not start here: one line saying why and what to do (exit 2)."""


@dataclass(frozen=True)
class Preflight:
    """What the readings before the drive found."""

    #: Each range channel's median over the readings (metres), by channel name.
    medians_m: dict[str, float]
    readings: int
    bumper: bool | None


def range_channels(spec: ObservationSpec) -> list[int]:
    """The indices of the channels measured in metres (the rangers)."""
    return [i for i, channel in enumerate(spec.channels) if channel.unit == "m"]


def preflight(
    hardware: Hardware,
    clock: Clock,
    spec: ObservationSpec,
    *,
    period_s: float,
    max_age_s: float,
    safe_distance_m: float,
    wake: threading.Event,
    stopped: Callable[[], bool] = lambda: False,
) -> Preflight:
    """Take ``READINGS`` valid readings, one per ``period_s``, with the motors stopped; raise
    ``CalibrationRefusedError`` where the drive must not start. ``stopped()``: a signal came (the
    caller ends start-up then); ``wake`` cuts a wait short."""
    builder = ObservationBuilder(spec, max_age_s)
    ranges = range_channels(spec)
    hardware.stop()
    taken: list[np.ndarray] = []
    last: Refusal | None = None
    bumper: bool | None = None
    started_s = deadline_s = clock.now()
    while len(taken) < READINGS:
        if stopped():
            return Preflight({}, len(taken), bumper)
        snapshot = hardware.snapshot()
        built = builder.build(snapshot, clock.now())
        if isinstance(built, Refusal):
            last = built
        else:
            taken.append(built.copy())
            bumper = bool(snapshot.bumper) if snapshot.bumper is not None else None
            if snapshot.bumper:
                raise CalibrationRefusedError(
                    "calibrate: refused to start: the bumper is pressed; move the robot into the "
                    "open (nothing touching it) and run again"
                )
        if clock.now() - started_s > TIMEOUT_S:
            why = "none came" if last is None else f"{last.reason}: {last.detail}"
            raise CalibrationRefusedError(
                f"calibrate: refused to start: no valid readings of every sensor within "
                f"{TIMEOUT_S:g} s ({why}); check the sensors' wiring (python -m robot check)"
            )
        deadline_s += period_s
        clock.wait_until(deadline_s, wake)
    medians = {spec.channels[i].name: float(np.median([t[i] for t in taken])) for i in ranges}
    near = [(m, name) for name, m in medians.items() if m < safe_distance_m]
    if near:
        nearest_m, name = min(near)
        raise CalibrationRefusedError(
            f"calibrate: refused to start: {name} reads {nearest_m:.3f} m (median of "
            f"{len(taken)} readings), closer than [calibration] safe_distance_m "
            f"({safe_distance_m} m); the drive turns on the spot and needs that much room all "
            "round: move the robot into the open"
        )
    return Preflight(medians, len(taken), bumper)

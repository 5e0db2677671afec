"""One calibration drive, composed as ``robot run`` composes a run: the config's backend, the
control loop with every fail-safe, the supervisor for contacts, and the drive as its decider.

The spec (the observation channels) comes from the config's bundle when it exists, checked as
``robot run`` checks it (``open_bundle``, ``check_actions``: a bundle without motor commands is
refused); a robot is calibrated before anything is trained for it, so without a bundle the
reference robot's spec (``shared.reference_robot``) is used, and the config must map exactly
its channels.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from robot.calibration.drive import COMPLETE, TOO_LONG, CalibrationDrive
from robot.calibration.log import header, log_telemetry, write_meta
from robot.calibration.plan import Step, build_plan
from robot.calibration.preflight import Preflight, preflight, range_channels
from robot.calibration.sim_truth import SimTruth
from robot.config import GymConfig, RobotConfig, SupervisorConfig, check_channels
from robot.control.clock import MonotonicClock
from robot.control.loop import ControlLoop
from robot.control.supervisor import Supervisor
from robot.control.telemetry import TelemetryWriter
from robot.errors import ConfigError
from robot.hardware.faults import inject_faults
from robot.runtime.backends import BackendOptions, open_backend
from robot.runtime.compose import check_actions, open_bundle
from shared.bundle import Bundle
from shared.reference_robot import obstacle_avoid_spec
from shared.spec import TaskSpec

if TYPE_CHECKING:
    from robot.cli.signals import StopLatch

_log = logging.getLogger("robot")
#: The supervisor's "recovery" during the drive: a stop (the drive ends on the same tick).
STOP_RECOVERY = ((0.0, 0.0, 0.1),)
#: Outcomes that end the drive well: it ran to the end, or a person stopped it.
SIGNALS = ("SIGTERM", "SIGINT")


@dataclass(frozen=True)
class SpecOnly:
    """The reference robot's spec standing in for a bundle (the backends read only its spec)."""

    spec: TaskSpec
    path: Path | None = None


@dataclass(frozen=True)
class DriveResult:
    """How a drive went: its outcome (``complete``, ``contact``, ``too_close``,
    ``max_duration``, a signal's name), a line for a person, the loop's summary, the files."""

    outcome: str
    detail: str
    summary: dict[str, Any]
    log: Path
    meta: Path
    #: The sim backend's ground truth (start pose, largest distance from it, collisions).
    sim: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Whether the drive ran to its end, or a signal stopped it."""
        return self.outcome == COMPLETE or self.outcome in SIGNALS


def drive_spec(config: RobotConfig) -> tuple[Bundle | SpecOnly, str]:
    """What the drive reads the observation channels from, and a line saying which."""
    if isinstance(config.hardware, GymConfig):
        raise ConfigError(
            f"{config.source}: [hardware] backend = 'gym': calibrate drives a robot's own motors "
            "to fit the simulator to it, and a Gymnasium env is the simulator already; choose "
            "backend = 'gpio', 'serial' or 'sim'"
        )
    if config.bundle.path.exists():
        bundle = open_bundle(config)
        check_actions(config, bundle, learning=False)
        return bundle, f"bundle {bundle.path}"
    spec = obstacle_avoid_spec()
    try:
        check_channels(config, spec)
    except ConfigError as exc:
        raise ConfigError(
            f"{config.source}: [bundle] path {config.bundle.path} does not exist, so calibrate "
            f"uses the reference robot's channels, which the config does not map: {exc}"
        ) from None
    return SpecOnly(
        spec
    ), f"the reference robot's spec ([bundle] path {config.bundle.path} is absent)"


def drive_supervisor(settings: SupervisorConfig) -> SupervisorConfig:
    """``[supervisor]`` for the drive: contacts as configured, and nothing else. Spinning on the
    spot is neither "no progress" nor "oscillation"; a contact stops (and ends the drive)."""
    return dataclasses.replace(
        settings,
        enabled=True,
        shield_distance_m=0.0,
        recovery=STOP_RECOVERY,
        progress_window_s=0.0,
        oscillation_reversals=0,
        max_failed_recoveries=1,
        on_stuck="exit",
    )


def run_calibration(
    config: RobotConfig,
    log: Path,
    options: BackendOptions | None = None,
    *,
    stop: StopLatch | None = None,
) -> DriveResult:
    """Take the readings, refuse (``CalibrationRefusedError``) or drive the plan, log every tick.

    ``stop``: ``main``'s signal latch (start-up ends at the next step on a signal, the loop
    stops the motors and returns)."""
    check = stop.check if stop is not None else (lambda step: None)
    calibration = config.calibration
    plan = build_plan(calibration)
    holder, spec_source = drive_spec(config)
    spec = holder.spec
    _log.info("calibrate: channels from %s", spec_source)
    rate_hz = config.loop.rate_hz
    # The tick after the last step drives the stop that ends the drive: one more than fits.
    max_ticks = math.ceil(calibration.max_duration_s * rate_hz) + 1
    telemetry_config = log_telemetry(log, max_ticks)
    check("reading the config")
    with open_backend(config, cast(Bundle, holder), MonotonicClock(), options) as backend:
        check("opening the hardware")
        hardware = inject_faults(backend.hardware)
        for line in hardware.describe():
            _log.info("%s", line)
        truth = SimTruth.follow(backend)
        found = preflight(
            hardware,
            backend.clock,
            spec.observation,
            period_s=1.0 / rate_hz,
            max_age_s=config.loop.max_sensor_age_s,
            safe_distance_m=calibration.safe_distance_m,
            wake=_never(),
            stopped=lambda: stop is not None and stop.signal_name is not None,
        )
        check("taking the readings before the drive")
        _log.info("calibrate: %s", _describe(found))
        meta = header(config, plan, spec.observation, spec_source)
        log.unlink(missing_ok=True)  # a fresh log: the fitter reads one drive
        meta_file = write_meta(log, meta)
        drive = CalibrationDrive(
            plan,
            range_channels(spec.observation),
            stop_distance_m=calibration.stop_distance_m,
            max_duration_s=calibration.max_duration_s,
        )
        settings = drive_supervisor(config.supervisor)
        writer = TelemetryWriter(telemetry_config)
        try:
            loop = ControlLoop(
                hardware,
                drive,
                spec,
                config.loop,
                clock=backend.clock,
                telemetry=writer,
                supervisor=Supervisor.for_spec(settings, spec, rate_hz),
                label="calibration drive",
            )
            drive.attach(loop.request_stop)
            if truth is not None:
                truth.start()
            if stop is not None:
                stop.hand_over(loop)
            try:
                summary = loop.run(max_ticks=max_ticks)
            finally:
                if stop is not None:
                    stop.loop_ended()
        finally:
            writer.close()
        link = backend.hardware.link_counters()
        if link is not None:
            summary["link"] = link
    outcome, detail = _outcome(drive, summary["exit_reason"])
    sim = None if truth is None else truth.report()
    meta["summary"] = {
        **summary,
        "outcome": outcome,
        "detail": detail,
        "preflight": found.medians_m,
    }
    if sim is not None:
        meta["sim"] = sim
    write_meta(log, meta)
    return DriveResult(outcome, detail, summary, log, meta_file, sim)


def _outcome(drive: CalibrationDrive, exit_reason: str) -> tuple[str, str]:
    if drive.outcome is not None:
        return drive.outcome, drive.detail
    if exit_reason in SIGNALS:
        return exit_reason, f"stopped by {exit_reason}: the log holds the drive up to then"
    if exit_reason.startswith("max_ticks"):
        return TOO_LONG, f"the drive reached max_duration_s before its plan ended ({exit_reason})"
    return exit_reason, f"the loop ended: {exit_reason}"


def _describe(found: Preflight) -> str:
    ranges = ", ".join(f"{name} {m:.2f} m" for name, m in found.medians_m.items())
    return f"{found.readings} readings before the drive: {ranges or 'no ranges'}; room to turn"


def _never() -> threading.Event:
    """An event nobody sets: the readings' waits run their length (a signal is polled)."""
    return threading.Event()


__all__ = ["DriveResult", "Step", "drive_spec", "drive_supervisor", "run_calibration"]

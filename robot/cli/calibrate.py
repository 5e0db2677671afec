"""``robot calibrate``: the scripted calibration drive, logged for the simulator's fit.

Stands still, spins on the spot on a ladder of duties, pivots on each wheel
(``robot.calibration.plan``), through the control loop with every fail-safe, and writes every
tick to ``--log`` (default ``calibration.jsonl`` beside the config's telemetry) with its header
in ``PATH.meta.json`` (``docs/calibration.md``). ``--dry-run`` prints the plan and moves nothing.

Exit codes: 0 the drive ran to its end, or SIGTERM/SIGINT stopped it (as ``run``); 1 it ended
early (a contact, a range too close, ``max_duration_s``) or the runtime failed; 2 nothing moved:
the config, the arguments, or the readings before the drive refused it (one line).
"""

from __future__ import annotations

import argparse
import logging

from robot.calibration.log import default_log_path
from robot.calibration.plan import build_plan, format_plan
from robot.calibration.session import run_calibration
from robot.cli.exit_codes import EXIT_FAILED, EXIT_OK
from robot.cli.signals import StartupStopped, StopLatch
from robot.config import load_config
from robot.control.loop import LoopFailedError
from robot.control.telemetry import format_summary
from robot.errors import HardwareError
from robot.runtime.backends import BackendOptions
from robot.runtime.state_dirs import with_writable_defaults

_log = logging.getLogger("robot")


def cmd_calibrate(args: argparse.Namespace, options: BackendOptions, stop: StopLatch) -> int:
    """``calibrate``: the drive (or ``--dry-run``: its plan); the exit code."""
    try:
        return _calibrate(args, options, stop)
    except StartupStopped as stopped:
        _log.info("%s", stopped)
        return EXIT_OK


def _calibrate(args: argparse.Namespace, options: BackendOptions, stop: StopLatch) -> int:
    config = with_writable_defaults(load_config(args.config))
    plan = build_plan(config.calibration)
    log = args.log if args.log is not None else default_log_path(config)
    if args.dry_run:
        for line in format_plan(plan, config.loop.rate_hz):
            print(line)
        calibration = config.calibration
        print(
            f"backend {config.hardware.backend}; refuses to start within "
            f"{calibration.safe_distance_m} m, stops within {calibration.stop_distance_m:.3f} m "
            f"or on a contact; at most {calibration.max_duration_s:g} s; log {log}"
        )
        print("dry run: nothing moved")
        return EXIT_OK
    try:
        result = run_calibration(config, log, options, stop=stop)
    except (LoopFailedError, HardwareError) as exc:
        _log.error("%s", exc)
        return EXIT_FAILED
    _log.info("summary: %s", format_summary(result.summary))
    if result.sim is not None:
        _log.info(
            "sim: farthest %.3f m from the start, %d steps in contact",
            result.sim["farthest_from_start_m"],
            result.sim["contact_steps"],
        )
    _log.info("calibration log %s (header %s)", result.log, result.meta)
    if result.ok:
        _log.info("calibrate: %s: %s", result.outcome, result.detail)
        return EXIT_OK
    _log.error("calibrate: drive ended early: %s: %s", result.outcome, result.detail)
    return EXIT_FAILED

"""``robot stop``: drive the configured motors to 0 (the unit's ``ExecStopPost=``)."""

from __future__ import annotations

import argparse
import logging

from robot.cli.exit_codes import EXIT_FAILED, EXIT_OK
from robot.config import load_config
from robot.errors import HardwareError
from robot.hardware.motor_stop import stop_motors
from robot.runtime.backends import BackendOptions

_log = logging.getLogger("robot")


def cmd_stop(args: argparse.Namespace, options: BackendOptions) -> int:
    """``stop``: drive the configured motors to 0 (no bundle, no interpreter)."""
    config = load_config(args.config)
    try:
        lines = stop_motors(config, pin_factory=options.pin_factory)
    except HardwareError as exc:
        _log.error("motors NOT stopped: %s", exc)
        return EXIT_FAILED
    for line in lines:
        _log.info("stopped: %s", line)
    return EXIT_OK

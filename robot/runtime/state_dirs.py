"""Where a run writes: under systemd's ``$STATE_DIRECTORY`` when it is a service, else beside its
config (telemetry, the learner's state). The TFLite probe's verdicts: ``robot.inference.probe``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from robot.config import LearningConfig, RobotConfig, TelemetryConfig
from robot.systemd.directories import state_directory


def with_writable_defaults(
    config: RobotConfig, environ: Mapping[str, str] = os.environ
) -> RobotConfig:
    """``config`` with default telemetry/learning paths moved under ``$STATE_DIRECTORY``.

    Without ``STATE_DIRECTORY`` (not a service) the defaults stay next to the config file. A path
    the config gives (other than the default's own relative value) is never moved. Under systemd
    the config lives in ``/etc``, which the service may not write (``ProtectSystem=strict``).
    """
    state = state_directory(environ)
    if state is None:
        return config
    base = config.source.parent
    telemetry, learning = config.telemetry, config.learning
    if telemetry.path == base / TelemetryConfig.path:
        telemetry = dataclasses.replace(telemetry, path=state / TelemetryConfig.path)
    if learning.state_dir == base / LearningConfig.state_dir:
        learning = dataclasses.replace(learning, state_dir=state / LearningConfig.state_dir)
    return dataclasses.replace(config, telemetry=telemetry, learning=learning)

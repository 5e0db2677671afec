"""Where a run writes: under systemd's ``$STATE_DIRECTORY`` when it is a service, else beside its
config (telemetry, the learner's state) or in the user's cache (the TFLite probe's verdicts)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from robot.config import LearningConfig, RobotConfig, TelemetryConfig
from robot.inference.probe import STATE_DIR_ENV


def state_directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """systemd's ``$STATE_DIRECTORY`` (from ``StateDirectory=``; the first of several), or None."""
    value = environ.get("STATE_DIRECTORY", "")
    first = value.split(":")[0]
    return Path(first) if first else None


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


def probe_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The TFLite probe's cache: $STATE_DIRECTORY, else $SIM2PI_STATE_DIR, else ~/.cache/sim2pi."""
    state = state_directory(environ)
    if state is not None:
        return state
    configured = environ.get(STATE_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "sim2pi"

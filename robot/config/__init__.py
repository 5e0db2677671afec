"""``robot.toml``: parsed once with ``tomllib`` into frozen dataclasses and validated at start.

Every error names the file, the key path, what was expected and found, and the fix. Relative
paths (the bundle, telemetry, learning state) are relative to the config file's directory.
``check_channels`` checks the config's channel mapping against the bundle's spec.

Where things live: ``section`` (a section's fields declared with default, range and unit, and
parsed generically), ``rules`` (how one key is read and checked), ``toml_table`` (typed access
to one TOML table), ``control`` (``[bundle]``, ``[loop]``, ``[telemetry]``), ``hardware`` (the
backends' sections, a tagged union), ``gym`` (``[hardware.gym]``, the laptop's, and the keyword
arguments its env is made with), ``learning`` (``[learning]``), ``supervisor``
(``[supervisor]``), ``dashboard`` (``[dashboard]``), ``calibration`` (``[calibration]``),
``load`` (the whole file).
"""

from __future__ import annotations

from robot.config.calibration import CalibrationConfig
from robot.config.control import (
    LEARNED_POLICY,
    POLICIES,
    RATE_HZ_RANGE,
    BundleConfig,
    LoopConfig,
    TelemetryConfig,
)
from robot.config.dashboard import DashboardConfig
from robot.config.gym import EnvKwargs
from robot.config.hardware import (
    BACKENDS,
    DRIVE_KINDS,
    BumperConfig,
    DistanceSensorConfig,
    DriveConfig,
    GpioConfig,
    GymConfig,
    HardwareConfig,
    LineSensorConfig,
    MotorPins,
    SerialConfig,
    SimConfig,
)
from robot.config.learning import LearningConfig
from robot.config.load import RobotConfig, check_channels, load_config, parse_config
from robot.config.rules import Pin
from robot.config.supervisor import ON_STUCK, SupervisorConfig

__all__ = [
    "BACKENDS",
    "DRIVE_KINDS",
    "LEARNED_POLICY",
    "ON_STUCK",
    "POLICIES",
    "RATE_HZ_RANGE",
    "BumperConfig",
    "BundleConfig",
    "CalibrationConfig",
    "DashboardConfig",
    "DistanceSensorConfig",
    "DriveConfig",
    "EnvKwargs",
    "GpioConfig",
    "GymConfig",
    "HardwareConfig",
    "LearningConfig",
    "LineSensorConfig",
    "LoopConfig",
    "MotorPins",
    "Pin",
    "RobotConfig",
    "SerialConfig",
    "SimConfig",
    "SupervisorConfig",
    "TelemetryConfig",
    "check_channels",
    "load_config",
    "parse_config",
]

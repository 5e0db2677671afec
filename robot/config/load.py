"""The whole of ``robot.toml``: read it once, check it, and check it against a bundle's spec."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from robot.config.calibration import CalibrationConfig
from robot.config.control import BundleConfig, LoopConfig, TelemetryConfig
from robot.config.dashboard import DashboardConfig
from robot.config.hardware import Backend, HardwareConfig
from robot.config.learning import LearningConfig
from robot.config.rules import Problem
from robot.config.section import Section, parse_section, ruled, section
from robot.config.supervisor import SupervisorConfig
from robot.config.toml_table import Table
from robot.errors import ConfigError
from shared.files import MAX_DEPTH, MIB, FileLimits
from shared.spec import TaskSpec

#: What ``load_config`` reads: a robot.toml is a few KiB, and nests 3 deep.
CONFIG_LIMITS = FileLimits(
    "config file",
    max_bytes=1 * MIB,
    fix="give --config a robot.toml (copy one from robot/examples/ and edit it)",
    error=ConfigError,
    max_depth=MAX_DEPTH,
)


@dataclass(frozen=True)
class RobotConfig(Section):
    """The whole of ``robot.toml``."""

    #: The file it was read from (relative paths in it are relative to its directory).
    source: Path
    bundle: BundleConfig = section(BundleConfig)
    loop: LoopConfig = section(LoopConfig, absent="defaults")
    hardware: HardwareConfig = ruled(Backend())
    telemetry: TelemetryConfig = section(TelemetryConfig, absent="defaults")
    learning: LearningConfig = section(LearningConfig, absent="defaults")
    supervisor: SupervisorConfig = section(SupervisorConfig, absent="defaults")
    dashboard: DashboardConfig = section(DashboardConfig, absent="defaults")
    calibration: CalibrationConfig = section(CalibrationConfig, absent="defaults")

    def cross_checks(self) -> Iterable[Problem | None]:
        """On-robot learning needs the supervisor: its contacts end episodes."""
        if self.learning.enabled and not self.supervisor.enabled:
            fix = "set [supervisor] enabled = true, or turn learning off"
            yield Problem(
                "learning.enabled",
                "on-robot learning needs the supervisor (its contacts end episodes, its "
                "recovery backs out), found [supervisor] enabled = false",
                fix,
            )


def load_config(path: str | Path) -> RobotConfig:
    """Read and validate ``path``; raises ConfigError naming the key and the fix."""
    path = Path(path)
    try:
        text = CONFIG_LIMITS.read_text(path, "toml")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file; copy one from robot/examples/ and edit it"
        ) from None
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, or an over-long integer
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax there") from None
    return parse_config(data, path)


def parse_config(data: dict, source: Path) -> RobotConfig:
    """Validate parsed TOML ``data`` read from ``source``."""
    return parse_section(RobotConfig, Table(data, "", source), source.parent, source=source)


def check_channels(config: RobotConfig, spec: TaskSpec) -> None:
    """Raise ConfigError unless the hardware feeds exactly the spec's observation channels."""
    mapped = config.hardware.channel_names()
    where = f"hardware.{config.hardware.backend}"
    for name in spec.observation.names:
        if name not in mapped:
            raise ConfigError(
                f"{config.source}: [{where}] has no sensor for the bundle's channel {name!r}; "
                f"map it (the bundle's channels: {list(spec.observation.names)}; "
                f"mapped: {list(mapped)})"
            )
    for name in mapped:
        if name not in spec.observation.names:
            raise ConfigError(
                f"{config.source}: [{where}] maps channel {name!r}, which the bundle's spec "
                f"does not have; use one of {list(spec.observation.names)} or remove it"
            )

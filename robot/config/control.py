"""``[bundle]``, ``[loop]`` and ``[telemetry]``: what the loop runs, how fast, what it records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from robot.config.section import Section, choice, file_path, flag, integer, number

#: The bundle's Q-table as learnt on the robot (the newest good snapshot in ``[learning]
#: state_dir``), driven greedily without learning (``robot.runtime.compose.open_learned_policy``).
LEARNED_POLICY = "qtable-learned"
POLICIES = ("tflite", "tflite-int8", "qtable", LEARNED_POLICY)
#: A sane control rate: below 1 Hz a robot cannot react, above 200 Hz HC-SR04s cannot keep up.
RATE_HZ_RANGE = (1.0, 200.0)


@dataclass(frozen=True)
class BundleConfig(Section):
    """Which bundle to load and which of its policies to run."""

    toml_path: ClassVar[str] = "bundle"
    path: Path = file_path()
    policy: str = choice(POLICIES)


@dataclass(frozen=True)
class LoopConfig(Section):
    """The control loop's rate and the limits that stop the motors."""

    toml_path: ClassVar[str] = "loop"
    rate_hz: float = number(20.0, low=RATE_HZ_RANGE[0], high=RATE_HZ_RANGE[1], unit="Hz")
    #: A reading older than this (seconds) is stale: the motors stop until fresh data arrives.
    #: ``math.inf`` (Python only): readings never go stale (``robot bench``'s held readings).
    max_sensor_age_s: float = number(0.3, low=0.001, high=10.0, unit="s", unlimited=True)
    #: This many deadlines missed in a row stop the motors until a tick is on time again.
    max_consecutive_overruns: int = integer(3, low=1, high=1000)


@dataclass(frozen=True)
class TelemetryConfig(Section):
    """Per-tick JSON Lines, size-rotated; off by default."""

    toml_path: ClassVar[str] = "telemetry"
    enabled: bool = flag(False)
    path: Path = file_path(Path("telemetry/ticks.jsonl"))
    #: Write one tick in this many (1 = every tick).
    every_n_ticks: int = integer(1, low=1, high=1_000_000)
    max_bytes: int = integer(10_000_000, low=10_000, high=10_000_000_000)
    backups: int = integer(3, low=0, high=100)

"""``[hardware.sim]`` mistakes are config errors: one line, exit 2, no traceback, run or check."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from robot.config import DistanceSensorConfig, SimConfig, load_config
from robot.errors import ConfigError
from tests.robot.conftest import example

ROOT = Path(__file__).resolve().parents[3]
SIM_EXAMPLE = ROOT / "robot" / "examples" / "reference_sim.toml"

#: Refused when the file is read: the world could not be built from it.
TOO_MANY_OBSTACLES = (
    ("obstacles = 6 ", "obstacles = 51"),
    "[hardware.sim.obstacles] expected 0..50",
)
#: Only the drawn world can tell: no place for the robot in a 1 m arena with 50 obstacles.
CROWDED = (
    ("arena_m = 4.0", "arena_m = 1.0"),
    ("obstacles = 6 ", "obstacles = 50"),
    ('policy = "tflite"', 'policy = "qtable"'),
)


def robot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m robot --log-level ERROR *args`` as a user runs it."""
    env = {**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")}
    env.pop("STATE_DIRECTORY", None)
    return subprocess.run(
        [sys.executable, "-m", "robot", "--log-level", "ERROR", *args],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize(
    ("replacements", "expected"),
    [
        ((TOO_MANY_OBSTACLES[0],), TOO_MANY_OBSTACLES[1]),
        (CROWDED, "[hardware.sim] no free start pose in a 1.0 m arena with 50 obstacles"),
    ],
    ids=["read", "world"],
)
def test_a_bad_sim_value_is_one_error_line_and_exit_2(
    tmp_path: Path, command: str, replacements: tuple, expected: str
) -> None:
    config = example(tmp_path, "reference_sim.toml", *replacements)
    extra = ["--max-ticks", "5"] if command == "run" else []
    result = robot(tmp_path, command, "--config", str(config), *extra)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("ERROR robot: ")
    assert expected in errors[0]
    assert (
        "use fewer obstacles or a larger arena_m" in errors[0] or "choose an integer" in errors[0]
    )


def test_the_sim_section_is_checked_on_construction_too() -> None:
    sim = load_config(SIM_EXAMPLE).hardware
    assert isinstance(sim, SimConfig)
    with pytest.raises(
        ConfigError, match=r"\[hardware\.sim\.noise_std_m\] expected 0\.0\.\.0\.5 m"
    ):
        SimConfig(gpio=sim.gpio, noise_std_m=-0.1)
    rear = DistanceSensorConfig("rear_distance_m", trigger=7, echo=8)
    four = replace(sim.gpio, distance_sensors=(*sim.gpio.distance_sensors, rear))
    with pytest.raises(ConfigError, match=r"expected at most 3 .*found 4"):
        replace(sim, gpio=four)


def test_four_distance_sensors_for_three_simulated_rangers(tmp_path: Path) -> None:
    fourth = (
        "[[hardware.sim.gpio.distance_sensors]]\n"
        'channel = "rear_distance_m"\ntrigger = 7\necho = 8\n\n[hardware.sim.gpio.bumper]'
    )
    config = example(tmp_path, "reference_sim.toml", ("[hardware.sim.gpio.bumper]", fourth))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value)
    assert message.startswith(f"{config}: [hardware.sim.gpio.distance_sensors] expected at most 3")
    assert "left, front, right" in message and "found 4" in message

"""robot.toml: the example configs load, and each kind of mistake gets one actionable message."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from robot.config import (
    DistanceSensorConfig,
    DriveConfig,
    GpioConfig,
    GymConfig,
    LearningConfig,
    LoopConfig,
    SerialConfig,
    SimConfig,
    SupervisorConfig,
    TelemetryConfig,
    check_channels,
    load_config,
)
from robot.errors import ConfigError, RobotError
from shared.errors import Sim2PiError
from shared.reference_robot import obstacle_avoid_spec

EXAMPLES = Path(__file__).resolve().parents[3] / "robot" / "examples"

MINIMAL_GPIO = """
[bundle]
path = "bundle"
policy = "qtable"

[loop]
rate_hz = 50

[hardware]
backend = "gpio"

[[hardware.gpio.distance_sensors]]
channel = "left_distance_m"
trigger = 5
echo = 6

[[hardware.gpio.distance_sensors]]
channel = "front_distance_m"
trigger = 17
echo = 27

[[hardware.gpio.distance_sensors]]
channel = "right_distance_m"
trigger = 22
echo = 23

[hardware.gpio.drive]
kind = "motor"

[hardware.gpio.drive.left]
forward = 12
backward = 16

[hardware.gpio.drive.right]
forward = 13
backward = 19
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "robot.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["reference_gpio.toml", "reference_serial.toml"])
def test_example_configs_load_and_map_every_channel(name: str) -> None:
    config = load_config(EXAMPLES / name)
    check_channels(config, obstacle_avoid_spec())
    assert (
        config.bundle.path.resolve()
        == (EXAMPLES / "../../tests/fixtures/obstacle_bundle").resolve()
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("reference_gpio.toml", GpioConfig),
        ("reference_serial.toml", SerialConfig),
        ("reference_sim.toml", SimConfig),
        ("reference_gym.toml", GymConfig),
    ],
)
def test_hardware_section_is_the_backends_own_config(name: str, kind: type) -> None:
    config = load_config(EXAMPLES / name)
    assert type(config.hardware) is kind
    assert config.hardware.backend == name.removeprefix("reference_").removesuffix(".toml")
    assert config.hardware.channel_names() == obstacle_avoid_spec().observation.names


def test_minimal_config_gets_defaults_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL_GPIO))
    assert config.loop.rate_hz == 50.0
    assert config.loop.max_sensor_age_s == 0.3
    assert config.bundle.path == tmp_path / "bundle"
    assert config.telemetry.enabled is False
    assert config.telemetry.path == tmp_path / "telemetry" / "ticks.jsonl"
    assert isinstance(config.hardware, GpioConfig)
    assert config.hardware.backend == "gpio"
    assert config.hardware.drive.left.forward == 12
    assert config.hardware.channel_names() == obstacle_avoid_spec().observation.names


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "robot.toml") + ": ")
    return message


def test_unknown_key_names_its_path_and_the_known_keys(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO.replace("rate_hz = 50", "rate_hz = 50\nrate = 3"))
    assert "[loop.rate] is not a known key" in message
    assert "max_sensor_age_s" in message and "rate_hz" in message


def test_unknown_key_in_an_array_of_tables(tmp_path: Path) -> None:
    text = MINIMAL_GPIO.replace("echo = 27", "echo = 27\nmax_distance = 2")
    message = error_for(tmp_path, text)
    assert "[hardware.gpio.distance_sensors[1].max_distance] is not a known key" in message
    assert "max_distance_m" in message


def test_wrong_type_says_expected_and_found(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO.replace("rate_hz = 50", 'rate_hz = "fast"'))
    assert re.search(r"\[loop\.rate_hz\] expected a number, found str 'fast'", message)


def test_pin_of_the_wrong_type(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO.replace("trigger = 5", "trigger = 5.5"))
    assert "[hardware.gpio.distance_sensors[0].trigger] expected an integer or a string" in message


@pytest.mark.parametrize("rate", ["0.5", "500", "0"])
def test_rate_outside_the_sane_range(tmp_path: Path, rate: str) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO.replace("rate_hz = 50", f"rate_hz = {rate}"))
    assert "[loop.rate_hz] expected 1.0..200.0 Hz" in message
    assert "choose a value between 1.0 and 200.0 Hz" in message


def test_pin_used_twice_names_both_places(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO.replace("backward = 19", "backward = 'GPIO17'"))
    assert "[hardware.gpio.drive.right.backward] pin 'GPIO17' is already used by" in message
    assert "[hardware.gpio.distance_sensors[1].trigger]" in message
    assert "give each device its own pin" in message


def test_channel_fed_twice(tmp_path: Path) -> None:
    text = MINIMAL_GPIO.replace('channel = "right_distance_m"', 'channel = "left_distance_m"')
    message = error_for(tmp_path, text)
    assert "channel 'left_distance_m' is already fed by" in message


def test_missing_channel_mapping_names_the_channel_and_the_fix(tmp_path: Path) -> None:
    text = MINIMAL_GPIO.replace('channel = "right_distance_m"', 'channel = "rear_distance_m"')
    config = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError) as info:
        check_channels(config, obstacle_avoid_spec())
    message = str(info.value)
    assert "[hardware.gpio] has no sensor for the bundle's channel 'right_distance_m'" in message
    assert "mapped: ['left_distance_m', 'front_distance_m', 'rear_distance_m']" in message


def test_unknown_backend_lists_the_available_ones(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO.replace('backend = "gpio"', 'backend = "pigpio"'))
    expected = "[hardware.backend] expected one of ['gpio', 'serial', 'gym', 'sim'], found 'pigpio'"
    assert expected in message


def test_unknown_policy(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO.replace('"qtable"', '"dqn"'))
    assert "[bundle.policy]" in message and "'tflite-int8'" in message


def test_missing_required_key(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO.replace('path = "bundle"\n', ""))
    assert "[bundle.path] is missing" in message


def test_section_for_another_backend_is_refused(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + '\n[hardware.serial]\nurl = "loop://"\nchannels = {}\n'
    message = error_for(tmp_path, text)
    assert "[hardware.serial] is given but backend = 'gpio'" in message


def test_invalid_toml(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[bundle\npath = 1")
    assert "not valid TOML" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file; copy one from robot/examples"):
        load_config(tmp_path / "absent.toml")


def test_serial_channel_index_outside_the_frame(tmp_path: Path) -> None:
    text = (
        (EXAMPLES / "reference_serial.toml")
        .read_text()
        .replace("right_distance_m = 2", "right_distance_m = 3")
    )
    message = error_for(tmp_path, text)
    assert "[hardware.serial.channels.right_distance_m] expected an index 0..2, found 3" in message


def test_learning_epsilon_floor_above_start(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + "\n[learning]\nepsilon_start = 0.1\nepsilon_floor = 0.5\n"
    message = error_for(tmp_path, text)
    assert "[learning.epsilon_floor] expected <= epsilon_start (0.1), found 0.5" in message


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL_GPIO))
    with pytest.raises(AttributeError):
        config.loop.rate_hz = 10.0  # type: ignore[misc]


def test_learning_tuning_keys(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + (
        "\n[learning]\nalpha_omega = 0.7\nalpha_floor = 0.02\n"
        "rollback_window = 5\nrollback_drop = 2.5\nrollback_epsilon_factor = 0.25\n"
        "state_share = 0.5\ntrace_lambda = 0.8\nhuber_delta = 2\nshield_distance_m = 0.3\n"
    )
    learning = load_config(write(tmp_path, text)).learning
    assert (learning.state_share, learning.trace_lambda, learning.huber_delta) == (0.5, 0.8, 2)
    assert learning.shield_distance_m == 0.3
    assert (learning.alpha_omega, learning.alpha_floor) == (0.7, 0.02)
    assert learning.rollback_window == 5
    assert (learning.rollback_drop, learning.rollback_epsilon_factor) == (2.5, 0.25)
    defaults = load_config(write(tmp_path, MINIMAL_GPIO + "\n[learning]\n")).learning
    # The trainer's discount, the HC-SR04's contact reading, a drop on the return's scale.
    assert (defaults.gamma, defaults.state_share, defaults.trace_lambda) == (0.99, 0.5, 0.0)
    # The setting that met the benchmark's bar (README, "Does it help?").
    assert (defaults.huber_delta, defaults.alpha_floor) == (1.0, 0.05)
    assert (defaults.shield_distance_m, defaults.rollback_drop) == (0.25, 100.0)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("alpha_floor = 0.5", "[learning.alpha_floor] expected <= alpha (0.1), found 0.5"),
        ("shield_distance_m = -0.1", "[learning.shield_distance_m] expected 0.0..4.0 m"),
        ("rollback_window = 0", "[learning.rollback_window] expected 1..10000"),
        ("rollback_drop = -1", "[learning.rollback_drop] expected 0.0..1000000000.0"),
        ("rollback_epsilon_factor = 2", "[learning.rollback_epsilon_factor] expected 0.0..1.0"),
        ("alpha_omega = -1", "[learning.alpha_omega] expected 0.0..10.0"),
        ("state_share = 1", "[learning.state_share] expected 0.0..0.999"),
        ("trace_lambda = 1", "[learning.trace_lambda] expected 0.0..0.999"),
        ("huber_delta = -1", "[learning.huber_delta] expected 0.0..1000000.0"),
    ],
)
def test_learning_tuning_key_errors(tmp_path: Path, line: str, expected: str) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO + f"\n[learning]\n{line}\n")
    assert expected in message


def test_config_error_is_under_the_one_error_root(tmp_path: Path) -> None:
    with pytest.raises(Sim2PiError) as info:
        load_config(tmp_path / "absent.toml")
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, RobotError)
    assert isinstance(info.value, ValueError)  # the builtin it resembles


@pytest.mark.parametrize(
    ("line", "change", "expected"),
    [
        ("alpha = 2", {"alpha": 2.0}, "[learning.alpha] expected 1e-06..1.0, found 2.0"),
        (
            "epsilon_decay = 0",
            {"epsilon_decay": 0.0},
            "[learning.epsilon_decay] expected more than 0.0 and at most 1.0, found 0.0",
        ),
        (
            "epsilon_floor = 0.5",
            {"epsilon_floor": 0.5},
            "[learning.epsilon_floor] expected <= epsilon_start (0.2), found 0.5",
        ),
        ("keep = 0", {"keep": 0}, "[learning.keep] expected 1..1000, found 0"),
    ],
)
def test_a_value_is_refused_alike_in_the_file_and_in_code(
    tmp_path: Path, line: str, change: dict, expected: str
) -> None:
    in_file = error_for(tmp_path, MINIMAL_GPIO + f"\n[learning]\n{line}\n")
    assert expected in in_file
    with pytest.raises(ConfigError) as info:
        dataclasses.replace(LearningConfig(), **change)
    assert str(info.value).startswith(expected)
    assert str(info.value).split("; ", 1)[1] == in_file.split("; ", 1)[1]  # the same fix


def test_defaults_are_stated_once_in_the_dataclasses(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL_GPIO + "\n[learning]\n"))
    assert config.learning == LearningConfig(state_dir=tmp_path / "learning")
    assert config.telemetry == TelemetryConfig(path=tmp_path / "telemetry" / "ticks.jsonl")
    assert config.loop == LoopConfig(rate_hz=50.0)
    serial = load_config(EXAMPLES / "reference_serial.toml").hardware
    assert isinstance(serial, SerialConfig)
    assert serial.baudrate == SerialConfig.baudrate == 115_200


def test_every_field_is_declared_with_its_rule() -> None:
    for cls in (
        LoopConfig,
        TelemetryConfig,
        LearningConfig,
        SupervisorConfig,
        GpioConfig,
        SerialConfig,
        GymConfig,
        SimConfig,
        DriveConfig,
        DistanceSensorConfig,
    ):
        for field in dataclasses.fields(cls):
            assert field.metadata, f"{cls.__name__}.{field.name} has no rule"


def test_code_values_are_normalised_like_toml_ones(tmp_path: Path) -> None:
    learning = LearningConfig(state_dir="state", alpha=1)  # type: ignore[arg-type]
    assert learning.state_dir == Path("state") and learning.alpha == 1.0
    supervisor = SupervisorConfig(recovery=[[0, 0, 1]])  # type: ignore[arg-type]
    assert supervisor.recovery == ((0.0, 0.0, 1.0),)
    with pytest.raises(ConfigError, match=r"\[loop\.rate_hz\] expected a finite number"):
        LoopConfig(rate_hz=math.nan)
    # Python code (a benchmark of the runtime alone) may lift the staleness limit; TOML cannot.
    assert LoopConfig(max_sensor_age_s=math.inf).max_sensor_age_s == math.inf
    text = MINIMAL_GPIO.replace("rate_hz = 50", "rate_hz = 50\nmax_sensor_age_s = inf")
    assert "[loop.max_sensor_age_s] expected a finite number" in error_for(tmp_path, text)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "backward = 19\n",
            "",
            "[hardware.gpio.drive.right.backward] is missing; kind = 'motor' needs forward and "
            "backward",
        ),
        (
            "backward = 19\n",
            "backward = 19\nphase = 4\n",
            "[hardware.gpio.drive.right.phase] is not used with kind = 'motor'; remove it or set "
            "kind = 'phase_enable'",
        ),
    ],
)
def test_drive_pins_follow_the_drive_kind(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert expected in error_for(tmp_path, MINIMAL_GPIO.replace(old, new))


def test_pins_and_channels_are_checked_on_construction_too() -> None:
    gpio = load_config(EXAMPLES / "reference_gpio.toml").hardware
    assert isinstance(gpio, GpioConfig)
    clash = DistanceSensorConfig("rear_distance_m", trigger="BCM12", echo=8)
    with pytest.raises(ConfigError) as info:
        dataclasses.replace(gpio, distance_sensors=(*gpio.distance_sensors, clash))
    assert str(info.value) == (
        "[hardware.gpio.drive.left.forward] pin 12 is already used by "
        "[hardware.gpio.distance_sensors[3].trigger]; give each device its own pin"
    )

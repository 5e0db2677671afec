"""``python -m robot stop``: the motors to 0 on MockFactory pins and over a real pty, no bundle."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Motor
from gpiozero.pins.mock import MockFactory, MockPWMPin

from robot.cli import main
from robot.hardware import frames
from tests.robot.conftest import FIXTURE_BUNDLE
from tests.robot.conftest import example as example_config
from tests.robot.mcu import Microcontroller, wait_for

ROOT = Path(__file__).resolve().parents[3]
#: The reference robot's L298N inputs (IN1..IN4).
MOTOR_PINS = (12, 16, 13, 19)

PHASE_ENABLE_DRIVE = """\
[hardware.gpio.drive]
kind = "phase_enable"

[hardware.gpio.drive.left]
phase = 12
enable = 16

[hardware.gpio.drive.right]
phase = 13
enable = 19
"""


def example(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    """An example config whose bundle does not exist: ``stop`` must never read it."""
    missing = (json.dumps(str(FIXTURE_BUNDLE)), json.dumps(str(tmp_path / "no-bundle")))
    return example_config(tmp_path, name, missing, *replacements)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    mock = MockFactory(pin_class=MockPWMPin)
    yield mock
    mock.reset()


def crashed_while_driving(factory: MockFactory, pins: tuple[int, ...]) -> None:
    """The pins as a runtime killed mid-drive leaves them: outputs at a non-zero duty."""
    for number in pins:
        pin = factory.pin(number)
        pin.function = "output"
        pin.frequency = 100
        pin.state = 0.7


def test_gpio_stop_drives_every_drive_pin_low(
    tmp_path: Path, factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    crashed_while_driving(factory, MOTOR_PINS)
    config = example(tmp_path, "reference_gpio.toml")
    assert main(["stop", "--config", str(config)], pin_factory=factory) == 0
    for number in MOTOR_PINS:
        pin = factory.pin(number)
        assert pin.state == 0, number
        assert [float(s.state) for s in pin.states][-2:] == [0.7, 0.0]
    # Only the drive was touched: no sensor or bumper pin was claimed.
    for number in (5, 6, 17, 27, 22, 23, 26):
        assert [s.state for s in factory.pin(number).states] == [False]
        assert factory.pin(number).function == "input"
    assert "drive pins low (left.forward GPIO12=0" in caplog.text


def test_gpio_stop_covers_an_enable_pin_and_a_phase_enable_drive(
    tmp_path: Path, factory: MockFactory
) -> None:
    config = example(
        tmp_path, "reference_gpio.toml", ("# enable = 25 ", "enable = 25 ")
    )  # L298N ENA on GPIO25
    crashed_while_driving(factory, (*MOTOR_PINS, 25))
    assert main(["stop", "--config", str(config)], pin_factory=factory) == 0
    assert [factory.pin(n).state for n in (*MOTOR_PINS, 25)] == [0] * 5

    text = config.read_text()
    start = text.index("[hardware.gpio.drive]")
    end = text.index("[telemetry]")
    config.write_text(text[:start] + PHASE_ENABLE_DRIVE + "\n" + text[end:])
    crashed_while_driving(factory, MOTOR_PINS)
    assert main(["stop", "--config", str(config)], pin_factory=factory) == 0
    assert [factory.pin(n).state for n in MOTOR_PINS] == [0] * 4


def test_gpio_stop_fails_loudly_while_another_device_holds_the_pins(
    tmp_path: Path, factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    motor = Motor(12, 16, pin_factory=factory)  # the runtime, still running
    try:
        config = example(tmp_path, "reference_gpio.toml")
        assert main(["stop", "--config", str(config)], pin_factory=factory) == 1
    finally:
        motor.close()
    assert "motors NOT stopped" in caplog.text
    assert "[hardware.gpio.drive.left.forward] cannot drive pin 12 low" in caplog.text
    assert "stop it first" in caplog.text


def test_serial_stop_sends_stop_frames_over_a_pty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mcu = Microcontroller()
    try:
        config = example(
            tmp_path, "reference_serial.toml", ('url = "/dev/ttyACM0"', f'url = "{mcu.path}"')
        )
        assert main(["stop", "--config", str(config)]) == 0
        wait_for(lambda: len(mcu.received) >= 3)
    finally:
        mcu.close()
    assert mcu.received == [frames.DriveFrame(seq, 0.0, 0.0) for seq in range(3)]
    assert "3 stop frames" in caplog.text


def test_serial_stop_without_the_port_exits_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "ttyACM9"
    config = example(
        tmp_path, "reference_serial.toml", ('url = "/dev/ttyACM0"', f'url = "{missing}"')
    )
    assert main(["stop", "--config", str(config)]) == 1
    assert f"cannot open {missing}" in caplog.text
    assert "own timeout stops the motors" in caplog.text


def test_gym_has_nothing_to_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    config = tmp_path / "robot.toml"
    config.write_text(
        f'[bundle]\npath = "{tmp_path / "none"}"\npolicy = "qtable"\n\n[hardware]\n'
        'backend = "gym"\n\n[hardware.gym]\nenv_id = "trainer.envs:sim2pi/ObstacleAvoid-v0"\n'
        "channels = { left_distance_m = 0 }\n"
    )
    assert main(["stop", "--config", str(config)]) == 0
    assert "gym: no motors outside this process; nothing to stop" in caplog.text


def test_stop_is_quick_and_never_loads_a_bundle_or_a_tflite_runtime(tmp_path: Path) -> None:
    # As systemd runs it (a fresh process), over a real pty; the config's bundle does not exist.
    mcu = Microcontroller()
    try:
        config = example(
            tmp_path, "reference_serial.toml", ('url = "/dev/ttyACM0"', f'url = "{mcu.path}"')
        )
        script = (
            "import sys\n"
            "from robot.cli import main\n"
            f"code = main(['stop', '--config', {str(config)!r}])\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in "
            "('ai_edge_litert', 'tflite_runtime', 'tensorflow', 'gymnasium')]\n"
            "print(code, loaded)\n"
        )
        started_s = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        elapsed_s = time.monotonic() - started_s
        wait_for(lambda: len(mcu.received) >= 3)
    finally:
        mcu.close()
    assert result.stdout.strip() == "0 []", result.stderr
    assert [(f.left, f.right) for f in mcu.received] == [(0.0, 0.0)] * 3  # type: ignore[union-attr]
    # Process start to exit, on a shared 2-core machine (about 0.5 s when idle).
    assert elapsed_s < 10.0

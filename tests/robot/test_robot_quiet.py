"""``python -m robot`` is quiet by default: LiteRT's XNNPACK line only with ``--verbose`` (or
``SIM2PI_VERBOSE=1``); the sim backend prints no gpiozero warning; the robot's own lines stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.quiet import VERBOSE_ENV
from tests.robot.conftest import example, run_robot

XNNPACK = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
GPIOZERO_WARNINGS = ("PWMSoftwareFallback", "PinFactoryFallback", "DistanceSensorNoEcho")


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != VERBOSE_ENV}, **extra}


@pytest.mark.tflite
@pytest.mark.parametrize(
    ("flags", "env", "shown"),
    [
        ((), {}, False),
        (("--verbose",), {}, True),  # after the command
        ((), {VERBOSE_ENV: "1"}, True),
    ],
)
def test_check_hides_xnnpack_unless_verbose(
    tmp_path: Path, flags: tuple[str, ...], env: dict[str, str], shown: bool
) -> None:
    config = example(tmp_path, "reference_sim.toml")
    result = run_robot("check", "--config", str(config), *flags, env=_env(**env))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (XNNPACK in result.stderr.splitlines()) is shown, result.stderr
    assert "check    all well" in result.stdout


@pytest.mark.tflite
@pytest.mark.parametrize("verbose", [False, True])
def test_sim_run_prints_only_the_robots_own_lines(tmp_path: Path, verbose: bool) -> None:
    config = example(tmp_path, "reference_sim.toml")
    flags = ["--verbose"] if verbose else []  # before the command
    result = run_robot(*flags, "run", "--config", str(config), "--max-ticks", "20", env=_env())
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert (XNNPACK in lines) is verbose
    assert not any(word in result.stderr for word in GPIOZERO_WARNINGS), result.stderr
    assert "Traceback" not in result.stderr
    # Every other line is the robot's log: "LEVEL logger: …" or a summary's indented line.
    others = [line for line in lines if line != XNNPACK]
    assert all(line.startswith(("INFO ", "WARNING ", "  ")) for line in others), others


def test_the_gpio_backend_keeps_gpiozero_pwm_warnings_outside_its_sensors() -> None:
    """The gpio backend hides only DistanceSensor's "use pigpio" advice, while constructing a
    sensor on a factory already judged to time edges (``robot.hardware.gpio``); a software-PWM
    fallback warned anywhere else still reaches the user."""
    import time
    import warnings

    from gpiozero.exc import PWMSoftwareFallback

    from robot.cli.bench import simulated_gpio
    from robot.hardware.gpio import GpioHardware

    channels = ("left_distance_m", "front_distance_m", "right_distance_m")
    factory, config, _ = simulated_gpio(channels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with GpioHardware(config, channels, clock=time.monotonic, pin_factory=factory):
            warnings.warn(PWMSoftwareFallback("software PWM on GPIO12"), stacklevel=1)
    assert [str(w.message) for w in caught if w.category is PWMSoftwareFallback] == [
        "software PWM on GPIO12"
    ]

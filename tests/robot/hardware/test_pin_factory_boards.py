"""``robot check``, ``run`` and ``stop`` on a Pi 4 and a Pi 5, with what requirements-pi.txt gives.

Each command is a real subprocess with gpiozero choosing its own pin factory. Nothing off a Pi
has a GPIO chip, so the one fake is the Pi's GPIO hardware: ``fake_pi/sitecustomize.py`` (on the
child's PYTHONPATH) gives gpiozero a board revision, puts an in-memory gpiochip under the real
lgpio module (HC-SR04s on the reference robot's pins echoing 0.5 m) and, for the native
factory, 4 KiB of memory as a Pi 4's /dev/gpiomem. The real lgpio from the installed wheel,
gpiozero's real factories and sim2pi's code run above it.

What to expect comes from requirements-pi.txt itself: where its lgpio line's marker holds for
this interpreter, lgpio must import and drive both boards; where it does not (Python 3.13, where
PyPI has no lgpio), ``check`` must give the one-line fix: Pi OS's python3-lgpio in a venv made
with --system-site-packages.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from robot.config import load_config
from tests.robot.conftest import example

ROOT = Path(__file__).resolve().parents[3]
FAKE_PI = Path(__file__).resolve().parent / "fake_pi"
PI_4, PI_5 = "c03112", "d04170"  # Raspberry Pi 4B rev 1.2 (4 GB), Pi 5B rev 1.0 (8 GB)
#: Generous: under scripts/test-pi-emulated every child runs under qemu.
TIMEOUT_S = 300


def lgpio_required() -> bool:
    """Whether requirements-pi.txt installs lgpio for this interpreter (its marker holds)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pytest needs packaging, but a bare venv has pip's own copy
        from pip._vendor.packaging.requirements import Requirement
    for line in (ROOT / "requirements-pi.txt").read_text().splitlines():
        if re.match(r"lgpio\b", line):
            marker = Requirement(line).marker
            return marker is None or marker.evaluate()
    pytest.fail("requirements-pi.txt has no lgpio line")


def lgpio_importable() -> bool:
    """Whether lgpio imports here (from PyPI's wheel, or from Pi OS through the venv)."""
    return importlib.util.find_spec("lgpio") is not None


def lgpio_fix() -> str:
    """The fix ``robot`` must give when gpiozero falls back from lgpio on this interpreter."""
    if lgpio_importable():
        return "lgpio is installed but did not load (can not open gpiochip)"
    if sys.version_info >= (3, 13):
        return (
            "sudo apt install python3-lgpio, and a venv made with --system-site-packages "
            "(scripts/install-service --system-site-packages)"
        )
    return "pip install lgpio (requirements-pi.txt has it)"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """reference_gpio.toml on the Q-table policy (no TFLite interpreter to build)."""
    return example(tmp_path, "reference_gpio.toml", ('policy = "tflite"', 'policy = "qtable"'))


def robot(
    command: str, config: Path, *, revision: str, gpiochip: bool, gpiomem: bool, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m robot COMMAND --config CONFIG`` on the faked board, in the config's folder
    (lgpio makes its notification pipe in the working directory)."""
    sensors = load_config(config).hardware.distance_sensors
    child = {k: v for k, v in os.environ.items() if not k.startswith("GPIOZERO_")}
    child.update(env)
    child.update(
        PYTHONPATH=os.pathsep.join(
            [str(FAKE_PI), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        SIM2PI_FAKE_PI_REVISION=revision,
        SIM2PI_FAKE_GPIOCHIP="1" if gpiochip else "0",
        SIM2PI_FAKE_GPIOMEM="1" if gpiomem else "0",
        SIM2PI_FAKE_HCSR04=",".join(f"{s.trigger}:{s.echo}" for s in sensors),
        SIM2PI_FAKE_RANGE_M="0.5",
    )
    args = ["--wait-s", "30"] if command == "check" else []
    return subprocess.run(
        [sys.executable, "-m", "robot", command, "--config", str(config), *args],
        cwd=config.parent,
        env=child,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The PROBLEM lines of a check."""
    return [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]


@pytest.mark.parametrize(
    ("revision", "board", "gpiomem"),
    [
        (PI_4, "Raspberry Pi 4B rev 1.2, BCM2711", True),
        (PI_5, "Raspberry Pi 5B rev 1.0, BCM2712", False),  # a Pi 5 has no /dev/gpiomem
    ],
    ids=["pi4", "pi5"],
)
def test_check_on_a_pi_4_and_a_pi_5(config: Path, revision: str, board: str, gpiomem: bool) -> None:
    if lgpio_required():
        assert lgpio_importable(), "requirements-pi.txt installs lgpio here, but it does not import"
    result = robot("check", config, revision=revision, gpiochip=True, gpiomem=gpiomem)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    if lgpio_importable():
        version = metadata.version("lgpio")
        assert (
            f"hardware gpio: pin factory LGPIOFactory (lgpio {version}, chip 0; {board}): "
            "PWM yes, edge timing yes"
        ) in result.stdout, output
        for channel in ("left_distance_m", "front_distance_m", "right_distance_m"):
            assert f"sensor   {channel}: 0.500 (" in result.stdout, output  # echoes were timed
        assert problems(result) == [], output
        assert "check    all well" in result.stdout, output
        assert result.returncode == 0, output
    else:
        [problem] = problems(result)
        assert "skipped lgpio: No module named 'lgpio'" in result.stdout or (
            "tried lgpio (No module named 'lgpio')" in problem
        ), output
        assert lgpio_fix() in problem, output
        assert result.returncode == 1, output


def test_a_fallback_to_native_is_refused_by_check_and_run_but_stop_works(config: Path) -> None:
    # A Pi 4 whose lgpio cannot open the chip (or is missing): gpiozero falls back to native,
    # which has no PWM and no edge timing. stop only drives pins low, which native can do.
    board = {"revision": PI_4, "gpiochip": False, "gpiomem": True}
    check = robot("check", config, **board)
    assert check.returncode == 1, check.stdout + check.stderr
    assert (
        "hardware gpio: pin factory NativeFactory (gpiozero " in check.stdout
        and "; Raspberry Pi 4B rev 1.2, BCM2711): PWM no, edge timing no" in check.stdout
    ), check.stdout
    assert "hardware   skipped lgpio: " in check.stdout
    [problem] = problems(check)
    assert "NativeFactory has no PWM" in problem and "and no edge timing" in problem
    assert lgpio_fix() in problem

    run = robot("run", config, **board)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    [refusal] = [line for line in run.stderr.splitlines() if "NativeFactory" in line]
    assert refusal.startswith("ERROR robot: [hardware.gpio] the pin factory NativeFactory has")
    assert lgpio_fix() in refusal

    stop = robot("stop", config, **board)
    assert stop.returncode == 0, stop.stderr
    assert "stopped: gpio: drive pins low (left.forward GPIO12=0, " in stop.stderr


def test_no_pin_factory_loading_is_one_line_naming_each_and_why(config: Path) -> None:
    # A Pi 5 whose lgpio cannot open the chip: RPi.GPIO and pigpio are not installed, and the
    # native factory needs /dev/gpiomem, which a Pi 5 does not have.
    result = robot("check", config, revision=PI_5, gpiochip=False, gpiomem=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "hardware gpio: pin factory none loaded" in result.stdout
    [problem] = problems(result)
    assert "no gpiozero pin factory loads here: tried lgpio (" in problem
    for tried in (
        "rpigpio (No module named 'RPi')",
        "pigpio (No module named 'pigpio')",
        "native (unable to open /dev/gpiomem or /dev/mem; upgrade your kernel or run as root)",
    ):
        assert tried in problem
    assert lgpio_fix() in problem


@pytest.mark.parametrize("command", ["check", "run"])
def test_mock_pins_without_pwm_are_refused_with_the_fix(config: Path, command: str) -> None:
    result = robot(
        command, config, revision=PI_4, gpiochip=False, gpiomem=False, GPIOZERO_PIN_FACTORY="mock"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    [line] = [line for line in output.splitlines() if "MockFactory has no PWM" in line]
    assert "set GPIOZERO_MOCK_PIN_CLASS=mockpwmpin, or set pwm = false" in line
    if command == "check":
        assert line.startswith("PROBLEM  [hardware.gpio] the pin factory MockFactory has no PWM")
        assert "hardware gpio: pin factory MockFactory (gpiozero " in result.stdout
        assert "MockPin; " in output and "): PWM no, edge timing yes" in output

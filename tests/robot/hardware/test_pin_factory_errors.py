"""A pin factory that cannot run on the board is one line in ``check``, ``run`` and ``stop``.

On a Pi 5, Debian's RPi.GPIO fails as it is imported (``RuntimeError: Cannot determine SOC
peripheral base address``), and gpiozero lets that through when it is the factory asked for.
RPi.GPIO cannot run here, so a stand-in package ``RPi`` whose ``GPIO`` module raises that very
error when imported takes its place (the one fake: no real RPi.GPIO runs off a Pi); gpiozero's
own ``rpigpio`` factory loads it, as on the robot. Each command is a real subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.robot.conftest import example

ROOT = Path(__file__).resolve().parents[3]
PI5_ERROR = "Cannot determine SOC peripheral base address"


@pytest.fixture
def pi5_rpi_gpio(tmp_path: Path) -> dict[str, str]:
    """An environment whose RPi.GPIO fails to import as it does on a Pi 5."""
    package = tmp_path / "site" / "RPi"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "GPIO.py").write_text(f"raise RuntimeError({PI5_ERROR!r})\n")
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "rpigpio"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), str(ROOT)])
    env.pop("GPIOZERO_MOCK_PIN_CLASS", None)
    return env


@pytest.mark.parametrize("command", ["check", "run", "stop"])
def test_rpi_gpio_on_a_pi_5_is_one_line_with_the_fix(
    tmp_path: Path, pi5_rpi_gpio: dict[str, str], command: str
) -> None:
    config = example(tmp_path, "reference_gpio.toml", ('policy = "tflite"', 'policy = "qtable"'))
    result = subprocess.run(
        [sys.executable, "-m", "robot", command, "--config", str(config)],
        cwd=ROOT,
        env=pi5_rpi_gpio,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    failures = [line for line in output.splitlines() if PI5_ERROR in line]
    assert len(failures) == 1, output
    assert "RPi.GPIO does not support the Pi 5" in failures[0]
    assert "use lgpio: GPIOZERO_PIN_FACTORY=lgpio, or unset it" in failures[0]
    if importlib.util.find_spec("lgpio") is None:  # and how to install it, for this Python
        install = "python3-lgpio" if sys.version_info >= (3, 13) else "pip install lgpio"
        assert install in failures[0]

"""The systemd unit template, checked with the real ``systemd-analyze`` (verify and security)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "scripts" / "sim2pi-robot.service"
UNIT_NAME = UNIT.name
MAX_EXPOSURE = 2.0

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian/Ubuntu: apt-get install systemd)",
)


def settings(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, by ``Section.Key``, repeated keys in order."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key}", []).append(value)
    return out


def render_for_this_machine(directory: Path, text: str | None = None) -> Path:
    """Write the unit with ExecStart's interpreter replaced by one that exists here.

    ``systemd-analyze verify`` refuses a unit whose ExecStart= binary does not exist, and
    ``/opt/sim2pi/.venv/bin/python`` exists only on an installed Pi; so the copy verified here
    runs this test's own Python instead. Everything else is the template byte for byte.
    """
    text = UNIT.read_text() if text is None else text
    rendered = text.replace("/opt/sim2pi/.venv/bin/python", sys.executable)
    path = directory / UNIT_NAME
    path.write_text(rendered)
    return path


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``systemd-analyze verify`` on one unit file (no man page lookups)."""
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def exposure(path: Path) -> float:
    """The overall exposure ``systemd-analyze security --offline=true`` gives a unit file."""
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, f"no overall exposure line in:\n{result.stdout}\n{result.stderr}"
    return float(match.group(1))


@needs_systemd_analyze
def test_verify_passes_without_a_single_warning(tmp_path):
    result = verify(render_for_this_machine(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == ""


@needs_systemd_analyze
def test_verify_would_catch_a_misspelt_key(tmp_path):
    # systemd only warns about unknown keys (exit 0), which is why the test above demands silence.
    broken = UNIT.read_text().replace("WatchdogSec=", "WatchdogSecs=")
    result = verify(render_for_this_machine(tmp_path, broken))
    assert "Unknown key 'WatchdogSecs'" in result.stdout + result.stderr


@needs_systemd_analyze
def test_exposure_is_at_most_two_and_the_comment_tells_the_truth(tmp_path):
    measured = exposure(UNIT)
    assert measured <= MAX_EXPOSURE, f"exposure {measured} > {MAX_EXPOSURE}: hardening was lost"
    stated = re.search(r"^# Exposure .*\n# (\d+\.\d+) ", UNIT.read_text(), re.MULTILINE)
    assert stated, "the unit's header should state its measured exposure"
    assert float(stated.group(1)) == measured, "update the exposure stated in the unit's header"


@needs_systemd_analyze
def test_exposure_measurement_sees_the_hardening(tmp_path):
    # Without the hardening block the same unit is far above the bar: the check is not vacuous.
    text = UNIT.read_text()
    bare = text[: text.index("# --- Hardening")] + text[text.index("[Install]") :]
    (tmp_path / UNIT_NAME).write_text(bare)
    assert exposure(tmp_path / UNIT_NAME) > 5.0


def test_unit_has_what_the_service_needs():
    unit = settings(UNIT.read_text())
    one = {key: values[-1] for key, values in unit.items()}
    assert one["Service.Type"] == "notify"
    assert one["Service.NotifyAccess"] == "main"
    assert one["Service.Restart"] == "on-failure"
    assert one["Service.User"] == "sim2pi"
    assert set(one["Service.SupplementaryGroups"].split()) == {"gpio", "dialout"}
    assert one["Service.StateDirectory"] == "sim2pi"
    assert one["Service.KillSignal"] == "SIGTERM"
    assert one["Service.WatchdogSec"] and one["Service.TimeoutStopSec"]
    assert int(one["Unit.StartLimitBurst"]) >= 1 and one["Unit.StartLimitIntervalSec"]
    python = "/opt/sim2pi/.venv/bin/python"
    config = "/etc/sim2pi/robot.toml"
    assert one["Service.ExecStart"] == f"{python} -m robot run --config {config}"
    assert one["Service.ExecStopPost"] == f"{python} -m robot stop --config {config}"
    assert "PYTHONPATH=/opt/sim2pi/app" in unit["Service.Environment"]
    assert unit["Install.WantedBy"] == ["multi-user.target"]


def test_gpio_and_serial_devices_stay_usable():
    unit = settings(UNIT.read_text())
    assert unit["Service.DevicePolicy"] == ["closed"]
    allowed = dict(entry.split() for entry in unit["Service.DeviceAllow"])
    for device_class in (
        "char-gpiochip",  # /dev/gpiochip*
        "char-rpi-gpiomem",  # /dev/gpiomem* (current kernels)
        "char-bcm2835-gpiomem",  # /dev/gpiomem (older kernels)
        "char-ttyAMA",  # PL011 UARTs, /dev/serial0
        "char-ttyS",  # mini UART
        "char-ttyACM",  # USB CDC microcontrollers (Pico, Arduino Leonardo)
        "char-ttyUSB",  # USB serial adapters
    ):
        assert allowed.get(device_class) == "rw", device_class
    # Hiding /dev would hide the robot's devices: PrivateDevices must stay off.
    assert "Service.PrivateDevices" not in unit


#: Run a command with the kernel's memory-deny-write-execute (prctl PR_SET_MDWE, Linux >= 6.3):
#: the rule systemd's MemoryDenyWriteExecute=yes enforces (with seccomp) for the service.
MDWE_EXEC = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
"""


def sim_config(bundle: Path, policy: str) -> str:
    """reference_sim.toml (the simulator on gpiozero mock pins) with ``bundle`` and ``policy``."""
    text = (ROOT / "robot" / "examples" / "reference_sim.toml").read_text()
    text = text.replace('"../../tests/fixtures/obstacle_bundle"', f'"{bundle}"')
    return text.replace('policy = "tflite"', f'policy = "{policy}"')


@pytest.mark.parametrize("policy", ["tflite", "tflite-int8"])
def test_the_runtime_works_without_writable_executable_memory(tmp_path, policy):
    # MemoryDenyWriteExecute=yes would break a JIT (none of CPython, numpy or LiteRT's XNNPACK
    # should need one): check and a short run, under the same rule, on the simulator.
    config = tmp_path / "robot.toml"
    bundle = ROOT / "tests" / "fixtures" / "obstacle_bundle"
    config.write_text(sim_config(bundle, policy))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    under_mdwe = [sys.executable, "-c", MDWE_EXEC, sys.executable]
    for command in ("check", "run --max-ticks 20"):
        result = subprocess.run(
            [*under_mdwe, "-m", "robot", *command.split(), "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )
        if result.returncode == 77:
            pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
        assert result.returncode == 0, result.stdout + result.stderr
    writable_executable = "import mmap; mmap.mmap(-1, 4096, prot=7)"  # PROT_READ|WRITE|EXEC
    probe = subprocess.run(
        [*under_mdwe, "-c", writable_executable],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "PermissionError" in probe.stderr, "the rule was not in force"

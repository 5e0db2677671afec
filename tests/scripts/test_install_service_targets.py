"""scripts/install-service on each Pi OS: what it asks the robot's Python, and what it decides.

Before it changes anything the installer runs one probe with the venv's interpreter (version,
machine, pointer size, whether ``import lgpio`` and ``import numpy`` work) and from the answer
picks ``--system-site-packages`` or stops with the apt command that fixes the gap.

The one fake: no Pi's Python runs here, so ``--python`` names a stand-in, a shell script that
answers the probe as Pi OS Bookworm's or Trixie's ``/usr/bin/python3`` would (64- or 32-bit,
with or without python3-lgpio and python3-numpy) and hands every other command (``-m venv``)
to this test's Python. The probe itself runs for real in
``test_the_probe_reads_this_machines_python``. Everything else is real: the installer, useradd,
systemctl and venv under ``--root``, as in test_install_service.py.
"""

from __future__ import annotations

import hashlib
import platform
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.scripts import test_install_service as base

#: The fixtures of test_install_service.py: a throw-away checkout, requirements with nothing in.
checkout = base.checkout
requirements = base.requirements

EXAMPLES = base.REPO / "robot" / "examples"
NO_LGPIO = "ModuleNotFoundError: No module named 'lgpio'"
NO_NUMPY = "ModuleNotFoundError: No module named 'numpy'"
PROBE_MARK = "install-service: target probe"  # the first line of the installer's probe


@dataclass(frozen=True)
class PiPython:
    """What a Pi OS's /usr/bin/python3 answers to the installer's probe."""

    version: str
    machine: str  # platform.machine(): the kernel's view, not the userland's
    pointer_bits: int  # 8 * struct.calcsize("P"): the userland's
    lgpio: str = "ok"  # "ok", or the import error's first line
    numpy: str = "ok"

    def stand_in(self, path: Path) -> Path:
        """Write the stand-in interpreter to ``path``."""
        answers = " ".join(
            f"'{key}={value}'"
            for key, value in (
                ("version", self.version),
                ("machine", self.machine),
                ("pointer_bits", self.pointer_bits),
                ("lgpio", self.lgpio.replace("'", "'\\''")),
                ("numpy", self.numpy.replace("'", "'\\''")),
            )
        )
        path.write_text(
            "#!/bin/sh\n"
            "# Stand-in for a Pi OS Python: answers install-service's probe, runs the rest.\n"
            f'case "$*" in *"{PROBE_MARK}"*) printf "%s\\n" {answers}; exit 0 ;; esac\n'
            f'exec {sys.executable} "$@"\n'
        )
        path.chmod(0o755)
        return path


BOOKWORM_64 = PiPython("3.11", "aarch64", 64, lgpio=NO_LGPIO)  # lgpio comes from PyPI
BOOKWORM_32 = PiPython("3.11", "armv7l", 32, lgpio=NO_LGPIO)  # Debian's numpy 1.24
TRIXIE_64 = PiPython("3.13", "aarch64", 64)  # with `apt install python3-lgpio`
TRIXIE_32 = PiPython("3.13", "armv7l", 32)  # Debian's numpy 2.2, python3-lgpio
#: 32-bit Pi OS on a Pi 4 or 5 booted with the default 64-bit kernel.
BOOKWORM_32_ON_64BIT_KERNEL = PiPython("3.11", "aarch64", 32)


def install(
    checkout: Path, root: Path, requirements: Path, python: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``checkout``'s installer into ``root`` with ``python`` as the robot's interpreter."""
    return subprocess.run(
        [
            str(checkout / "scripts" / "install-service"),
            "--root",
            str(root),
            "--requirements",
            str(requirements),
            "--python",
            str(python),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The installer's own error and warning lines on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("install-service:")]


def venv_line(result: subprocess.CompletedProcess[str], python: Path) -> str:
    """The printed command that creates the venv."""
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(f"{python} -m venv")]
    return line


@pytest.mark.parametrize(
    ("pi", "reasons"),
    [
        pytest.param(BOOKWORM_64, [], id="bookworm-arm64"),
        pytest.param(
            BOOKWORM_32,
            ["PyPI has no numpy wheels for 32-bit armv7l: the venv takes Debian's python3-numpy"],
            id="bookworm-armhf",
        ),
        pytest.param(
            TRIXIE_64,
            ["PyPI has no lgpio for Python 3.13: the venv takes Pi OS's python3-lgpio"],
            id="trixie-arm64",
        ),
        pytest.param(
            TRIXIE_32,
            [
                "PyPI has no numpy wheels for 32-bit armv7l: the venv takes Debian's python3-numpy",
                "PyPI has no lgpio for Python 3.13: the venv takes Pi OS's python3-lgpio",
            ],
            id="trixie-armhf",
        ),
    ],
)
def test_each_pi_os_gets_the_venv_it_needs(tmp_path, checkout, requirements, pi, reasons):
    system_site = bool(reasons)  # each reason alone makes the venv see Debian's packages
    root = base.make_root(tmp_path / "root")
    python = pi.stand_in(tmp_path / "python3")
    result = install(checkout, root, requirements, python, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert errors(result) == []
    venv = f"{root}/opt/sim2pi/.venv"
    flag = " --system-site-packages" if system_site else ""
    assert venv_line(result, python) == f"{python} -m venv{flag} {venv}"
    # The stamp records the choice, so a venv built without it is rebuilt with it.
    stamp = hashlib.sha256(
        requirements.read_bytes() + f"system-site={int(system_site)} \n".encode()
    ).hexdigest()
    assert f"echo {stamp} > {venv}/.sim2pi-requirements.sha256" in result.stdout.splitlines()
    said = [line for line in result.stderr.splitlines() if "--system-site-packages" in line]
    assert said == [f"# --system-site-packages (chosen automatically): {r}" for r in reasons]


#: Each Python the installer refuses, with its one line: {python} is --python, {config} the
#: config the service would use (the checkout's reference_gpio.toml).
REFUSALS = [
    pytest.param(
        (
            PiPython("3.13", "aarch64", 64, lgpio=NO_LGPIO),
            "install-service: '{python}' (Python 3.13, aarch64) cannot import lgpio, the pin "
            "factory of backend 'gpio' in {config} (ModuleNotFoundError: No module named "
            "'lgpio'), and PyPI has no wheels of it for this Python; run 'sudo apt install "
            "python3-lgpio' (python3-lgpio is in Raspberry Pi OS's archive; plain Debian does not "
            "package it: use Raspberry Pi OS), then run this again",
        ),
        id="trixie-arm64-without-python3-lgpio",
    ),
    pytest.param(
        (
            PiPython("3.11", "armv7l", 32, lgpio=NO_LGPIO, numpy=NO_NUMPY),
            "install-service: '{python}' (Python 3.11, armv7l) cannot import numpy "
            "(ModuleNotFoundError: No module named 'numpy'), and PyPI has no wheels of it for this "
            "Python; run 'sudo apt install python3-numpy', then run this again",
        ),
        id="bookworm-armhf-without-python3-numpy",
    ),
    pytest.param(
        (
            PiPython("3.13", "armv7l", 32, lgpio=NO_LGPIO, numpy=NO_NUMPY),
            "install-service: '{python}' (Python 3.13, armv7l) cannot import numpy "
            "(ModuleNotFoundError: No module named 'numpy') or lgpio, the pin factory of backend "
            "'gpio' in {config} (ModuleNotFoundError: No module named 'lgpio'), and PyPI has no "
            "wheels of them for this Python; run 'sudo apt install python3-numpy python3-lgpio' "
            "(python3-lgpio is in Raspberry Pi OS's archive; plain Debian does not package it: use "
            "Raspberry Pi OS), then run this again",
        ),
        id="trixie-armhf-without-either",
    ),
    pytest.param(
        (
            BOOKWORM_32_ON_64BIT_KERNEL,
            "install-service: '{python}' is a 32-bit Python but reports machine 'aarch64' (32-bit "
            "Pi OS booted with the 64-bit kernel), so pip would choose 64-bit wheels it cannot "
            "install; add 'arm_64bit=0' to /boot/firmware/config.txt (/boot/config.txt on images "
            "before Bookworm) and reboot, so that the 32-bit kernel reports armv7l, or install the "
            "64-bit Raspberry Pi OS",
        ),
        id="32-bit-pi-os-on-the-64-bit-kernel",
    ),
    pytest.param(
        (
            PiPython("3.9", "aarch64", 64),
            "install-service: '{python}' is Python 3.9: expected 3.11 or newer; pass --python "
            "/usr/bin/python3.11 (or newer)",
        ),
        id="python-3.9",
    ),
]


@pytest.mark.parametrize("dry_run", [False, True], ids=["install", "dry-run"])
@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_python_the_venv_cannot_be_built_for_is_refused_before_anything_changes(
    tmp_path, checkout, requirements, refusal, dry_run
):
    pi, message = refusal
    root = base.make_root(tmp_path / "root")
    before = base.snapshot(root)
    python = pi.stand_in(tmp_path / "python3")
    result = install(checkout, root, requirements, python, *(["--dry-run"] if dry_run else []))
    assert result.returncode == 2
    assert result.stdout == ""
    config = checkout / "robot" / "examples" / "reference_gpio.toml"
    assert errors(result) == [message.format(python=python, config=config)]
    assert base.snapshot(root) == before


def warning_serial(python: Path, config: Path) -> str:
    """The warning for a Trixie without python3-lgpio whose config needs no pins."""
    return (
        f"install-service: warning: '{python}' cannot import lgpio ({NO_LGPIO}), which PyPI "
        f"has none of for Python 3.13; the serial backend of {config} needs no pin factory, so "
        "the install goes on; before switching to the gpio backend run 'sudo apt install "
        "python3-lgpio' (Raspberry Pi OS's archive; plain Debian does not package it)"
    )


def test_without_lgpio_an_installed_serial_config_only_warns(tmp_path, checkout, requirements):
    # The config the service will use is the installed robot.toml, not the (gpio) example.
    root = base.make_root(tmp_path / "root")
    installed = root / "etc" / "sim2pi" / "robot.toml"
    installed.parent.mkdir(parents=True)
    installed.write_text((EXAMPLES / "reference_serial.toml").read_text())
    python = PiPython("3.13", "aarch64", 64, lgpio=NO_LGPIO).stand_in(tmp_path / "python3")
    result = install(checkout, root, requirements, python, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert errors(result) == [warning_serial(python, installed)]
    venv = f"{root}/opt/sim2pi/.venv"
    assert venv_line(result, python) == f"{python} -m venv --system-site-packages {venv}"


@pytest.mark.slow
@base.as_root
@base.needs_account_tools
def test_without_lgpio_a_serial_robot_is_installed(tmp_path, checkout, requirements):
    root = base.make_root(tmp_path / "root")
    example = checkout / "robot" / "examples" / "reference_serial.toml"
    python = PiPython("3.13", "aarch64", 64, lgpio=NO_LGPIO).stand_in(tmp_path / "python3")
    result = install(checkout, root, requirements, python, "--example-config", str(example))
    assert result.returncode == 0, result.stderr
    assert errors(result) == [warning_serial(python, example)]
    cfg = (root / "opt" / "sim2pi" / ".venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    assert 'backend = "serial"' in (root / "etc" / "sim2pi" / "robot.toml").read_text()
    assert (root / "etc" / "systemd" / "system" / base.UNIT).is_file()


def test_the_probe_reads_this_machines_python(tmp_path, checkout, requirements):
    # The serial example: on a Python 3.13 without lgpio a gpio config would (rightly) be refused.
    root = base.make_root(tmp_path / "root")
    example = checkout / "robot" / "examples" / "reference_serial.toml"
    python = Path(sys.executable)
    result = install(
        checkout, root, requirements, python, "--dry-run", "--example-config", str(example)
    )
    assert result.returncode == 0, result.stderr
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    bits = 8 * struct.calcsize("P")
    assert (
        f"# target: {python} is Python {version} on {platform.machine()} ({bits}-bit); "
        f"the service's config {example} has backend 'serial'"
    ) in result.stderr.splitlines()


@pytest.mark.parametrize("has_gpio_group", [False, True], ids=["plain-debian", "pi-os"])
def test_without_a_gpio_group_the_builder_is_told_how_to_give_it_the_pins(
    tmp_path, checkout, requirements, has_gpio_group
):
    root = base.make_root(tmp_path / "root")  # dialout, and no gpio: plain Debian
    if has_gpio_group:
        with (root / "etc" / "group").open("a") as group:
            group.write("gpio:x:997:\n")
    python = BOOKWORM_64.stand_in(tmp_path / "python3")
    result = install(checkout, root, requirements, python, "--dry-run")
    assert result.returncode == 0, result.stderr
    note = (
        "# no 'gpio' group here: not Raspberry Pi OS, whose udev rule gives that group "
        "/dev/gpiochip*; creating it, but for the gpio backend also run: echo "
        '\'SUBSYSTEM=="gpio", GROUP="gpio", MODE="0660"\' > '
        "/etc/udev/rules.d/60-sim2pi-gpio.rules && udevadm control --reload && "
        "udevadm trigger --subsystem-match=gpio"
    )
    groupadd = f"groupadd --prefix {root} --system gpio"
    assert (note in result.stderr.splitlines()) is not has_gpio_group
    assert (groupadd in result.stdout.splitlines()) is not has_gpio_group

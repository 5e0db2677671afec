"""The dashboard's optional unit (``scripts/sim2pi-dashboard.service``) with the real
``systemd-analyze``, and ``scripts/install-service --dashboard`` run for real into a throw-away
root (as ``test_install_service.py`` does for the robot's unit)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from robot.dashboard.server import IDLE_TIMEOUT_S, MAX_CLIENTS
from tests.scripts.test_install_service import (
    as_root,
    checkout,  # noqa: F401 (a fixture)
    install,
    make_root,
    needs_account_tools,
    requirements,  # noqa: F401 (a fixture)
)
from tests.scripts.test_service_unit import exposure, needs_systemd_analyze, settings, verify

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "scripts" / "sim2pi-dashboard.service"
NAME = UNIT.name
MAX_EXPOSURE = 1.0
COMMAND = "-m robot dashboard --config /etc/sim2pi/robot.toml"


def rendered_here(directory: Path, text: str | None = None) -> Path:
    """The unit with its interpreter replaced by this test's (verify checks ExecStart exists)."""
    text = UNIT.read_text() if text is None else text
    path = directory / NAME
    path.write_text(text.replace("/opt/sim2pi/.venv/bin/python", sys.executable))
    return path


@needs_systemd_analyze
def test_verify_passes_without_a_single_warning(tmp_path: Path) -> None:
    result = verify(rendered_here(tmp_path))
    assert (result.returncode, (result.stdout + result.stderr).strip()) == (0, "")
    broken = verify(rendered_here(tmp_path, UNIT.read_text().replace("UMask=", "UMasque=")))
    assert "Unknown key 'UMasque'" in broken.stdout + broken.stderr


@needs_systemd_analyze
def test_exposure_is_low_and_the_header_states_it(tmp_path: Path) -> None:
    measured = exposure(UNIT)
    assert measured <= MAX_EXPOSURE, f"exposure {measured} > {MAX_EXPOSURE}: hardening was lost"
    stated = re.search(r"^# Exposure .*\n# (\d+\.\d+) ", UNIT.read_text(), re.MULTILINE)
    assert stated and float(stated.group(1)) == measured, "update the exposure in the header"
    text = UNIT.read_text()
    bare = text[: text.index("# --- Hardening")] + text[text.index("[Install]") :]
    (tmp_path / NAME).write_text(bare)
    assert exposure(tmp_path / NAME) > 5.0  # the measurement sees the hardening


def test_it_reads_the_robots_state_and_writes_nothing() -> None:
    unit = settings(UNIT.read_text())
    one = {key: values[-1] for key, values in unit.items()}
    assert one["Service.ExecStart"] == f"/opt/sim2pi/.venv/bin/python {COMMAND}"
    assert (one["Service.User"], one["Service.Group"]) == ("sim2pi", "sim2pi")
    assert "STATE_DIRECTORY=/var/lib/sim2pi" in unit["Service.Environment"]
    assert one["Service.ProtectSystem"] == "strict"
    assert one["Service.ReadOnlyPaths"] == "-/var/lib/sim2pi"
    for writable in (
        "StateDirectory",
        "CacheDirectory",
        "LogsDirectory",
        "RuntimeDirectory",
        "ReadWritePaths",
        "DynamicUser",
    ):
        assert f"Service.{writable}" not in unit, writable
    # The network: IP to serve the page, from this machine only unless a drop-in opens it.
    assert one["Service.IPAddressDeny"] == "any"
    assert one["Service.IPAddressAllow"] == "localhost"
    assert set(one["Service.RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6"}
    assert one["Service.PrivateDevices"] == "yes"
    assert "Service.SupplementaryGroups" not in unit  # no GPIO, no serial ports
    assert unit["Install.WantedBy"] == ["multi-user.target"]


def test_its_resources_are_bounded_beside_the_loop() -> None:
    # The Pi has 512 MB and the control loop beside it; the limits fit what the server allows
    # itself (MAX_CLIENTS request threads, one socket each) with room to spare.
    one = {key: values[-1] for key, values in settings(UNIT.read_text()).items()}
    assert one["Service.MemoryMax"] == "128M" and one["Service.MemorySwapMax"] == "0"
    assert int(one["Service.TasksMax"]) >= MAX_CLIENTS + 8
    assert int(one["Service.LimitNOFILE"]) >= MAX_CLIENTS + 16
    assert int(one["Service.CPUWeight"]) < 100  # the loop's unit keeps the default, 100
    assert int(one["Service.CPUQuota"].rstrip("%")) <= 50
    assert IDLE_TIMEOUT_S <= 10


def dashboard_lines(root: Path, src: Path, prefix: str = "/opt/sim2pi") -> list[str]:
    """What ``--dashboard`` adds to a dry run: the unit rendered and enabled."""
    dest = f"{root}/etc/systemd/system/{NAME}"
    return [
        f"install -d -m 0755 {root}/etc/systemd/system",  # (a dry run made nothing)
        f"sed -e 's#/opt/sim2pi#{prefix}#g' -e 's#/etc/sim2pi#/etc/sim2pi#g' "
        "-e 's#^User=sim2pi$#User=sim2pi#' -e 's#^Group=sim2pi$#Group=sim2pi#' "
        f"{src}/scripts/{NAME} > {dest}.tmp && chmod 0644 {dest}.tmp && mv -T {dest}.tmp {dest}",
        f"systemctl --root={root} enable {NAME}",
    ]


@pytest.fixture(scope="module")
def dashboard_checkout(checkout: Path) -> Path:  # noqa: F811
    """The installer's test checkout, with the dashboard's unit."""
    shutil.copy2(UNIT, checkout / "scripts" / NAME)
    return checkout


def test_dry_run_adds_the_dashboard_unit_after_the_robots(
    tmp_path: Path,
    dashboard_checkout: Path,
    requirements: Path,  # noqa: F811
) -> None:
    root = make_root(tmp_path / "root")
    plain = install(dashboard_checkout, root, requirements, "--dry-run")
    with_it = install(dashboard_checkout, root, requirements, "--dry-run", "--dashboard")
    assert (plain.returncode, with_it.returncode) == (0, 0), with_it.stderr
    assert f"systemd/system/{NAME}" not in plain.stdout  # only copied with the release
    assert with_it.stdout.splitlines() == [
        *plain.stdout.splitlines(),
        *dashboard_lines(root, dashboard_checkout),
    ]


def test_dashboard_without_its_template_is_refused(tmp_path: Path, requirements: Path) -> None:  # noqa: F811
    src = tmp_path / "src"
    (src / "scripts").mkdir(parents=True)
    for name in ("install-service", "sim2pi-robot.service"):
        shutil.copy2(ROOT / "scripts" / name, src / "scripts" / name)
    result = install(src, make_root(tmp_path / "root"), requirements, "--dry-run", "--dashboard")
    assert result.returncode == 2
    assert f"--dashboard: unit template '{src}/scripts/{NAME}' not found" in result.stderr


@pytest.mark.slow
@as_root
@needs_account_tools
def test_install_enables_it_and_uninstall_removes_it(
    tmp_path: Path,
    dashboard_checkout: Path,
    requirements: Path,  # noqa: F811
) -> None:
    root = make_root(tmp_path / "root")
    args = ("--prefix", "/srv/robot", "--dashboard")
    first = install(dashboard_checkout, root, requirements, *args)
    assert first.returncode == 0, first.stderr
    units = root / "etc" / "systemd" / "system"
    text = (units / NAME).read_text()
    assert f"ExecStart=/srv/robot/.venv/bin/python {COMMAND}" in text
    assert "Environment=PYTHONPATH=/srv/robot/app" in text and "/opt/sim2pi" not in text
    assert os.readlink(units / "multi-user.target.wants" / NAME) == f"/etc/systemd/system/{NAME}"
    assert "systemctl start sim2pi-dashboard.service" in first.stderr
    again = install(dashboard_checkout, root, requirements, *args)
    assert (again.returncode, again.stdout) == (0, "")  # idempotent
    removed = install(
        dashboard_checkout, root, requirements, "--prefix", "/srv/robot", "--uninstall"
    )
    assert removed.returncode == 0, removed.stderr
    assert not (units / NAME).exists()
    assert not (units / "multi-user.target.wants" / NAME).is_symlink()
    assert not (units / "sim2pi-robot.service").exists()

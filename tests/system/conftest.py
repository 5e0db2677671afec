"""The system tests' guest: booted once per session, the robot installed in it for real.

Every test here is marked ``system`` (deselected by the dev suite's ``addopts``) and skips, with
the reason, unless ``scripts/test-system`` runs it: that needs root, systemd-nspawn, debootstrap
and zstd, and builds the guest's root (``SIM2PI_SYSTEM_GUEST``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.guest import STATE, UNIT, Guest

REPO = Path(__file__).resolve().parents[2]
#: The drop-in the tests add: the sim backend's pins recorded where a test can read them, and
#: the stall fault armed by a file in a directory of its own (see test_service.py).
TEST_DROPIN = f"""[Service]
Environment=SIM2PI_SIM_PINS_FILE={STATE}/pins.json
Environment=SIM2PI_FAULT_STALL_FILE={STATE}/fault/stall
"""
WHEELS = "/var/cache/sim2pi/wheels"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/system ``system``; skip it where it cannot run."""
    here = Path(__file__).parent
    reason = why_not_runnable()
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.system)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def why_not_runnable() -> str | None:
    """Why the system tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "system tests need root (systemd-nspawn, mounts): run scripts/test-system as root"
    tools = ["systemd-nspawn", "nsenter", "ssh", "ssh-keygen", "rsync", "ip", "git"]
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return f"system tests need {', '.join(missing)} (apt-get install systemd-container …)"
    tree = os.environ.get("SIM2PI_SYSTEM_GUEST")
    if not tree or not Path(tree, ".sim2pi-guest").is_file():
        return "no guest root (SIM2PI_SYSTEM_GUEST): run the system tests with scripts/test-system"
    return None


@pytest.fixture(scope="session")
def guest() -> Iterator[Guest]:
    """The booted guest, with ``scripts/install-service`` run in it (sim backend, the fixture
    bundle, the venv built offline from the cached wheels) and the tests' drop-in added."""
    work = Path(tempfile.mkdtemp(prefix="sim2pi-system-", dir="/var/tmp"))
    box = Guest(Path(os.environ["SIM2PI_SYSTEM_GUEST"]), work, {"/src": REPO})
    try:
        box.boot()
        install = (
            "cd /src && scripts/install-service --example-config robot/examples/reference_sim.toml"
            " --bundle tests/fixtures/obstacle_bundle"
            f" --pip-arg=--no-index --pip-arg=--find-links={WHEELS}"
        )
        box.sh(install, timeout=600)
        # Idempotent under a real systemd too: a second run changes (and prints) nothing.
        again = box.sh(install, timeout=600)
        assert again.stdout == "", again.stdout
        box.sh(f"mkdir -p /etc/systemd/system/{UNIT}.d")
        box.sh(f"cat > /etc/systemd/system/{UNIT}.d/50-system-test.conf", input=TEST_DROPIN)
        box.systemctl("daemon-reload")
        yield box
    finally:
        box.close()
        shutil.rmtree(work, ignore_errors=True)

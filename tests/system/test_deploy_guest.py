"""``scripts/deploy`` from the host into the guest over real ssh, with the guest's systemd doing
the restarts.

The guest's sshd listens on its end of the veth pair (its only network); the host connects
with a key made for the session. Releases come from a clone of this checkout's HEAD, with the
working tree's ``scripts/deploy`` and ``scripts/install-service`` committed on top (so that what
is tested is what is being changed); the bad release raises in ``robot run`` before READY=1 while
``robot check`` still passes, as a release with a start-up bug would.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.system.conftest import REPO
from tests.system.guest import GUEST_ADDRESS, UNIT, Guest

GIT = ["git", "-c", "user.email=system-test@sim2pi", "-c", "user.name=system test"]


@pytest.fixture(scope="module")
def ssh(guest: Guest, tmp_path_factory) -> str:
    """The ssh command (SIM2PI_SSH) that reaches the guest's root with a fresh key."""
    keys = tmp_path_factory.mktemp("ssh")
    key = keys / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    guest.sh(
        "install -d -m 0700 /root/.ssh && cat > /root/.ssh/authorized_keys",
        input=(keys / "id_ed25519.pub").read_text(),
    )
    guest.wait_for("sshd", lambda: guest.show("ssh.service", "ActiveState") == "active")
    command = shlex.join(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", f"UserKnownHostsFile={keys / 'known_hosts'}", "-o", "LogLevel=ERROR",
         "-o", "ConnectTimeout=10"]
    )  # fmt: skip
    result = subprocess.run(
        [*shlex.split(command), f"root@{GUEST_ADDRESS}", "uname -n"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return command


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A clone of HEAD with the working tree's deploy and installer committed on top."""
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    for name in ("scripts/deploy", "scripts/install-service", "scripts/sim2pi-robot.service"):
        (clone / name).write_bytes((REPO / name).read_bytes())
    subprocess.run(
        [*GIT, "-C", str(clone), "commit", "-q", "-a", "--allow-empty", "-m", "wt"], check=True
    )
    return clone


def deploy(checkout: Path, ssh: str) -> subprocess.CompletedProcess[str]:
    """``scripts/deploy root@GUEST`` from ``checkout``."""
    return subprocess.run(
        [str(checkout / "scripts" / "deploy"), f"root@{GUEST_ADDRESS}"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "SIM2PI_SSH": ssh},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def head(checkout: Path) -> str:
    """The release id deploy gives HEAD."""
    return subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_a_good_release_is_switched_and_started(guest: Guest, ssh: str, checkout: Path) -> None:
    guest.systemctl("start", UNIT)
    old_pid = guest.show(UNIT, "MainPID")
    result = deploy(checkout, ssh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"is ready with release {head(checkout)}" in result.stderr
    assert guest.sh("readlink /opt/sim2pi/app").stdout.strip() == f"releases/{head(checkout)}"
    pid = guest.show(UNIT, "MainPID")
    assert pid != old_pid and guest.show(UNIT, "ActiveState") == "active"
    # The running process runs the new release's code.
    assert guest.sh("cat /opt/sim2pi/app/RELEASE").stdout.strip() == head(checkout)


def test_a_release_that_does_not_become_ready_is_rolled_back(
    guest: Guest, ssh: str, checkout: Path
) -> None:
    first = deploy(checkout, ssh)
    assert first.returncode == 0, first.stdout + first.stderr
    good = head(checkout)
    run_py = checkout / "robot" / "cli" / "run.py"
    source = run_py.read_text()
    at = source.index(") -> int:\n", source.index("def cmd_run(")) + len(") -> int:\n")
    run_py.write_text(
        source[:at] + '    raise RuntimeError("a release that cannot run")\n' + source[at:]
    )
    subprocess.run([*GIT, "-C", str(checkout), "commit", "-q", "-a", "-m", "bad"], check=True)
    bad = head(checkout)

    result = deploy(checkout, ssh)
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"did not become ready with release {bad}" in result.stderr
    assert "the previous release runs again" in result.stderr
    assert guest.sh("readlink /opt/sim2pi/app").stdout.strip() == f"releases/{good}"
    assert guest.show(UNIT, "ActiveState") == "active"
    journal = guest.sh(f"journalctl -q -o cat -u {UNIT} -n 200").stdout
    assert "RuntimeError: a release that cannot run" in journal
    assert "rolled back release=" + bad in guest.sh("cat /opt/sim2pi/deploy.log").stdout

"""scripts/deploy end to end against this machine, with no sshd and no systemd.

What stands in for what, and so what these tests do not prove:
- ``ssh``: ``SIM2PI_SSH`` names a four-line script that drops the host argument and runs the
  command with ``sh -c`` here, as sshd would run it on the robot. rsync and tar really run on
  both ends of that pipe. Real ssh (keys, quoting by a remote login shell other than sh) is not
  exercised.
- the robot: a temporary directory (``--remote-dir``, ``--remote-config``) and this test's
  Python (``--remote-python``) in place of the robot's venv. ``robot check`` really runs on the
  deployed code, bundle and config; the config's hardware is the ``sim`` backend (the robot
  simulator behind gpiozero mock pins), because on bare GPIO mock pins the HC-SR04s never echo
  and the check rightly fails.
- systemd: ``--no-systemd`` skips the restart. The one test of the roll-back path uses a
  stand-in ``systemctl`` (``SIM2PI_SYSTEMCTL``) that refuses to start one release; whether a
  real systemd reports readiness as the script expects is for a test on a Pi.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE_BUNDLE = REPO / "tests" / "fixtures" / "obstacle_bundle"
OWN_FILES = (
    "scripts/deploy",
    "scripts/install-service",
    "scripts/sim2pi-robot.service",
    "scripts/sim2pi-dashboard.service",
)
#: Committed code the robot needs (taken from HEAD, not from other people's edits in progress).
CODE = ("robot", "shared", "requirements-pi.txt")
#: A config ``robot check`` can pass on a machine without the robot: the simulator as its world.
#: The bundle path is the laptop's; deploy points it at the deployed bundle.
SIM_CONFIG = (
    (REPO / "robot" / "examples" / "reference_sim.toml")
    .read_text()
    .replace('"../../tests/fixtures/obstacle_bundle"', '"bundles/obstacle"')
)

FAKE_SSH = """#!/bin/sh
# Stand-in for ssh: drop the host, run the command here with sh -c (as sshd does remotely).
shift
exec sh -c "$*"
"""

#: What a release holds (scripts/deploy and scripts/install-service): the robot's code only.
ROBOT_FILES = (
    "robot shared scripts/install-service scripts/sim2pi-robot.service "
    "scripts/sim2pi-dashboard.service requirements-pi.txt"
)


def committed_code(dest: Path) -> Path:
    """Unpack the robot's code as committed at HEAD into ``dest``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "HEAD", *CODE], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def robot_check_exists() -> bool:
    """Whether the committed code has ``python -m robot check`` yet (issue 6 adds it)."""
    with tempfile.TemporaryDirectory() as tmp:
        code = committed_code(Path(tmp))
        if not (code / "robot" / "__main__.py").exists():
            return False
        result = subprocess.run(
            [sys.executable, "-m", "robot", "check", "--help"],
            cwd=code,
            env={**os.environ, "PYTHONPATH": str(code)},
            capture_output=True,
            check=False,
            timeout=60,
        )
    return result.returncode == 0


needs_robot_check = pytest.mark.skipif(
    not robot_check_exists(),
    reason="`python -m robot check` is not committed yet (robot/__main__.py, issue 6): "
    "deploy runs it on the robot before switching",
)


def commit_all(checkout: Path, message: str) -> None:
    """Commit everything in ``checkout`` (a throw-away repository)."""
    git = ["git", "-C", str(checkout), "-c", "user.name=test", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], check=True)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A git checkout of the deploy scripts (as edited here) and the committed robot code."""
    dest = tmp_path / "checkout"
    dest.mkdir()
    committed_code(dest)
    for name in OWN_FILES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    subprocess.run(["git", "init", "-q", str(dest)], check=True)
    commit_all(dest, "deployable")
    return dest


@pytest.fixture
def robot(tmp_path) -> dict[str, Path]:
    """The 'robot': where its install and config live, and the ssh stand-in that reaches it."""
    ssh = tmp_path / "fake-ssh"
    ssh.write_text(FAKE_SSH)
    ssh.chmod(0o755)
    laptop_config = tmp_path / "laptop-robot.toml"
    laptop_config.write_text(SIM_CONFIG)
    return {
        "dir": tmp_path / "robot" / "opt",
        "config": tmp_path / "robot" / "etc" / "robot.toml",
        "laptop_config": laptop_config,
    }


def deploy(
    checkout: Path, robot: dict[str, Path], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``checkout``'s deploy against the temporary robot.

    Without rsync on this machine, a test that does not choose a transfer gets deploy's own
    fallback, ``--transfer tar`` (what those tests check is the release, not the transfer).
    """
    if "--transfer" not in args and shutil.which("rsync") is None:
        args = (*args, "--transfer", "tar")
    full_env = {
        **os.environ,
        "SIM2PI_SSH": str(robot["dir"].parent.parent / "fake-ssh"),
        "GPIOZERO_PIN_FACTORY": "mock",  # no GPIO here, in case anything asks for pins
        **(env or {}),
    }
    return subprocess.run(
        [
            str(checkout / "scripts" / "deploy"),
            "localhost",
            "--remote-dir",
            str(robot["dir"]),
            "--remote-config",
            str(robot["config"]),
            "--remote-python",
            sys.executable,
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=full_env,
        timeout=300,
    )


def head(checkout: Path) -> str:
    """The release id deploy gives a clean checkout: its short commit hash."""
    result = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def bundle_copy(tmp_path: Path, created_at: str) -> Path:
    """The fixture bundle with another created-at: same policy, another manifest hash."""
    dest = tmp_path / "bundles" / created_at.replace(":", "")[:17] / "obstacle_bundle"
    shutil.copytree(FIXTURE_BUNDLE, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["created_at"] = created_at
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dest


def test_dry_run_prints_every_command_and_connects_to_nothing(tmp_path, checkout, robot):
    laptop_config = robot["laptop_config"]
    witness = tmp_path / "ssh-was-run"
    ssh = tmp_path / "ssh"
    ssh.write_text(f"#!/bin/sh\ntouch {witness}\nexit 1\n")
    ssh.chmod(0o755)
    result = subprocess.run(
        [
            str(checkout / "scripts" / "deploy"),
            "pi@robot.local",
            "--bundle",
            str(FIXTURE_BUNDLE),
            "--config",
            str(robot["laptop_config"]),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SIM2PI_SSH": str(ssh)},
    )
    assert result.returncode == 0, result.stderr
    assert not witness.exists()
    rid = head(checkout)
    rel = f"/opt/sim2pi/releases/{rid}"
    name = (
        "obstacle_bundle-"
        + (
            subprocess.run(
                ["sha256sum", str(FIXTURE_BUNDLE / "manifest.json")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout[:12]
        )
    )
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        f"{ssh} pi@robot.local 'mkdir -p {rel} /opt/sim2pi/bundles /opt/sim2pi/incoming'",
        f"git -C {checkout} ls-files -z -- {ROBOT_FILES} | rsync -a -e {ssh} --from0 "
        f"--files-from=- {checkout}/ pi@robot.local:{rel}/",
        f"rsync -a -e {ssh} --delete {FIXTURE_BUNDLE}/ pi@robot.local:/opt/sim2pi/bundles/{name}/",
        f"rsync -a -e {ssh} {laptop_config} pi@robot.local:/opt/sim2pi/incoming/robot.toml",
        f"{ssh} pi@robot.local bash -s <<'SIM2PI_REMOTE'",
        "R=/opt/sim2pi",
    ]
    assert f"ID={rid}" in lines and f"BUNDLE_NAME={name}" in lines
    assert "NEW_CONF=/opt/sim2pi/incoming/robot.toml" in lines
    assert "SYSTEMD=1" in lines and lines[-1] == "SIM2PI_REMOTE"
    # The remote script is the one that runs: valid shell, including the roll-back.
    script = "\n".join(lines[5:-1])
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert "rollback" in script and "robot check --config" in script


def test_sudo_and_tar_transfer_in_the_plan(checkout):
    result = subprocess.run(
        [str(checkout / "scripts" / "deploy"), "pi", "--sudo", "--transfer", "tar", "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rel = f"/opt/sim2pi/releases/{head(checkout)}"
    assert lines[1] == (
        f"git -C {checkout} ls-files -z -- {ROBOT_FILES} | tar -C {checkout} --null "
        f"--ignore-failed-read -T - -cf - | ssh pi 'sudo tar -C {rel} -xf -'"
    )
    assert lines[2] == "ssh pi sudo bash -s <<'SIM2PI_REMOTE'"
    assert "BUNDLE_NAME=''" in lines and "NEW_CONF=''" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "which robot?"),
        (["pi", "--bundle", "/nonexistent"], "expected a bundle directory with manifest.json"),
        (["pi", "--config", "/nonexistent.toml"], "is not a file"),
        (["pi", "--transfer", "scp"], "expected rsync or tar"),
        (["pi", "--remote-dir", "opt/sim2pi"], "expected an absolute path"),
        (["pi", "--timeout", "soon"], "expected a whole number"),
        (["pi", "other"], "one HOST only"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(checkout, args, message):
    result = subprocess.run(
        [str(checkout / "scripts" / "deploy"), *args, "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
@needs_robot_check
@pytest.mark.parametrize("transfer", ["rsync", "tar"])
def test_deploy_to_localhost_end_to_end(tmp_path, checkout, robot, transfer):
    if transfer == "rsync" and shutil.which("rsync") is None:
        pytest.skip("rsync is not installed here (apt install rsync)")
    first = deploy(
        checkout,
        robot,
        "--bundle",
        str(FIXTURE_BUNDLE),
        "--config",
        str(robot["laptop_config"]),
        "--no-systemd",
        "--transfer",
        transfer,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    opt = robot["dir"]
    rid = head(checkout)
    assert os.readlink(opt / "app") == f"releases/{rid}"
    app = opt / "app"
    tracked = subprocess.run(
        ["git", "-C", str(checkout), "ls-files", "--", *ROBOT_FILES.split()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "robot/cli/__init__.py" in tracked and "shared/bundle/read.py" in tracked
    for name in tracked:
        assert (app / name).read_bytes() == (checkout / name).read_bytes(), name
    # The trainer, the tests and the benchmarks stay on the laptop.
    for laptop_only in ("trainer", "tests", "bench"):
        assert not (app / laptop_only).exists(), laptop_only
    assert (app / "RELEASE").read_text() == f"{rid}\n"
    assert list((app / "robot" / "__pycache__").glob("*.pyc"))
    bundle = opt / "bundle"
    assert os.readlink(bundle).startswith("bundles/obstacle_bundle-")
    for path in FIXTURE_BUNDLE.iterdir():
        assert (bundle / path.name).read_bytes() == path.read_bytes()
    config = robot["config"].read_text()
    assert f'path = "{opt}/bundle"' in config
    assert "--no-systemd: release" in first.stderr

    # The same deploy again: nothing new, the same links, a second line in the log.
    again = deploy(checkout, robot, "--no-systemd", "--transfer", transfer)
    assert again.returncode == 0, again.stdout + again.stderr
    assert os.readlink(opt / "app") == f"releases/{rid}"
    assert len((opt / "deploy.log").read_text().splitlines()) == 2


@pytest.mark.slow
@needs_robot_check
def test_a_failing_check_switches_nothing(tmp_path, checkout, robot):
    good = deploy(
        checkout,
        robot,
        "--bundle",
        str(FIXTURE_BUNDLE),
        "--config",
        str(robot["laptop_config"]),
        "--no-systemd",
    )
    assert good.returncode == 0, good.stdout + good.stderr
    before = {name: os.readlink(robot["dir"] / name) for name in ("app", "bundle")} | {
        "config": robot["config"].read_text()
    }

    broken = bundle_copy(tmp_path, "2030-01-01T00:00:00+00:00")
    with (broken / "qtable.npy").open("r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")  # a flipped byte: bad checksum
    (checkout / "scripts" / "NOTE").write_text("a new release\n")
    commit_all(checkout, "next release")
    result = deploy(checkout, robot, "--bundle", str(broken), "--no-systemd")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "robot check failed: nothing was switched" in result.stderr
    after = {name: os.readlink(robot["dir"] / name) for name in ("app", "bundle")} | {
        "config": robot["config"].read_text()
    }
    assert after == before


SYSTEMCTL_STAND_IN = """#!/bin/sh
# Stand-in for systemctl (there is no systemd here): 'restart' fails while the app link points
# at the release named in $BAD_RELEASE_FILE, as a service that never sends READY=1 would.
echo "$*" >> "$CALLS"
case "$1" in
restart) [ "$(readlink "$APP_LINK")" != "$(cat "$BAD_RELEASE_FILE")" ] ;;
show) echo 4242 ;;
is-active) echo active ;;
*) exit 1 ;;
esac
"""


@pytest.mark.slow
@needs_robot_check
def test_a_release_that_does_not_become_ready_is_rolled_back(tmp_path, checkout, robot):
    stand_in = tmp_path / "systemctl"
    stand_in.write_text(SYSTEMCTL_STAND_IN)
    stand_in.chmod(0o755)
    calls = tmp_path / "calls"
    bad = tmp_path / "bad-release"
    bad.write_text("none yet")
    env = {
        "SIM2PI_SYSTEMCTL": str(stand_in),
        "CALLS": str(calls),
        "APP_LINK": str(robot["dir"] / "app"),
        "BAD_RELEASE_FILE": str(bad),
    }
    first = deploy(
        checkout,
        robot,
        "--bundle",
        str(FIXTURE_BUNDLE),
        "--config",
        str(robot["laptop_config"]),
        "--settle",
        "0",
        env=env,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    good_release = os.readlink(robot["dir"] / "app")
    good_bundle = os.readlink(robot["dir"] / "bundle")
    good_config = robot["config"].read_text()

    (checkout / "scripts" / "NOTE").write_text("a release that will not start\n")
    commit_all(checkout, "bad release")
    bad.write_text(f"releases/{head(checkout)}")
    calls.write_text("")
    other_config = tmp_path / "other.toml"
    other_config.write_text(SIM_CONFIG.replace("rate_hz = 20.0", "rate_hz = 25.0"))
    newer = bundle_copy(tmp_path, "2030-01-01T00:00:00+00:00")
    result = deploy(
        checkout,
        robot,
        "--bundle",
        str(newer),
        "--config",
        str(other_config),
        "--settle",
        "0",
        env=env,
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert (
        "did not become ready" in result.stderr and "previous release runs again" in result.stderr
    )
    assert os.readlink(robot["dir"] / "app") == good_release
    assert os.readlink(robot["dir"] / "bundle") == good_bundle
    assert robot["config"].read_text() == good_config
    restarts = [line for line in calls.read_text().splitlines() if line.startswith("restart")]
    assert restarts == ["restart sim2pi-robot.service"] * 2
    assert "rolled back" in (robot["dir"] / "deploy.log").read_text()


@pytest.mark.slow
@needs_robot_check
def test_old_releases_and_bundles_are_pruned(tmp_path, checkout, robot):
    for i in range(3):
        (checkout / "scripts" / "NOTE").write_text(f"release {i}\n")
        commit_all(checkout, f"release {i}")
        bundle = bundle_copy(tmp_path, f"2030-01-0{i + 1}T00:00:00+00:00")
        args = ["--bundle", str(bundle), "--no-systemd", "--keep", "1"]
        if i == 0:
            args += ["--config", str(robot["laptop_config"])]
        result = deploy(checkout, robot, *args)
        assert result.returncode == 0, result.stdout + result.stderr
    releases = sorted(p.name for p in (robot["dir"] / "releases").iterdir())
    bundles = sorted(p.name for p in (robot["dir"] / "bundles").iterdir())
    # --keep 1: the active one and the previous one survive.
    assert len(releases) == 2 and os.readlink(robot["dir"] / "app").split("/")[1] in releases
    assert len(bundles) == 2 and os.readlink(robot["dir"] / "bundle").split("/")[1] in bundles


@pytest.mark.slow
@needs_robot_check
def test_a_failure_while_switching_switches_back(tmp_path, checkout, robot):
    args = ["--bundle", str(FIXTURE_BUNDLE), "--config", str(robot["laptop_config"])]
    good = deploy(checkout, robot, *args, "--no-systemd")
    assert good.returncode == 0, good.stdout + good.stderr
    before = {name: os.readlink(robot["dir"] / name) for name in ("app", "bundle")}

    (checkout / "scripts" / "NOTE").write_text("next release\n")
    commit_all(checkout, "next release")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the config's directory cannot be created here\n")
    result = deploy(
        checkout,
        robot,
        *args,
        "--no-systemd",
        "--remote-config",  # a later --remote-config wins
        str(blocker / "robot.toml"),
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "switching failed: switching back" in result.stderr
    assert {name: os.readlink(robot["dir"] / name) for name in ("app", "bundle")} == before

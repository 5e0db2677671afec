"""scripts/install-service, run for real into a throw-away root directory (``--root``).

``--root DIR`` makes the installer treat DIR as ``/``: users are added to DIR/etc/passwd with
``useradd --prefix``, the unit is enabled with ``systemctl --root`` (which only creates the
symlink), and no daemon-reload happens. Creating users and chowning needs root, so those tests
skip for other users; the dry-run and render tests run everywhere.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = "sim2pi-robot.service"
FIXTURE_BUNDLE = REPO / "tests" / "fixtures" / "obstacle_bundle"
#: What a checkout needs for an install: the scripts, the unit, an example config and the code.
CHECKOUT_FILES = ("scripts/install-service", f"scripts/{UNIT}", "requirements-pi.txt")
CHECKOUT_DIRS = ("robot", "shared")

as_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="creating users (useradd --prefix) and chown need root"
)
needs_account_tools = pytest.mark.skipif(
    shutil.which("useradd") is None or shutil.which("systemctl") is None,
    reason="useradd and systemctl (Debian: passwd, systemd) are needed for a real install",
)

#: What a release holds (scripts/deploy and scripts/install-service): the robot's code only.
ROBOT_FILES = (
    "robot shared scripts/install-service scripts/sim2pi-robot.service "
    "scripts/sim2pi-dashboard.service requirements-pi.txt"
)


def make_root(path: Path) -> Path:
    """A minimal root file system: the account files useradd edits, with dialout but no gpio."""
    etc = path / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\ndialout:*::\n")
    return path


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A small git checkout: the install files as edited here, the code as committed.

    The installer names releases after the checkout's commit; a copy keeps other people's
    commits to the real checkout from changing that name halfway through a test.
    """
    dest = tmp_path_factory.mktemp("checkout")
    for name in CHECKOUT_FILES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    # The code as committed, not other people's edits in progress.
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "HEAD", *CHECKOUT_DIRS],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    git = ["git", "-C", str(dest), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "install files"], check=True)
    return dest


@pytest.fixture
def requirements(tmp_path) -> Path:
    """A requirements file with nothing to install, so the venv step needs no network."""
    path = tmp_path / "requirements-empty.txt"
    path.write_text("# the test installs nothing: pip runs, but offline\n")
    return path


def install(
    checkout: Path, root: Path, requirements: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``checkout``'s installer into ``root`` with this test's Python and requirements."""
    return subprocess.run(
        [
            str(checkout / "scripts" / "install-service"),
            "--root",
            str(root),
            "--requirements",
            str(requirements),
            "--python",
            sys.executable,
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content, symlink target or mode."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[key] = oct(path.stat().st_mode)
    return out


def group_members(root: Path, group: str) -> list[str]:
    """The members of ``group`` in ``root``'s /etc/group."""
    for line in (root / "etc" / "group").read_text().splitlines():
        name, _, _, members = line.split(":")
        if name == group:
            return members.split(",") if members else []
    raise AssertionError(f"no group {group} in {root}/etc/group")


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path, checkout, requirements):
    root = make_root(tmp_path / "root")
    before = snapshot(root)
    result = install(checkout, root, requirements, "--dry-run", "--bundle", str(FIXTURE_BUNDLE))
    assert result.returncode == 0, result.stderr
    assert snapshot(root) == before
    lines = result.stdout.splitlines()
    head = ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"]
    rid = subprocess.run(head, capture_output=True, text=True, check=True).stdout.strip()
    src = checkout  # the checkout the installer runs from
    p = f"{root}/opt/sim2pi"
    stamp = hashlib.sha256(requirements.read_bytes() + b"system-site=0 \n").hexdigest()
    bundle_name = (
        "obstacle_bundle-"
        + hashlib.sha256((FIXTURE_BUNDLE / "manifest.json").read_bytes()).hexdigest()[:12]
    )
    assert lines[:9] == [
        f"groupadd --prefix {root} --system gpio",
        f"useradd --prefix {root} --system --user-group --no-create-home --home-dir "
        "/var/lib/sim2pi --shell /usr/sbin/nologin --groups gpio,dialout sim2pi",
        f"install -d -m 0755 {p}",
        f"{sys.executable} -m venv {p}/.venv",
        f"{p}/.venv/bin/python -m pip install --disable-pip-version-check --quiet "
        f"-r {requirements}",
        f"echo {stamp} > {p}/.venv/.sim2pi-requirements.sha256",
        f"install -d -m 0755 {p}/releases/{rid}.tmp",
        f"git -C {src} ls-files -z -- {ROBOT_FILES} | tar -C {src} --null --ignore-failed-read "
        f"-T - -cf - | tar -C {p}/releases/{rid}.tmp -xf -",
        f"printf '%s\\n' {rid} > {p}/releases/{rid}.tmp/RELEASE",
    ]
    assert lines[9].startswith(f"{p}/.venv/bin/python -m compileall -q ")
    assert lines[10:] == [
        f"mv -T {p}/releases/{rid}.tmp {p}/releases/{rid}",
        f"ln -sfn releases/{rid} {p}/app.new && mv -T {p}/app.new {p}/app",
        f"install -d -m 0755 {p}/bundles",
        f"cp -R {FIXTURE_BUNDLE} {p}/bundles/{bundle_name}.tmp && chmod -R a+rX,go-w "
        f"{p}/bundles/{bundle_name}.tmp && mv -T {p}/bundles/{bundle_name}.tmp "
        f"{p}/bundles/{bundle_name}",
        f"ln -sfn bundles/{bundle_name} {p}/bundle.new && mv -T {p}/bundle.new {p}/bundle",
        # Under --root the group's id is looked up in ROOT/etc/group when the command runs.
        f"install -d -m 0750 -o 0 -g $(grep '^sim2pi:' {root}/etc/group | cut -d: -f3) "
        f"{root}/etc/sim2pi",
        f"{src}/scripts/install-service --render-config {src}/robot/examples/reference_gpio.toml "
        f"--prefix /opt/sim2pi > {root}/etc/sim2pi/robot.toml",
        f"chown 0:$(grep '^sim2pi:' {root}/etc/group | cut -d: -f3) "
        f"{root}/etc/sim2pi/robot.toml && chmod 0640 {root}/etc/sim2pi/robot.toml",
        f"install -d -m 0755 {root}/etc/systemd/system",
        "sed -e 's#/opt/sim2pi#/opt/sim2pi#g' -e 's#/etc/sim2pi#/etc/sim2pi#g' "
        "-e 's#^User=sim2pi$#User=sim2pi#' -e 's#^Group=sim2pi$#Group=sim2pi#' "
        f"{src}/scripts/{UNIT} > {root}/etc/systemd/system/{UNIT}.tmp && chmod 0644 "
        f"{root}/etc/systemd/system/{UNIT}.tmp && mv -T {root}/etc/systemd/system/{UNIT}.tmp "
        f"{root}/etc/systemd/system/{UNIT}",
        f"systemctl --root={root} enable {UNIT}",
    ]


@pytest.mark.slow
@as_root
@needs_account_tools
def test_install_as_printed_then_idempotent_then_uninstall(tmp_path, checkout, requirements):
    root = make_root(tmp_path / "root")
    args = ("--prefix", "/srv/robot", "--config-dir", "/etc/robot")
    # Install by running the commands the dry run printed. If it left out or misprinted a step,
    # a real run afterwards would still find work to do.
    plan = install(checkout, root, requirements, *args, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    executed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", plan.stdout],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert executed.returncode == 0, executed.stderr
    first = install(checkout, root, requirements, *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""

    # The user, in both device groups.
    passwd = (root / "etc" / "passwd").read_text()
    assert re.search(r"^sim2pi:x:\d+:\d+::/var/lib/sim2pi:/usr/sbin/nologin$", passwd, re.M)
    assert group_members(root, "gpio") == ["sim2pi"]
    assert group_members(root, "dialout") == ["sim2pi"]

    # The code, compiled, behind the app link; the venv.
    app = root / "srv" / "robot" / "app"
    assert app.is_symlink() and os.readlink(app).startswith("releases/")
    assert (app / "robot" / "systemd" / "sdnotify.py").is_file()
    assert list((app / "robot" / "systemd" / "__pycache__").glob("sdnotify.*.pyc"))
    for laptop_only in ("trainer", "tests", "bench"):  # the release is the robot's code only
        assert not (app / laptop_only).exists(), laptop_only
    assert (app / "RELEASE").read_text().strip() == os.readlink(app).removeprefix("releases/")
    venv_python = root / "srv" / "robot" / ".venv" / "bin" / "python"
    assert os.access(venv_python, os.X_OK)

    # The config, rendered from the example, readable by the service's group only.
    config = root / "etc" / "robot" / "robot.toml"
    text = config.read_text()
    assert 'path = "/srv/robot/bundle"' in text
    assert 'path = "/var/lib/sim2pi/telemetry/ticks.jsonl"' in text
    assert oct(config.stat().st_mode & 0o777) == "0o640"
    gid = int(re.search(r"^sim2pi:x:\d+:(\d+):", passwd, re.M).group(1))
    assert config.stat().st_gid == gid

    # The unit, with the paths substituted, enabled.
    unit = root / "etc" / "systemd" / "system" / UNIT
    unit_text = unit.read_text()
    assert (
        "ExecStart=/srv/robot/.venv/bin/python -m robot run --config /etc/robot/robot.toml"
        in unit_text
    )
    assert "/opt/sim2pi" not in unit_text and "/etc/sim2pi" not in unit_text
    wants = root / "etc" / "systemd" / "system" / "multi-user.target.wants" / UNIT
    assert os.readlink(wants) == f"/etc/systemd/system/{UNIT}"
    analyze = shutil.which("systemd-analyze")
    if analyze:
        # The installed unit is valid; its interpreter is checked at the staged path.
        staged = tmp_path / UNIT
        staged.write_text(unit_text.replace("/srv/robot/.venv", str(venv_python.parent.parent)))
        verify = subprocess.run(
            [analyze, "verify", "--man=no", str(staged)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")

    # Idempotent: nothing to do; the user's edits to robot.toml survive.
    config.write_text(text + "# edited on the robot\n")
    second = install(checkout, root, requirements, *args)
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""
    assert "never overwritten" in second.stderr
    assert config.read_text().endswith("# edited on the robot\n")

    # A changed option is applied: the venv now sees the system's site-packages.
    third = install(checkout, root, requirements, *args, "--system-site-packages")
    assert third.returncode == 0, third.stderr
    assert "-m venv --system-site-packages --without-pip" in third.stdout
    cfg = (root / "srv" / "robot" / ".venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg

    # Uninstall: the unit and the install directory go, the config and the user stay.
    planned = install(checkout, root, requirements, *args, "--uninstall", "--dry-run")
    assert planned.stdout.splitlines() == [
        f"systemctl --root={root} disable {UNIT}",
        f"rm -f {unit}",
        f"rm -rf {root}/srv/robot",
    ]
    removed = install(checkout, root, requirements, *args, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists() and not wants.is_symlink() and not (root / "srv" / "robot").exists()
    assert config.exists() and "sim2pi:" in (root / "etc" / "passwd").read_text()
    purged = install(checkout, root, requirements, *args, "--uninstall", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not config.exists()
    assert "sim2pi:" not in (root / "etc" / "passwd").read_text()


@as_root
@needs_account_tools
def test_an_existing_user_is_added_to_the_missing_groups(tmp_path, checkout, requirements):
    root = make_root(tmp_path / "root")
    subprocess.run(
        ["useradd", "--prefix", str(root), "--system", "--user-group", "sim2pi"], check=True
    )
    result = install(checkout, root, requirements, "--dry-run")
    assert result.stdout.splitlines()[:3] == [
        f"groupadd --prefix {root} --system gpio",
        f"usermod --prefix {root} --append --groups gpio sim2pi",
        f"usermod --prefix {root} --append --groups dialout sim2pi",
    ]


def test_render_config_points_the_bundle_and_writable_paths_at_the_install(tmp_path):
    config = tmp_path / "robot.toml"
    config.write_text(
        '[bundle]\npath = "../bundles/demo"  # laptop path\npolicy = "qtable"\n'
        '[telemetry]\npath = "telemetry/ticks.jsonl"\n'
        '[learning]\nstate_dir = "learner"\nlog_path = "/var/log/x.jsonl"\n'
    )
    result = subprocess.run(
        [
            str(REPO / "scripts" / "install-service"),
            "--render-config",
            str(config),
            "--prefix",
            "/srv/r",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        '[bundle]\npath = "/srv/r/bundle"   # set by scripts/install-service\npolicy = "qtable"\n'
        '[telemetry]\npath = "/var/lib/sim2pi/telemetry/ticks.jsonl"\n'
        '[learning]\nstate_dir = "/var/lib/sim2pi/learner"\nlog_path = "/var/log/x.jsonl"\n'
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefix", "opt/sim2pi"], "expected an absolute path"),
        (["--prefix", "/opt/my robot"], "expected an absolute path"),
        (["--user", "Robot"], "expected a lower-case user name"),
        (["--purge"], "--purge only goes with --uninstall"),
        (["--frobnicate"], "unknown argument '--frobnicate'"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(args, message):
    result = subprocess.run(
        [str(REPO / "scripts" / "install-service"), "--dry-run", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""

"""The unit's promises, kept by a real systemd (252, Debian bookworm) booted in a guest.

The robot was installed by ``scripts/install-service`` (conftest) on the ``sim`` backend with the
fixture bundle's TFLite policy, so the runtime is the real one, TFLite included, under the real
unit and its hardening. A drop-in adds two test hooks: ``SIM2PI_SIM_PINS_FILE`` (the sim
backend's drive pins recorded in the state directory, which ``robot stop`` drives to 0) and
``SIM2PI_FAULT_STALL_FILE=/var/lib/sim2pi/fault/stall`` (the runtime's fault injection: the
loop's hardware read hangs while the file exists). A ``fault`` directory the service may not
search makes every read raise instead (``PermissionError`` from the check of that file): the
loop gives up after its ticks raise in a row and exits 1, a real exception exit.

Timeouts are safety nets only; every assertion is about what systemd and the runtime did.
"""

from __future__ import annotations

import json

import pytest

from tests.system.guest import STATE, UNIT, Guest
from tests.system.helpers import Journal, PinWatcher, driving, stopped_by_robot_stop

ROBOT_STOP_LINE = "stopped: sim: drive pins low"


def main_pid(guest: Guest) -> int:
    """The unit's MainPID (0 when not running)."""
    return int(guest.show(UNIT, "MainPID") or 0)


def fresh_start(guest: Guest) -> int:
    """No fault, the start limit reset, the unit started; its MainPID."""
    guest.sh(f"rm -rf {STATE}/fault")
    guest.systemctl("reset-failed", UNIT, check=False)
    guest.systemctl("start", UNIT)
    return main_pid(guest)


def restarted(guest: Guest, old_pid: int) -> int:
    """Wait until systemd has restarted the unit (active with another MainPID); the new PID."""

    def new_pid() -> int:
        pid = main_pid(guest)
        return pid if pid not in (0, old_pid) and guest.show(UNIT, "ActiveState") == "active" else 0

    return guest.wait_for("the unit restarted", new_pid, timeout_s=90)


def test_start_returns_after_ready_with_status(guest: Guest) -> None:
    guest.systemctl("stop", UNIT)
    journal = Journal(guest)
    with PinWatcher(guest) as pins:
        pid = fresh_start(guest)
        # Type=notify: "systemctl start" returned, so systemd had READY=1 (the unit is active,
        # not activating); the runtime sends it with its first valid decision, logged before.
        assert guest.show(UNIT, "ActiveState") == "active"
        assert guest.show(UNIT, "SubState") == "running"
        text = journal.wait_for("first valid decision", "Started sim2pi-robot")
        assert text.index("first valid decision") < text.index("Started sim2pi-robot")
        status = guest.wait_for(
            "STATUS= in systemctl status",
            lambda: guest.show(UNIT, "StatusText"),
        )
        assert "Status:" in guest.systemctl("status", "--no-pager", UNIT, check=False).stdout
        assert "Hz" in status or "tick" in status, status
        # The TFLite policy drives the motors.
        pins.wait_for("driving", driving(pid))
    assert guest.show(UNIT, "NRestarts") == "0"


def test_watchdog_kills_a_stalled_loop_restarts_it_and_stops_the_motors(guest: Guest) -> None:
    pid = fresh_start(guest)
    restarts = int(guest.show(UNIT, "NRestarts"))
    journal = Journal(guest)
    with PinWatcher(guest) as pins:
        pins.wait_for("driving", driving(pid))
        since = pins.mark()
        guest.sh(f"mkdir -p {STATE}/fault && touch {STATE}/fault/stall")
        journal.wait_for("Watchdog timeout", timeout_s=60)
        guest.sh(f"rm -f {STATE}/fault/stall")
        new = restarted(guest, pid)
        pins.wait_for("the new runtime's", lambda r: r["pid"] == new, since=since)
        # ExecStopPost ran between the kill and the restart and drove the pins to 0.
        after = pins.records[since:]
        stop = next(i for i, r in enumerate(after) if stopped_by_robot_stop(r))
        first_new = next(i for i, r in enumerate(after) if r["pid"] == new)
        assert stop < first_new, after
    text = journal.text()
    assert "fault injection: the loop stalls" in text
    assert "Watchdog timeout (limit 2s)!" in text
    assert "Killing process" in text and "SIGABRT" in text
    assert "Failed with result 'watchdog'" in text
    assert ROBOT_STOP_LINE in text
    assert "Scheduled restart job, restart counter is at" in text
    assert text.index("Watchdog timeout") < text.index(ROBOT_STOP_LINE) < text.index("Scheduled")
    assert int(guest.show(UNIT, "NRestarts")) == restarts + 1
    # journald took the runtime's syslog prefixes (<4>, <6>) as the entries' priorities.
    entries = [
        json.loads(line)
        for line in guest.sh(
            f"journalctl -q -o json -u {UNIT} --after-cursor='{journal.cursor}'"
        ).stdout.splitlines()
    ]
    priority = {entry["MESSAGE"].split(":", 1)[-1].strip(): entry["PRIORITY"] for entry in entries}
    assert priority[f"fault injection: the loop stalls while {STATE}/fault/stall exists"] == "4"
    assert priority["first valid decision; driving"] == "6"
    assert "<4>" not in text and "<6>" not in text


def test_sigkill_restarts_and_stops_the_motors(guest: Guest) -> None:
    pid = fresh_start(guest)
    journal = Journal(guest)
    with PinWatcher(guest) as pins:
        pins.wait_for("driving", driving(pid))
        since = pins.mark()
        guest.sh(f"kill -KILL {pid}")
        pins.wait_for("after the kill, by robot stop", stopped_by_robot_stop, since=since)
        # The last record before robot stop's was the killed runtime's, driving: a runtime that
        # dies cannot stop its motors, robot stop did.
        after = pins.records[since - 1 :]
        stop = next(i for i, r in enumerate(after) if stopped_by_robot_stop(r))
        before = after[stop - 1]
        assert before["pid"] == pid and any(before["pins"].values()), before
        restarted(guest, pid)
    text = journal.text()
    assert "Main process exited, code=killed, status=9/KILL" in text
    assert ROBOT_STOP_LINE in text
    assert "Scheduled restart job" in text


def test_an_exception_exit_restarts_with_exec_stop_post(guest: Guest) -> None:
    pid = fresh_start(guest)
    journal = Journal(guest)
    # A fault directory the service user cannot search: checking for the stall file raises.
    guest.sh(f"mkdir -m 0700 {STATE}/fault")
    journal.wait_for("status=1/FAILURE", timeout_s=60)
    guest.sh(f"rmdir {STATE}/fault")
    restarted(guest, pid)
    text = journal.text()
    assert "PermissionError" in text
    assert "ticks in a row raised" in text
    assert "Failed with result 'exit-code'" in text
    assert text.index("status=1/FAILURE") < text.index(ROBOT_STOP_LINE) < text.index("Scheduled")


def test_the_start_limit_stops_a_crash_loop(guest: Guest) -> None:
    guest.systemctl("stop", UNIT)
    fresh_start(guest)  # start 1 of the 5 that StartLimitBurst= allows in 120 s
    journal = Journal(guest)
    guest.sh(f"mkdir -m 0700 {STATE}/fault")  # every start fails now, before READY=1
    try:
        guest.wait_for(
            "the unit failed for good",
            lambda: (
                guest.show(UNIT, "ActiveState") == "failed"
                and "Start request repeated too quickly" in journal.text()
            ),
            timeout_s=180,
            every_s=1,
        )
        text = journal.text()
        # StartLimitBurst=5: the running one's failure and four restarts, robot stop after each;
        # the fifth restart is refused.
        assert text.count("status=1/FAILURE") == 5
        assert text.count(ROBOT_STOP_LINE) == 5
        assert text.count("Start request repeated too quickly") == 1
    finally:
        guest.sh(f"rmdir {STATE}/fault")
    # It stays stopped until someone looks; then it starts again.
    assert guest.show(UNIT, "ActiveState") == "failed"
    fresh_start(guest)
    assert guest.show(UNIT, "ActiveState") == "active"


def test_stop_sends_sigterm_stops_the_motors_and_exits_0(guest: Guest) -> None:
    pid = fresh_start(guest)
    journal = Journal(guest)
    with PinWatcher(guest) as pins:
        pins.wait_for("driving", driving(pid))
        since = pins.mark()
        guest.systemctl("stop", UNIT)
        pins.wait_for("robot stop", stopped_by_robot_stop, since=since)
        # The runtime stopped its own motors (SIGTERM), then robot stop drove them low again.
        after = pins.records[since:]
        own = next(
            i for i, r in enumerate(after) if r["pid"] == pid and not any(r["pins"].values())
        )
        stop = next(i for i, r in enumerate(after) if stopped_by_robot_stop(r))
        assert own < stop, after
    text = journal.text()
    assert "SIGTERM" in text
    assert "Deactivated successfully" in text
    assert "timed out" not in text  # within TimeoutStopSec: no SIGKILL
    assert guest.show(UNIT, "ExecMainStatus") == "0"
    assert guest.show(UNIT, "Result") == "success"
    assert guest.show(UNIT, "ActiveState") == "inactive"


def test_reload_switches_to_a_valid_bundle_and_refuses_a_broken_one(guest: Guest) -> None:
    pid = fresh_start(guest)
    bundle = guest.sh("readlink /opt/sim2pi/bundle").stdout.strip()
    try:
        guest.sh(
            f"cd /opt/sim2pi && cp -a {bundle} bundles/obstacle-v2"
            " && ln -sfn bundles/obstacle-v2 bundle"
        )
        journal = Journal(guest)
        guest.systemctl("reload", UNIT)
        journal.wait_for("reloaded: now running bundle obstacle-v2")
        assert main_pid(guest) == pid
        guest.wait_for(
            "STATUS= naming the reload", lambda: "obstacle-v2" in guest.show(UNIT, "StatusText")
        )

        guest.sh(
            "cd /opt/sim2pi && cp -a bundles/obstacle-v2 bundles/broken"
            " && for f in bundles/broken/*.tflite; do echo junk >> $f; done"
            " && ln -sfn bundles/broken bundle"
        )
        journal = Journal(guest)
        guest.systemctl("reload", UNIT)
        text = journal.wait_for("reload refused")
        assert "still running bundle obstacle-v2" in text
        # Still the same process, still active, still fed by the watchdog: 2.5 WatchdogSec later.
        guest.sh("sleep 5")
        assert main_pid(guest) == pid
        assert guest.show(UNIT, "ActiveState") == "active"
        assert "Watchdog timeout" not in journal.text()
    finally:
        guest.sh(
            f"cd /opt/sim2pi && ln -sfn {bundle} bundle"
            " && rm -rf bundles/obstacle-v2 bundles/broken"
        )


def test_hardening_applies_to_the_real_runtime(guest: Guest) -> None:
    pid = fresh_start(guest)
    journal_text = guest.sh(f"journalctl -q -o cat -u {UNIT} _PID={pid}").stdout
    assert "policy tflite" in journal_text  # TFLite runs under MemoryDenyWriteExecute=
    status = guest.sh(f"cat /proc/{pid}/status").stdout
    assert "NoNewPrivs:\t1" in status
    assert "Seccomp:\t2" in status  # the system-call filter (and MemoryDenyWriteExecute=)
    assert "CapEff:\t0000000000000000" in status
    # Writes from inside the service's own mount namespace, as its user: only the state
    # directory (and its private /tmp) take them.
    as_service = f"nsenter -t {pid} -m -- setpriv --reuid=sim2pi --regid=sim2pi --init-groups"
    guest.sh(f"{as_service} touch {STATE}/probe && rm {STATE}/probe")
    # (/tmp and /var/tmp are the service's own, PrivateTmp=, and gone when it stops.)
    for path in (
        "/opt/sim2pi/probe",
        "/etc/sim2pi/probe",
        "/usr/probe",
        "/var/log/probe",
        "/root/probe",
    ):
        result = guest.sh(f"{as_service} touch {path}", check=False)
        assert result.returncode != 0, path
        assert "Read-only file system" in result.stderr or "Permission denied" in result.stderr, (
            path,
            result.stderr,
        )
    # Even root in that namespace: the file system is mounted read-only there.
    result = guest.sh(f"nsenter -t {pid} -m -- touch /opt/sim2pi/probe", check=False)
    assert "Read-only file system" in result.stderr
    # The exposure this systemd rates the installed unit is the figure in the unit's header.
    header = guest.sh(f"grep -o '^# [0-9.]* SAFE' /etc/systemd/system/{UNIT}").stdout.split()[1]
    security = guest.sh(f"systemd-analyze security --no-pager {UNIT}").stdout
    assert f"Overall exposure level for {UNIT}: {header} SAFE" in security
    # MemoryDenyWriteExecute= is enforced by this systemd: a writable+executable mapping fails.
    mdwe = guest.sh(
        "systemd-run --quiet --wait --pipe -p MemoryDenyWriteExecute=yes -p User=sim2pi "
        "/opt/sim2pi/.venv/bin/python -c "
        "'import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ|mmap.PROT_WRITE|mmap.PROT_EXEC)'",
        check=False,
    )
    assert mdwe.returncode != 0 and "PermissionError" in mdwe.stderr, mdwe.stderr


@pytest.mark.parametrize("how", ["isolate", "reboot"])
def test_enabled_at_boot(guest: Guest, how: str) -> None:
    assert guest.systemctl("is-enabled", UNIT).stdout.strip() == "enabled"
    fresh_start(guest)
    if how == "isolate":
        guest.systemctl("isolate", "rescue.target")
        guest.wait_for("stopped", lambda: guest.show(UNIT, "ActiveState") == "inactive")
        guest.systemctl("isolate", "default.target")
    else:
        with PinWatcher(guest) as pins:
            since = pins.mark()
            guest.reboot()  # the shutdown stops it: SIGTERM, then robot stop
            pins.wait_for("robot stop at shutdown", stopped_by_robot_stop, since=since)
    guest.wait_for("the unit active", lambda: guest.show(UNIT, "ActiveState") == "active")
    assert guest.show(UNIT, "ActiveState") == "active"

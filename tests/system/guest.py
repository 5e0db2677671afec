"""A booted Debian guest: systemd as PID 1 under ``systemd-nspawn``, driven with ``nsenter``.

The root is the cached tree ``scripts/test-system`` builds (``SIM2PI_SYSTEM_GUEST``), seen
through an overlay whose upper directory lives in the test's temporary directory, so the cache
is never written and a reboot (the guest's ``systemctl reboot`` ends nspawn; ``boot()`` starts
it again on the same overlay) keeps what the guest wrote, as a real disk would. The guest has its
own network namespace with one veth pair to the host (``--network-veth``), and nothing else.

nspawn runs with ``--register=no --keep-unit`` (no systemd/machined on the host to register
with) and ``--console=pipe``; ``machinectl``/``systemctl -M`` do not work without machined, so
every command goes through ``nsenter -t <guest PID 1> -a``.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

MACHINE = "s2psys"
HOST_IF = f"ve-{MACHINE}"
HOST_ADDRESS, GUEST_ADDRESS = "10.231.77.1", "10.231.77.2"
UNIT = "sim2pi-robot.service"
STATE = "/var/lib/sim2pi"
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class GuestError(RuntimeError):
    """A guest command failed, or the guest did not boot."""


class Guest:
    """One guest: ``boot()``, ``sh()``, ``reboot()``, ``poweroff()``."""

    def __init__(self, tree: Path, work: Path, binds: dict[str, Path]) -> None:
        """Overlay ``tree`` (read-only) with ``work``/upper; ``binds`` guest path -> host path."""
        self.tree = tree
        self.work = work
        self.binds = binds
        self.merged = work / "merged"
        self.console = work / "console.log"
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.leader = 0
        for name in ("upper", "overlay-work", "merged"):
            (work / name).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mount", "-t", "overlay", "overlay", "-o",
                f"lowerdir={tree},upperdir={work / 'upper'},workdir={work / 'overlay-work'}",
                str(self.merged),
            ],
            check=True,
        )  # fmt: skip

    def boot(self, timeout_s: float = 120) -> None:
        """Start nspawn, wait for the guest's systemd to reach running (or degraded)."""
        command = [
            "systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
            "--console=pipe", f"--machine={MACHINE}", f"--directory={self.merged}",
            "--private-network", "--network-veth",
        ]  # fmt: skip
        command += [f"--bind-ro={host}:{guest}" for guest, host in self.binds.items()]
        with open(self.console, "ab") as console:
            self.nspawn = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        self.leader = 0
        while not self.leader:
            if self.nspawn.poll() is not None or time.monotonic() > deadline:
                raise GuestError(f"nspawn ended or no guest PID 1; console:\n{self.console_tail()}")
            self.leader = self._child_systemd(self.nspawn.pid)
            time.sleep(0.05)
        while True:  # nsenter can come before PID 1 has set up its namespaces: try again
            state = self.sh("systemctl is-system-running --wait", check=False, timeout=timeout_s)
            if state.stdout.strip() or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if state.stdout.strip() not in ("running", "degraded"):
            raise GuestError(
                f"guest state {state.stdout.strip()!r} ({state.stderr.strip()}):\n"
                f"{self.console_tail()}"
            )
        if state.stdout.strip() == "degraded":
            failed = self.sh("systemctl --failed --no-legend", check=False).stdout
            raise GuestError(f"guest booted degraded:\n{failed}")
        self._network()

    @staticmethod
    def _child_systemd(pid: int) -> int:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return 0
        for child in children:
            try:
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return int(child)
            except OSError:
                continue
        return 0

    def _network(self) -> None:
        """Addresses on the veth pair: the host's side and the guest's host0."""
        subprocess.run(["ip", "addr", "replace", f"{HOST_ADDRESS}/30", "dev", HOST_IF], check=True)
        subprocess.run(["ip", "link", "set", HOST_IF, "up"], check=True)
        enter = ["nsenter", "-t", str(self.leader), "-n"]
        subprocess.run(
            [*enter, "ip", "addr", "replace", f"{GUEST_ADDRESS}/30", "dev", "host0"], check=True
        )
        subprocess.run([*enter, "ip", "link", "set", "host0", "up"], check=True)

    def sh(
        self, script: str, *, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` with the guest's /bin/sh, as the guest's root, in all its namespaces."""
        result = subprocess.run(
            [
                "nsenter", "-t", str(self.leader), "-a", "--", "/usr/bin/env", "-i",
                f"PATH={GUEST_PATH}", "HOME=/root", "LANG=C.UTF-8", "SYSTEMD_PAGER=",
                "/bin/sh", "-c", script,
            ],
            capture_output=True, text=True, timeout=timeout, input=input, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise GuestError(
                f"guest: {script!r} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``systemctl ARGS`` in the guest."""
        return self.sh("systemctl " + shlex.join(args), check=check)

    def show(self, unit: str, prop: str) -> str:
        """One property of ``unit`` (``systemctl show -p PROP --value``)."""
        return self.systemctl("show", "-p", prop, "--value", unit).stdout.strip()

    def wait_for(self, what: str, predicate, timeout_s: float = 60, every_s: float = 0.2):
        """Poll ``predicate()`` until it returns a true value; fail with ``what`` after timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise GuestError(f"timed out after {timeout_s} s waiting for {what}")
            time.sleep(every_s)

    def wait_ended(self, timeout_s: float = 120) -> int:
        """Wait for nspawn to exit (after the guest powered off or rebooted); its status."""
        assert self.nspawn is not None
        code = self.nspawn.wait(timeout=timeout_s)
        self.nspawn = None
        self.leader = 0
        return code

    def reboot(self) -> None:
        """``systemctl reboot`` in the guest (nspawn exits with 133), then boot again."""
        self.sh("systemctl reboot", check=False)
        self.wait_ended()
        self.boot()

    def poweroff(self) -> None:
        """Power the guest off (``systemctl poweroff``); kill nspawn if it will not end."""
        if self.nspawn is None:
            return
        if self.leader:
            self.sh("systemctl poweroff", check=False, timeout=30)
        try:
            self.wait_ended(timeout_s=60)
        except subprocess.TimeoutExpired:
            assert self.nspawn is not None
            os.kill(self.nspawn.pid, signal.SIGKILL)
            self.nspawn.wait()
            self.nspawn = None

    def close(self) -> None:
        """Power off and unmount the overlay."""
        try:
            self.poweroff()
        finally:
            subprocess.run(["umount", str(self.merged)], check=False)

    def console_tail(self, lines: int = 30) -> str:
        """The last lines nspawn and the guest's console wrote."""
        try:
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no console output)"

"""One learning run per state directory: an exclusive ``flock`` on ``state_dir/learner.lock``.

Two learners in one directory would share one snapshot numbering, and each one's pruning would
delete the other's snapshots; so the learner takes this lock before it reads the directory and
holds it until it has saved its last snapshot. The lock belongs to an open file, so the OS drops
it when its holder exits, however it dies (SIGKILL, a crash): it is never stale, and there is
nothing to clean up. The file says who holds it (PID, systemd unit, command line, since when):
a second run is refused with that and how to stop the holder, and ``robot check`` reports it
without taking the lock.

The lock is between processes. Within one, learners on one directory share it (the last to
close releases it): a reload closes the running learner before the next one opens
(``robot.runtime.reload``), so that only happens in tests that keep an old learner open.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from robot.errors import RobotError

_log = logging.getLogger(__name__)

#: The lock file's name in a state directory (never a snapshot's name).
LOCK_NAME = "learner.lock"
#: How long a run waits for a lock held only for a moment (``robot check`` looking) (seconds).
GRACE_S = 0.5
#: The longest command line recorded in the lock file (characters).
COMMAND_CHARS = 200


class StateDirBusyError(RobotError, BlockingIOError):
    """Another process learns in the state directory: names it and how to stop it."""


@dataclass(frozen=True)
class Holder:
    """Who holds a state directory's lock, as the lock file records it."""

    #: Its process id; None when the file names none (it was being written, or is damaged).
    pid: int | None = None
    #: Its systemd unit (``sim2pi-robot.service``) when it runs as a service.
    unit: str | None = None
    command: str | None = None
    #: When it took the lock (UTC, ISO 8601).
    since: str | None = None

    def describe(self) -> str:
        """``PID 4242 (the service sim2pi-robot.service), learning there since …``."""
        who = "a process that did not record its PID" if self.pid is None else f"PID {self.pid}"
        what = f"the service {self.unit}" if self.unit else self.command
        since = f" since {self.since}" if self.since else ""
        return f"{who}{f' ({what})' if what else ''}, learning there{since}"

    def how_to_stop(self, lock_file: Path) -> str:
        """The command that stops it (its last snapshot is saved and its motors stop)."""
        if self.unit:
            return f"sudo systemctl stop {self.unit}"
        if self.pid is not None:
            return f"kill {self.pid}"
        return f"fuser -v {lock_file} names it"


class StateDirLock:
    """This process's hold on a state directory's lock; ``release`` lets it go (safe twice)."""

    def __init__(self, lock_file: Path) -> None:
        """Use ``acquire``."""
        self.lock_file = lock_file
        self._held = True

    @classmethod
    def acquire(cls, state_dir: Path) -> StateDirLock:
        """Take the lock of ``state_dir`` (created if missing), or share this process's hold.

        Raises ``StateDirBusyError`` when another process holds it, ``OSError`` when the lock
        file cannot be opened.
        """
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        lock_file = Path(os.path.realpath(state_dir)) / LOCK_NAME
        with _registry.lock:
            held = _registry.held.get(lock_file)
            if held is None:
                held = _registry.held[lock_file] = _Hold(_take(state_dir, lock_file))
            held.refs += 1
        return cls(lock_file)

    def release(self) -> None:
        """Let go of this hold; the lock itself goes when the process's last hold does."""
        if not self._held:
            return
        self._held = False
        with _registry.lock:
            held = _registry.held.get(self.lock_file)
            if held is None:  # forgotten after a fork: the parent's lock, not ours to drop
                return
            held.refs -= 1
            if held.refs == 0:
                del _registry.held[self.lock_file]
                os.close(held.fd)  # closing the file drops the flock


def holder(state_dir: Path) -> Holder | None:
    """Who holds the lock of ``state_dir`` now, without taking it; None when nobody does."""
    lock_file = Path(state_dir) / LOCK_NAME
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        try:
            # A shared lock only for this instant: a run starting now waits GRACE_S for it.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@dataclass
class _Hold:
    fd: int
    refs: int = 0


class _Registry:
    """This process's holds, by lock file."""

    def __init__(self) -> None:
        self.held: dict[Path, _Hold] = {}
        self.lock = threading.Lock()

    def forget(self) -> None:
        """After a fork, in the child: its copy of the parent's file is the parent's lock."""
        self.held = {}
        self.lock = threading.Lock()  # another thread may have held the parent's at the fork


_registry = _Registry()
os.register_at_fork(after_in_child=_registry.forget)


def _take(state_dir: Path, lock_file: Path) -> int:
    """Open ``lock_file`` and lock it exclusively (waiting at most GRACE_S); its descriptor."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children (PEP 446)
    deadline = time.monotonic() + GRACE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            found = _read_holder(fd)
            os.close(fd)
            raise StateDirBusyError(
                f"[learning] state_dir {state_dir}: expected no other run learning there, found "
                f"{found.describe()}; stop it first ({found.how_to_stop(lock_file)}: it saves "
                "what it learnt) or give this run another state_dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
    _record_holder(fd, lock_file)
    return fd


def _record_holder(fd: int, lock_file: Path) -> None:
    """Write who holds the lock into its file (best effort: the lock is the flock itself)."""
    record = {
        "pid": os.getpid(),
        "unit": _systemd_unit(),
        # On one line: it goes into a one-line refusal.
        "command": " ".join(shlex.join(sys.orig_argv).split())[:COMMAND_CHARS],
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    data = (json.dumps(record) + "\n").encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError as exc:
        _log.warning("learning: cannot record this run in %s (%s)", lock_file, exc)


def _read_holder(fd: int) -> Holder:
    """What the lock file says (the holder may be writing it: a short wait for that)."""
    for _ in range(5):
        data = os.pread(fd, 4096, 0)
        if data.strip():
            break
        time.sleep(0.02)
    with contextlib.suppress(ValueError):  # damaged or still empty: a holder without a PID
        record = json.loads(data)
        if isinstance(record, dict):
            pid = record.get("pid")
            return Holder(
                pid if isinstance(pid, int) else None,
                _text(record.get("unit")),
                _text(record.get("command")),
                _text(record.get("since")),
            )
    return Holder()


def _text(value: object) -> str | None:
    """A recorded string on one line (it goes into a one-line refusal), or None."""
    text = " ".join(value.split())[:COMMAND_CHARS] if isinstance(value, str) else ""
    return text or None


def _systemd_unit() -> str | None:
    """This process's systemd service (``sim2pi-robot.service``), from its cgroup; else None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        leaf = line.rpartition("/")[2]
        if leaf.endswith(".service"):
            return leaf
    return None

"""Whether a run can write where its config says, checked before anything opens or moves.

Two kinds of place: a directory the run creates files in (the learner's ``state_dir``, the
TFLite probe's cache) and a file it appends to (telemetry). Each check returns None when all is
well, else a clause that fits "expected …, but {clause}": ``it is a regular file``, ``it cannot
be created (ENOENT: No such file or directory)``, ``no file can be created in it (EROFS:
Read-only file system)``.

Permission bits prove nothing here: root ignores them, while a read-only mount, ``/proc`` or
``/sys`` refuse even root. So a directory is proven by creating (and removing) a file in it.
``create=False`` (``robot check``) creates no directory: a missing one is judged by its nearest
existing parent. ``create=True`` (``robot run``) makes it, as the run would anyway.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from robot.config import RobotConfig
from robot.config.learning import STATE_DIR_FIX
from shared.files import kind_of, os_reason

#: Names of the files the probe creates and removes at once (never a snapshot's name).
PROBE_PREFIX = ".sim2pi-write-probe-"


def directory_problem(
    path: Path, *, create: bool, write: bool = False, name: str = "it"
) -> str | None:
    """Why ``path`` cannot be a directory this process creates files in; None if it can.

    Args:
        path: the directory.
        create: make it (and its parents) if missing, as a run does; False judges a missing
            directory by its nearest existing parent and creates no directory (``robot check``).
        write: also write and fsync a few bytes (a full disk may still create an empty file).
        name: how the clause names ``path`` (``its directory /x``).
    """
    path = Path(os.path.abspath(path))
    try:
        existing, mode = _nearest_existing(path)
    except OSError as exc:
        return f"{name} cannot be looked at ({os_reason(exc)})"
    if not stat.S_ISDIR(mode):
        if existing == path:
            return f"{name} is {kind_of(mode)}"
        return f"{existing} is {kind_of(mode)}, so {name} cannot be created"
    if existing != path and os.path.lexists(path):
        return f"{name} is a symbolic link to a missing {os.readlink(path)}"
    if existing != path and create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"{name} cannot be created ({os_reason(exc)})"
        existing = path
    where = name if existing == path else f"{existing}, the nearest parent that exists"
    return _probe(existing, write, where)


def _nearest_existing(path: Path) -> tuple[Path, int]:
    """``path`` or its nearest parent that exists, and its ``st_mode`` (OSError: none seen)."""
    existing = path
    while True:
        try:
            return existing, existing.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            if existing.parent == existing:
                raise
            existing = existing.parent


def append_file_problem(path: Path, *, create: bool, name: str = "it") -> str | None:
    """Why ``path`` cannot be a regular file this process appends to (and rotates beside it);
    None if it can. ``create`` as for ``directory_problem`` (for its directory)."""
    path = Path(os.path.abspath(path))
    try:
        mode: int | None = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:
        return f"{name} cannot be looked at ({os_reason(exc)})"
    if mode is not None and not stat.S_ISREG(mode):
        return f"{name} is {kind_of(mode)}"
    problem = directory_problem(path.parent, create=create, name=f"its directory {path.parent}")
    if problem is not None or mode is None:
        return problem
    try:
        # O_NONBLOCK: a FIFO put there since the stat above must not hang the check.
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK))
    except OSError as exc:
        return f"{name} cannot be opened for appending ({os_reason(exc)})"
    return None


def _probe(directory: Path, write: bool, name: str) -> str | None:
    """Create (and remove) a file in ``directory``; why that failed, or None."""
    try:
        fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=directory)
    except OSError as exc:
        return f"no file can be created in {name} ({os_reason(exc)})"
    try:
        try:
            if write:
                os.write(fd, b"sim2pi checks that this directory takes data\n")
                os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        return f"nothing can be written in {name} ({os_reason(exc)})"
    return None


#: The fix for each place a run writes.
TELEMETRY_FIX = (
    "point [telemetry] path at a file in a directory this user can write, or set [telemetry] "
    "enabled = false"
)


def state_dir_problem(config: RobotConfig, *, create: bool) -> str | None:
    """The one-line error for a ``[learning] state_dir`` the learner cannot write, or None.

    Data is written and synced: a learner on a full disk would keep nothing it learns.
    """
    state_dir = config.learning.state_dir
    problem = directory_problem(state_dir, create=create, write=True)
    if problem is None:
        return None
    return (
        f"{config.source}: [learning] state_dir {state_dir}: expected a directory this run can "
        f"write, but {problem}; {STATE_DIR_FIX}"
    )


def telemetry_problem(config: RobotConfig, *, create: bool) -> str | None:
    """The one-line error for an enabled ``[telemetry] path`` that cannot be appended to, or None.

    Only an empty file is created to prove the directory: a disk that is full (now or later)
    turns telemetry off with one error line while the run goes on (``robot.control.loop``).
    """
    path = config.telemetry.path
    problem = append_file_problem(path, create=create)
    if problem is None:
        return None
    return (
        f"{config.source}: [telemetry] path {path}: expected a file this run can append to, but "
        f"{problem}; {TELEMETRY_FIX}"
    )


def run_problems(config: RobotConfig, *, learning: bool, create: bool) -> list[str]:
    """The one-line errors for each place a run of ``config`` writes (telemetry when enabled, the
    learner's state when ``learning``) that it cannot write."""
    problems = [telemetry_problem(config, create=create)] if config.telemetry.enabled else []
    if learning:
        problems.append(state_dir_problem(config, create=create))
    return [problem for problem in problems if problem is not None]

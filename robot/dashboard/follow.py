"""Following a telemetry file as the loop writes it: read-only, through rotation and restarts.

The control loop appends whole JSON lines to ``ticks.jsonl`` and, at ``max_bytes``, renames it
to ``ticks.jsonl.1`` and starts a new one (``robot.control.telemetry.TelemetryWriter``). The
follower keeps the file it has open until the name points at another inode, reads what is left
of the old one, then opens the new one from its start; a file that shrank (truncated, or
replaced in place) is read again from its start. It never writes, creates or locks anything.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import IO, Any

_log = logging.getLogger(__name__)

#: A first look at an existing file reads at most its last this many bytes (older ticks are
#: history, not the live view).
TAIL_BYTES = 64 * 1024
#: A line longer than this is not a tick record (a record is ~300 bytes): it is skipped and
#: counted as bad, whole or half-written.
MAX_LINE_BYTES = 64 * 1024
#: Bytes read per ``poll`` at most, so one call stays short (and small) whatever the backlog.
MAX_READ_BYTES = 1024 * 1024


class TelemetryFollower:
    """Yields the records appended to ``path`` since the last ``poll``; never raises for a file
    that is missing, rotating, truncated or half-written."""

    def __init__(self, path: Path) -> None:
        """Follow ``path`` (it need not exist yet)."""
        self.path = Path(path)
        self._file: IO[bytes] | None = None
        self._inode: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        #: Files opened so far (the first, then one per rotation or truncation).
        self.opened = 0
        #: Lines that were not JSON objects (skipped).
        self.bad_lines = 0
        #: The path names something other than a regular file (a FIFO, a device): not followed.
        self.not_a_file = False
        #: The path exists (as far as this process can tell).
        self.exists = False
        #: Why the file cannot be read (e.g. permission denied), or None.
        self.error: str | None = None
        #: When the file was last written (seconds since the epoch), or None.
        self.mtime_s: float | None = None
        self._skipping = False  # inside a line too long to keep: dropped up to its end

    def poll(self) -> list[dict[str, Any]]:
        """The complete records written since the last call (a torn last line waits)."""
        records: list[dict[str, Any]] = []
        try:
            status = os.stat(self.path)
        except FileNotFoundError:  # not written yet, or between a rotation's rename and the new
            status = None
            self._set_error(None)
        except OSError as exc:  # e.g. a directory this user may not search
            status = None
            self._set_error(f"cannot read {self.path}: {exc.strerror or exc}")
        self.exists = status is not None
        if status is not None:
            self.mtime_s = status.st_mtime
        if self._file is not None and status is not None:
            same = (status.st_dev, status.st_ino) == self._inode
            if not same:  # rotated: the rest of the old file first
                records += self._read()
                self._close()
            elif status.st_size < self._offset:  # truncated, or rewritten in place
                self._close()
        if self._file is None and status is not None:
            self._open(first=self.opened == 0)
        if self._file is not None:
            records += self._read()
        return records

    def close(self) -> None:
        """Close the open file; safe to call twice."""
        self._close()

    def _open(self, *, first: bool) -> None:
        try:
            # Read-only, and without blocking on a FIFO nobody writes to.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:  # renamed between the stat and the open: next poll
            return
        except OSError as exc:  # e.g. a file this user may not read
            self._set_error(f"cannot read {self.path}: {exc.strerror or exc}")
            return
        self._set_error(None)
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):  # the runtime writes telemetry to regular files only
            os.close(fd)
            if not self.not_a_file:
                _log.warning("%s is not a regular file; not following it", self.path)
            self.not_a_file = True
            return
        self.not_a_file = False
        os.set_blocking(fd, True)
        # Kept open across polls (closed by ``_close``), so a rotation's rename cannot take the
        # unread rest away.
        file = os.fdopen(fd, "rb")
        self._file, self._inode = file, (status.st_dev, status.st_ino)
        self._offset, self._partial, self._skipping = 0, b"", False
        self.opened += 1
        if first and status.st_size > TAIL_BYTES:
            # Start near the end, at a line boundary: the live view, not the file's history.
            file.seek(status.st_size - TAIL_BYTES)
            skipped = file.readline()
            self._offset = status.st_size - TAIL_BYTES + len(skipped)

    def _read(self) -> list[dict[str, Any]]:
        assert self._file is not None
        self._file.seek(self._offset)
        data = self._file.read(MAX_READ_BYTES)
        self._offset += len(data)
        if not data:
            return []
        if self._skipping:  # the rest of a line already counted as too long
            end = data.find(b"\n")
            if end < 0:
                return []
            data, self._skipping = data[end + 1 :], False
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # b"" after a complete last line; else a torn one
        if len(self._partial) > MAX_LINE_BYTES:
            self._partial, self._skipping = b"", True
            self.bad_lines += 1
        return [record for line in lines if (record := self._parse(line)) is not None]

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        if len(line) > MAX_LINE_BYTES:  # not a tick record; parsing it would cost memory
            self.bad_lines += 1
            return None
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # torn by a crash; or nested beyond any record
            self.bad_lines += 1
            return None
        if not isinstance(record, dict):
            self.bad_lines += 1
            return None
        return record

    def _set_error(self, error: str | None) -> None:
        if error is not None and error != self.error:
            _log.warning("dashboard: %s; the page says so until it can be read", error)
        self.error = error

    def _close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()
        self._inode, self._offset, self._partial, self._skipping = None, 0, b"", False

"""Log lines for a terminal or for journald: one line per event, with a level journald records.

Under systemd, ``JOURNAL_STREAM`` holds ``<device>:<inode>`` of the stream connected to the
journal. When it names our stderr, each line starts with the syslog priority in angle brackets
(``<3>`` error, ``<4>`` warning, ``<6>`` info, ``<7>`` debug; sd-daemon(3)), which journald
strips and stores as the entry's priority (``journalctl -p warning``). A multi-line message or
traceback would become several entries, the later ones without a level, so in that mode line
breaks are folded into `` ⏎ ``. Otherwise the human format stays as it was.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

HUMAN_FORMAT = "%(levelname)s %(name)s: %(message)s"

#: Python logging levels → syslog priorities (RFC 5424: 2 critical … 7 debug).
SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (levels between two take the more severe)."""
    for level, priority in sorted(SYSLOG_PRIORITY.items(), reverse=True):
        if levelno >= level:
            return priority
    return 7


class JournalFormatter(logging.Formatter):
    """``<N>LEVEL name: message`` on one line, ``N`` the syslog priority (sd-daemon(3))."""

    def __init__(self) -> None:
        """The human format behind a priority prefix."""
        super().__init__(HUMAN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """One line: the prefix, then the message with its traceback folded in."""
        text = super().format(record)
        folded = " ⏎ ".join(line for line in text.splitlines() if line.strip())
        return f"<{syslog_priority(record.levelno)}>{folded}"


def stream_is_journal(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``stream`` is the one ``JOURNAL_STREAM`` says is connected to journald."""
    value = environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (int(device), int(inode))


def configure_logging(
    level: str | int,
    stream: TextIO | None = None,
    environ: Mapping[str, str] = os.environ,
) -> logging.Handler:
    """Log to ``stream`` (stderr) at ``level``, with journald priorities when it is the journal."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    if stream_is_journal(stream, environ):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(HUMAN_FORMAT))
    root = logging.getLogger()
    # Like logging.basicConfig: only where nothing is configured yet (tests call main() in one
    # process, under pytest's own handlers).
    if not root.handlers:
        root.addHandler(handler)
        root.setLevel(level)
    return handler

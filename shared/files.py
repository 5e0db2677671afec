"""Reading a file sim2pi is given, within limits: a regular file, at most so many bytes, text
that decodes, arrays and tables nested no deeper than a bound.

A robot with 512 MB must not start reading a 200 MB manifest, block for ever on a FIFO or read
``/dev/zero`` until memory runs out, and a parser must not recurse 100,000 levels deep. So the
file's kind and size are checked before a byte is read (and again on the open file), at most
``max_bytes + 1`` bytes are read, and the nesting is measured before a parser sees the text.

Every refusal is one message, ``<file>: <what was found, against the limit>; <fix>``, raised as
the caller's own error class (``ConfigError`` for ``robot.toml``, ``ManifestError`` for
``manifest.json`` …); a missing file raises ``FileNotFoundError`` for the caller to word.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

KIB = 1024
MIB = 1024 * KIB
#: Nesting of arrays and tables (objects) accepted by default: real files nest under 10.
MAX_DEPTH = 64

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# Open without blocking (a FIFO swapped in after the check) and without a controlling terminal.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_BINARY = getattr(os, "O_BINARY", 0)
# What the nesting scan skips: strings (an unterminated one runs to the end, so that the scan
# stays linear) and TOML comments, whose brackets nest nothing.
_JSON_SKIP = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_TOML_SKIP = re.compile(
    rb'"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:"""|\Z)'  # multi-line basic string
    rb"|'''.*?(?:'''|\Z)"  # multi-line literal string
    rb'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"?'  # basic string
    rb"|'[^'\n]*'?"  # literal string
    rb"|#[^\n]*",  # comment
    re.DOTALL,
)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def size_text(n_bytes: int) -> str:
    """A size as messages show it: ``512 bytes``, ``3.5 KiB``, ``200.0 MiB``."""
    if n_bytes < KIB:
        return f"{n_bytes} bytes"
    if n_bytes < MIB:
        return f"{n_bytes / KIB:.1f} KiB"
    return f"{n_bytes / MIB:.1f} MiB"


def limit_text(n_bytes: int) -> str:
    """A limit as messages show it: ``1 MiB``, ``64 KiB``."""
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if n_bytes >= unit and n_bytes % unit == 0:
            return f"{n_bytes // unit} {name}"
    return f"{n_bytes} bytes"


def nesting_depth(data: bytes, syntax: str) -> int:
    """How deep arrays and tables nest in JSON or TOML ``data`` (brackets outside strings)."""
    skip = {"json": _JSON_SKIP, "toml": _TOML_SKIP}[syntax]
    brackets = skip.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    opening = (codes == ord("[")) | (codes == ord("{"))
    steps = opening.astype(np.int32) * 2 - 1  # +1 opens, -1 closes; 16 MB for 4 M brackets
    return int(np.cumsum(steps, dtype=np.int32).max())


def kind_of(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words: ``a FIFO (named pipe)``."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return f"a file of type {stat.S_IFMT(mode):o}"


def os_reason(exc: OSError) -> str:
    """An OSError as ``ENOSPC: No space left on device`` (its errno's name, then its text)."""
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    return f"{name}: {text}" if name else text


def file_kind(path: Path, mode: int) -> str | None:
    """What a non-regular file is (``a FIFO (named pipe)``, naming a symlink's target), or None."""
    if stat.S_ISREG(mode):
        return None
    kind = kind_of(mode)
    if os.path.islink(path):
        return f"{kind} ({os.path.realpath(path)}, through a symlink)"
    return kind


@dataclass(frozen=True)
class FileLimits:
    """What may be read from one kind of file, and what a refusal says and raises."""

    #: What the file is, in messages: ``config file``, ``bundle manifest``.
    what: str
    #: The largest size accepted, in bytes.
    max_bytes: int
    #: What to do about a refused file; ends every message.
    fix: str
    #: Builds the error raised from the message (the caller's error class).
    error: Callable[[str], Exception]
    #: The deepest nesting of arrays and tables accepted.
    max_depth: int = MAX_DEPTH

    def refuse(self, path: Path, problem: str) -> Exception:
        """The error for ``path``: ``<path>: <problem>; <fix>``."""
        return self.error(f"{path}: {problem}; {self.fix}")

    def check(self, path: Path, info: os.stat_result) -> int:
        """The size of ``path`` given its ``stat``; raise unless regular and within the limit."""
        kind = file_kind(path, info.st_mode)
        if kind is not None:
            raise self.refuse(path, f"expected a {self.what} (a regular file), found {kind}")
        if info.st_size > self.max_bytes:
            raise self.refuse(path, self._too_large(info.st_size))
        return info.st_size

    @contextmanager
    def open(self, path: str | Path) -> Iterator[BinaryIO]:
        """``path`` opened for reading once it is a regular file within the limit.

        Checked before opening (a serial device is never opened: opening one resets some
        boards) and again on the open file. ``FileNotFoundError`` passes through.
        """
        path = Path(path)
        self.check(path, self._os(path, os.stat))
        fd = self._os(path, lambda p: os.open(p, _OPEN_FLAGS | _BINARY))
        with os.fdopen(fd, "rb") as file:
            self.check(path, os.fstat(fd))
            yield file

    def read_bytes(self, path: str | Path) -> bytes:
        """The bytes of ``path``, reading at most ``max_bytes + 1`` of them."""
        path = Path(path)
        with self.open(path) as file:
            try:
                data = file.read(self.max_bytes + 1)
            except OSError as exc:
                raise self.refuse(path, f"cannot be read ({exc.strerror or exc})") from None
        if len(data) > self.max_bytes:  # it grew after the check
            raise self.refuse(path, self._too_large(len(data), "or more"))
        return data

    def read_text(self, path: str | Path, syntax: str | None = None) -> str:
        """The UTF-8 text of ``path``; with ``syntax`` (json, toml) its nesting checked too."""
        path = Path(path)
        data = self.read_bytes(path)
        if syntax is not None:
            self.check_depth(path, data, syntax)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = data[exc.start]
            raise self.refuse(
                path,
                f"expected UTF-8 text, found binary data (byte 0x{byte:02x} at offset "
                f"{exc.start} is not UTF-8)",
            ) from None

    def check_depth(self, path: Path, data: bytes, syntax: str) -> None:
        """Raise unless arrays and tables in ``data`` nest at most ``max_depth`` deep."""
        depth = nesting_depth(data, syntax)
        if depth > self.max_depth:
            raise self.refuse(
                path,
                f"arrays or tables nested {depth} deep, over the limit of {self.max_depth} "
                f"for a {self.what}",
            )

    def load_json(self, path: str | Path) -> Any:
        """The JSON value in ``path``, its size, text and nesting checked first."""
        path = Path(path)
        text = self.read_text(path, "json")
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, or an over-long integer
            raise self.refuse(path, f"not valid JSON ({exc})") from None

    def _os(self, path: Path, call: Callable[[Path], Any]) -> Any:
        """``call(path)``; an OSError other than a missing file becomes one refusal."""
        try:
            return call(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self.refuse(path, f"cannot be read ({exc.strerror or exc})") from None

    def _too_large(self, n_bytes: int, more: str = "") -> str:
        exact = f" ({n_bytes:,} bytes)" if n_bytes >= KIB else ""
        found = f"{size_text(n_bytes)}{' ' + more if more else ''}{exact}"
        return f"{found}, over the {limit_text(self.max_bytes)} limit for a {self.what}"

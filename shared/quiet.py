"""Known noise from native libraries, kept off the terminal unless ``--verbose``.

Some libraries print straight to file descriptor 2 from C++, past Python's ``logging`` and
``warnings``: TensorFlow's oneDNN and CPU-feature lines and absl's "before
absl::InitializeLog()" line when it is imported, LiteRT's "Created TensorFlow Lite XNNPACK
delegate" when the first interpreter allocates its tensors. Nothing but the file descriptor
reaches them, so ``filtered_stderr`` points fd 2 at an anonymous file around the one call that
prints them and, when the call returns or raises, writes back every line that is not a known
noise line, in order: a real warning or error printed in that window still reaches the user
(after the call instead of during it). A process killed by a signal inside the window loses
what it printed there; ``--verbose`` (or ``SIM2PI_VERBOSE=1``) captures nothing.

Verbosity lives in the environment (``SIM2PI_VERBOSE``) so that child processes and the robot's
CLI run by ``python -m trainer sil`` inherit it. Standard library only: ``robot/`` and
``trainer/`` both use it.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

#: The environment variable that turns the known noise back on ("1"); unset or "0": quiet.
VERBOSE_ENV = "SIM2PI_VERBOSE"

#: fd 2 is one per process: one window at a time (another thread waits for it to close; a
#: window opened inside another on the same thread is filtered twice, which changes nothing).
_window = threading.RLock()


def verbose() -> bool:
    """Whether known noise is shown (``--verbose`` or ``SIM2PI_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")


def set_verbose() -> None:
    """Show known noise from here on, in this process and the processes it starts."""
    os.environ[VERBOSE_ENV] = "1"


def is_noise(line: str, noise: Iterable[re.Pattern[str]]) -> bool:
    """Whether ``line`` (without its newline) matches one of the ``noise`` patterns."""
    return any(pattern.search(line) for pattern in noise)


def keep_lines(text: bytes, noise: Iterable[re.Pattern[str]]) -> bytes:
    """``text`` without its noise lines (every other line kept byte for byte, in order)."""
    patterns = tuple(noise)
    kept = [
        line
        for line in text.splitlines(keepends=True)
        if not is_noise(line.decode("utf-8", "replace").rstrip("\r\n"), patterns)
    ]
    return b"".join(kept)


@contextmanager
def filtered_stderr(noise: Iterable[re.Pattern[str]]) -> Iterator[None]:
    """Run the block with fd 2 captured; then write back what it printed, less ``noise``.

    Does nothing when verbose, or where fd 2 cannot be captured (no fd 2, no anonymous file).
    Python's ``sys.stderr`` is flushed on the way in and out, so its lines keep their order.
    """
    if verbose():
        yield
        return
    with _window:
        capture = _capture_file()
        saved = _dup_stderr() if capture is not None else None
        if capture is None or saved is None:
            if capture is not None:
                os.close(capture)
            yield
            return
        _flush()
        os.dup2(capture, 2)
        try:
            yield
        finally:
            _flush()
            os.dup2(saved, 2)
            os.close(saved)
            try:
                _replay(capture, noise)
            finally:
                os.close(capture)


def _capture_file() -> int | None:
    """A file descriptor of an anonymous file (memfd, else an unlinked temporary file)."""
    try:
        return os.memfd_create("sim2pi-stderr", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        pass
    try:
        handle, path = tempfile.mkstemp(prefix="sim2pi-stderr-")
    except OSError:
        return None
    os.unlink(path)
    return handle


def _dup_stderr() -> int | None:
    try:
        return os.dup(2)
    except OSError:  # no fd 2 at all
        return None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _replay(capture: int, noise: Iterable[re.Pattern[str]]) -> None:
    """Write the captured lines that are not noise to fd 2."""
    size = os.lseek(capture, 0, os.SEEK_END)
    if size == 0:
        return
    os.lseek(capture, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(capture, 1 << 16):
        chunks.append(chunk)
    kept = keep_lines(b"".join(chunks), noise)
    while kept:
        try:
            kept = kept[os.write(2, kept) :]
        except OSError:  # fd 2 gone (a closed terminal): nothing to tell
            return

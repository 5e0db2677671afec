"""A stop signal that lands while ``robot run`` switches its handlers to ignore, at exit.

CPython checks for pending signals, then changes the kernel's disposition; a signal in between is
noted by its C handler and found afterwards with no Python handler to run, and CPython prints
``OSError: Signal 2 ignored due to race condition`` with a traceback (seen once in a test that
sends SIGINT every 0.5 ms while ``robot run`` exits, on an emulated Pi). The window is a few
instructions wide, so each case here builds the state it leaves behind on purpose, in a child
Python: the Python table says ``SIG_IGN`` while the kernel still calls Python's C handler (put
back with libc's ``signal()`` through ctypes), and the signal is sent.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = """
import ctypes, os, signal, sys
from robot.cli.signals import ignore_signals_at_exit

libc = ctypes.CDLL(None, use_errno=True)
libc.signal.restype = ctypes.c_void_p
libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]

sig = signal.{name}
signal.signal(sig, lambda *_: None)          # Python's C handler is the kernel's handler
c_handler = libc.signal(sig, None)           # ... take it (SIG_DFL for a moment)
signal.signal(sig, signal.SIG_DFL)
libc.signal(sig, c_handler)
{ignore}                                     # the exit switches to ignoring
libc.signal(sig, c_handler)                  # the signal arrives as if before the switch
os.kill(os.getpid(), sig)
for _ in range(1000):                        # bytecodes: pending signals are looked at
    pass
{extra}
print("exited cleanly")
"""

IGNORE_BY_ROBOT = "ignore_signals_at_exit()"
IGNORE_PLAINLY = "signal.signal(sig, signal.SIG_IGN)"


def _child(name: str, ignore: str, extra: str = "") -> subprocess.CompletedProcess[str]:
    code = CHILD.format(name=name, ignore=ignore, extra=extra)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_the_state_the_race_leaves_prints_nothing(name: str) -> None:
    done = _child(name, IGNORE_BY_ROBOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "exited cleanly\n"
    assert done.stderr == ""


def test_without_the_robots_exit_the_same_state_prints_the_race() -> None:
    # The case above can fail: a plain switch to SIG_IGN leaves CPython's report on stderr.
    done = _child("SIGINT", IGNORE_PLAINLY)
    assert done.returncode == 0, done.stderr
    assert "Signal 2 ignored due to race condition" in done.stderr


def test_other_unraisable_errors_are_still_printed() -> None:
    extra = textwrap.dedent(
        """
        class Leaky:
            def __del__(self):
                raise RuntimeError("a finaliser failed")
        Leaky()
        """
    )
    done = _child("SIGINT", IGNORE_BY_ROBOT, extra)
    assert done.returncode == 0, done.stderr
    assert "RuntimeError: a finaliser failed" in done.stderr
    assert "race condition" not in done.stderr

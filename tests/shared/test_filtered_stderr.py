"""``shared.quiet``: known noise on fd 2 is dropped, every other line comes back, in order.

fd 2 is redirected for real, so each case runs in a child process (pytest captures fd 2 too).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from shared.quiet import VERBOSE_ENV, keep_lines

ROOT = Path(__file__).resolve().parents[2]
NOISE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."

_CHILD = textwrap.dedent(
    """
    import os, re, sys
    from shared.quiet import filtered_stderr

    noise = [re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\\.$")]
    print("before", file=sys.stderr, flush=True)
    try:
        with filtered_stderr(noise):
            print("python line", file=sys.stderr)  # buffered: flushed before fd 2 is restored
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
            os.write(2, b"E0000 real.cc:1] a real error from C++\\n")
            if sys.argv[1] == "raise":
                raise RuntimeError("raised in the window")
    finally:
        print("after", file=sys.stderr, flush=True)
    """
)


def _child(mode: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != VERBOSE_ENV}
    return subprocess.run(
        [sys.executable, "-c", _CHILD, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, **env},
    )


def test_noise_is_dropped_and_real_lines_come_back_in_order() -> None:
    result = _child("ok")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "before",
        "python line",
        "E0000 real.cc:1] a real error from C++",
        "after",
    ]


def test_a_call_that_raises_still_gives_back_what_it_printed() -> None:
    result = _child("raise")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert NOISE not in lines
    assert lines[:4] == ["before", "python line", "E0000 real.cc:1] a real error from C++", "after"]
    assert "RuntimeError: raised in the window" in result.stderr


def test_verbose_captures_nothing() -> None:
    result = _child("ok", **{VERBOSE_ENV: "1"})
    assert result.returncode == 0, result.stderr
    assert NOISE in result.stderr.splitlines()
    assert "E0000 real.cc:1] a real error from C++" in result.stderr


def test_keep_lines_keeps_every_other_byte() -> None:
    noise = [re.compile(r"^noise")]
    text = b"noise one\nkept \xff bytes\r\nnoise two\nlast line without newline"
    assert keep_lines(text, noise) == b"kept \xff bytes\r\nlast line without newline"

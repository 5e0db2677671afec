"""The files the TFLite probe reads: its verdict cache (ignored with a warning unless it is a
small regular JSON file) and the bundle (``python -m robot.inference.probe``: one line, exit 2).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robot.inference.probe import CACHE_FILE, CACHE_LIMITS, probe_runtimes
from tests.robot.conftest import FIXTURE_BUNDLE
from tests.robot.inference.test_runtime_probe import (
    FLOAT_MODEL,
    INPUTS,
    OUTPUTS,
    REAL,
    needs_runtime,
)

ROOT = Path(__file__).resolve().parents[3]
needs_posix = pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/zero are POSIX")


def _make(cache: Path, kind: str) -> str:
    """Put a bad cache of ``kind`` at ``cache``; the warning it must cause."""
    if kind == "fifo":
        os.mkfifo(cache)
        return "found a FIFO (named pipe)"
    if kind == "dev-zero":
        cache.symlink_to("/dev/zero")
        return "found a character device (/dev/zero, through a symlink)"
    if kind == "huge":
        with cache.open("wb") as sparse:
            sparse.truncate(CACHE_LIMITS.max_bytes + 1)
        return "over the 512 KiB limit for a TFLite probe cache"
    if kind == "deep":
        cache.write_text("[" * 100_000 + "]" * 100_000)
        return "nested 100000 deep, over the limit of 64"
    cache.write_bytes(b"\xff\xfe")
    return "expected UTF-8 text, found binary data"


@needs_runtime
@needs_posix
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge", "deep", "binary"])
def test_a_bad_cache_is_ignored_with_a_warning_and_replaced(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    warning = _make(tmp_path / CACHE_FILE, kind)
    with caplog.at_level(logging.WARNING, logger="robot.inference.probe"):
        report = probe_runtimes(
            FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(REAL,), state_dir=tmp_path
        )
    assert report.chosen is not None and not report.chosen.cached
    assert f"ignoring the TFLite probe cache {tmp_path / CACHE_FILE}" in caplog.text
    assert warning in caplog.text and "probing afresh" in caplog.text
    written = json.loads((tmp_path / CACHE_FILE).read_text())  # a regular file again
    assert written["format"] == 1 and len(written["verdicts"]) == 1


@needs_posix
@pytest.mark.parametrize("kind", ["fifo", "nested"])
def test_the_probe_command_says_one_line_for_a_bad_bundle(tmp_path: Path, kind: str) -> None:
    bundle = Path(shutil.copytree(FIXTURE_BUNDLE, tmp_path / "bundle"))
    manifest = bundle / "manifest.json"
    if kind == "fifo":
        manifest.unlink()
        os.mkfifo(manifest)
        expected = "found a FIFO (named pipe)"
    else:
        manifest.write_text("[" * 200_000)
        expected = "nested 200000 deep"
    child = subprocess.run(
        [sys.executable, "-m", "robot.inference.probe", str(bundle), "--state-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 2, child.stderr
    assert child.stderr.count("\n") == 1 and "Traceback" not in child.stderr
    assert child.stderr.startswith(f"{manifest}: ") and expected in child.stderr

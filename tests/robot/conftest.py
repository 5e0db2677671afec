"""Fixtures for the robot runtime's tests: the committed fixture bundle, and its reference data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.bundle import Bundle, read_bundle

FIXTURE_BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "obstacle_bundle"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).resolve().parents[2] / "robot" / "examples"


def example(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    """An example config, with its bundle made absolute and ``replacements`` applied."""
    text = (EXAMPLES / name).read_text()
    text = text.replace('"../../tests/fixtures/obstacle_bundle"', json.dumps(str(FIXTURE_BUNDLE)))
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "robot.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    """The fixture bundle (reference robot spec, float32 + int8 models, 5×5×5 Q-table)."""
    return read_bundle(FIXTURE_BUNDLE)


@pytest.fixture(autouse=True)
def _probe_cache_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the TFLite probe's verdict cache out of the user's ~/.cache during tests."""
    if "STATE_DIRECTORY" not in os.environ:
        monkeypatch.setenv("SIM2PI_STATE_DIR", str(tmp_path_factory.mktemp("state")))


def run_robot(
    *args: str, timeout_s: float = 60.0, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m robot ARGS`` in a child process from the repository root, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "robot", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        **kwargs,
    )

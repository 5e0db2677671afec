"""Fixtures for the robot runtime's tests: the committed fixture bundle, and its reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.bundle import Bundle, read_bundle

FIXTURE_BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "obstacle_bundle"


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

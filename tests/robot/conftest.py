"""Fixtures for the robot runtime's tests: the committed fixture bundle, and its reference data."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.bundle import Bundle, read_bundle

FIXTURE_BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "obstacle_bundle"


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    """The fixture bundle (reference robot spec, float32 + int8 models, 5×5×5 Q-table)."""
    return read_bundle(FIXTURE_BUNDLE)

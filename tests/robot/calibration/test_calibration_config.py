"""``[calibration]`` in robot.toml: optional, defaults stated, one clear error per bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot.config import CalibrationConfig, load_config
from robot.errors import ConfigError
from tests.robot.conftest import EXAMPLES, example


def _config(tmp_path: Path, section: str) -> Path:
    path = example(tmp_path, "reference_sim.toml")
    path.write_text(path.read_text() + "\n[calibration]\n" + section + "\n")
    return path


def test_absent_section_takes_the_defaults(tmp_path: Path) -> None:
    config = load_config(example(tmp_path, "reference_sim.toml"))
    assert config.calibration == CalibrationConfig()
    # The pivot's reach: wheel base + body radius, less where the rangers sit (reference robot).
    assert config.calibration.stop_distance_m == pytest.approx(0.13 + 0.10 - 0.08)


def test_keys_are_read(tmp_path: Path) -> None:
    config = load_config(
        _config(
            tmp_path,
            "duties = [0.2, 0.6]\npivot_duties = [0.8]\nstep_s = 2\nsafe_distance_m = 0.5\n"
            "wheel_base_m = 0.15",
        )
    )
    calibration = config.calibration
    assert calibration.duties == (0.2, 0.6) and calibration.pivot_duties == (0.8,)
    assert calibration.step_s == 2.0 and calibration.safe_distance_m == 0.5
    assert calibration.stop_distance_m == pytest.approx(0.15 + 0.10 - 0.08)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("duties = [0.5, 0.25]", "[calibration.duties] expected ascending distinct duties"),
        ("duties = [0.0, 0.5]", "[calibration.duties] expected duties above 0 and at most 1"),
        ("duties = [0.5, 1.5]", "found 1.5 at index 1"),
        ("duties = []", "[calibration.duties] expected 1..12 duties, found 0"),
        ("duties = 0.5", "[calibration.duties]"),
        ('pivot_duties = ["x"]', "[calibration.pivot_duties] expected duties above 0"),
        ("step_s = 0", "[calibration.step_s] expected 0.2..10.0 s, found 0"),
        ("still_s = 10\nstep_s = 10", "[calibration.max_duration_s] expected at least the plan"),
        ("safe_distance_m = 0.1", "[calibration.safe_distance_m] expected more than the pivot"),
        ("speed = 1", "calibration.speed"),
    ],
)
def test_a_bad_key_is_one_clear_error(tmp_path: Path, section: str, expected: str) -> None:
    path = _config(tmp_path, section)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert expected in message, message
    assert str(path) in message and "\n" not in message


def test_the_examples_commented_section_states_the_defaults(tmp_path: Path) -> None:
    text = (EXAMPLES / "reference_sim.toml").read_text()
    section = text[text.index("# [calibration]") :]
    uncommented = "\n".join(line.removeprefix("# ") for line in section.splitlines())
    path = example(tmp_path, "reference_sim.toml")
    path.write_text(path.read_text() + "\n" + uncommented + "\n")
    assert load_config(path).calibration == CalibrationConfig()

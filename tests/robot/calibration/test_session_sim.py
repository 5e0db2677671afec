"""The drive's ends on the ``sim`` backend, in process (simulated time): a range too close for
the pivot, ``max_duration_s``, the reference robot's channels without a bundle, and what is
refused (the ``gym`` backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robot.calibration.plan import build_plan, plan_duration_s
from robot.calibration.session import run_calibration
from robot.cli import main
from robot.config import load_config
from tests.robot.conftest import EXAMPLES, example


def _config(tmp_path: Path, extra: str, *replacements: tuple[str, str]) -> Path:
    path = example(tmp_path, "reference_sim.toml", *replacements)
    path.write_text(path.read_text() + "\n" + extra + "\n")
    return path


def test_a_range_closer_than_the_pivots_reach_ends_the_drive(tmp_path: Path) -> None:
    # A robot declared with a 0.58 m track: its pivot needs 0.6 m all round; seed 0's start
    # reads 0.71 m and more, and the first turns sweep a wall nearer than 0.6 m.
    config = load_config(
        _config(tmp_path, "[calibration]\nwheel_base_m = 0.58\nsafe_distance_m = 0.65")
    )
    assert config.calibration.stop_distance_m == pytest.approx(0.6)
    result = run_calibration(config, tmp_path / "c.jsonl")
    assert result.outcome == "too_close" and not result.ok
    assert "closer than the pivot's reach (0.600 m)" in result.detail
    records = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    last = records[-1]
    assert last["command"] == [0.0, 0.0] and min(last["obs"]) < 0.6
    assert all(min(r["obs"]) >= 0.6 for r in records[:-1])
    assert result.sim is not None and result.sim["contact_steps"] == 0
    assert result.summary["exit_reason"] == "too_close"


def test_without_a_bundle_the_reference_robots_channels_are_used(tmp_path: Path) -> None:
    config = load_config(
        _config(
            tmp_path,
            "[calibration]\nduties = [0.5]\npivot_duties = [0.5]\nstep_s = 0.5\npivot_s = 0.5",
            ("/obstacle_bundle", "/no_such_bundle"),
        )
    )
    result = run_calibration(config, tmp_path / "c.jsonl")
    assert result.outcome == "complete", result.detail
    meta = json.loads(result.meta.read_text())
    assert meta["spec_source"].startswith("the reference robot's spec")
    assert [c["name"] for c in meta["channels"]] == [
        "left_distance_m",
        "front_distance_m",
        "right_distance_m",
    ]


def test_the_gym_backend_is_refused_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = main(["calibrate", "--config", str(EXAMPLES / "reference_gym.toml")])
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "backend = 'gym'" in errors[0], errors
    assert "choose backend = 'gpio', 'serial' or 'sim'" in errors[0]


def test_a_default_log_goes_beside_the_telemetry(tmp_path: Path) -> None:
    config = _config(tmp_path, "[calibration]\nduties = [0.5]\npivot_duties = [0.5]")
    assert main(["calibrate", "--config", str(config)]) == 0
    log = tmp_path / "telemetry" / "calibration.jsonl"
    assert log.exists() and (tmp_path / "telemetry" / "calibration.jsonl.meta.json").exists()
    first = log.read_text().splitlines()
    assert main(["calibrate", "--config", str(config)]) == 0  # a second drive replaces it
    assert len(log.read_text().splitlines()) == len(first)


def test_a_plan_as_long_as_max_duration_runs_to_its_end(tmp_path: Path) -> None:
    config = load_config(
        _config(
            tmp_path,
            "[calibration]\nduties = [0.5]\npivot_duties = [0.5]\nstep_s = 0.5\npivot_s = 0.5\n"
            "pause_s = 0.5\nstill_s = 1.0\nmax_duration_s = 13.5",
        )
    )
    assert plan_duration_s(build_plan(config.calibration)) == pytest.approx(13.5)
    result = run_calibration(config, tmp_path / "c.jsonl")
    assert result.outcome == "complete", result.detail
    assert result.summary["duration_s"] <= 13.5 + 1 / 20

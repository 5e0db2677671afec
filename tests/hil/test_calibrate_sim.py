"""``python -m robot calibrate`` on the ``sim`` backend, as a user runs it: a real child process,
its log, the world's ground truth (the header's ``sim``) and the drive pins
(``SIM2PI_SIM_PINS_FILE``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from robot.calibration.plan import Timeline, build_plan, format_plan
from robot.config import load_config
from tests.robot.conftest import ROOT, example

#: The pivot circle: a pivot about one wheel moves the centre at most one track width.
WHEEL_BASE_M = 0.13


def _config(tmp_path: Path, *extra: str, seed: int = 0) -> Path:
    path = example(tmp_path, "reference_sim.toml", ("seed = 0 ", f"seed = {seed} "))
    path.write_text(path.read_text() + "\n" + "\n".join(extra) + "\n")
    return path


def _start(config: Path, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SIM2PI_STATE_DIR": str(tmp_path / "state"),
        "SIM2PI_SIM_PINS_FILE": str(tmp_path / "pins.json"),
    }
    command = [sys.executable, "-W", "ignore", "-m", "robot", "calibrate", "--config", str(config)]
    return subprocess.Popen(
        [*command, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _calibrate(config: Path, tmp_path: Path, *args: str) -> tuple[int, str]:
    process = _start(config, tmp_path, *args)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout + stderr


def _records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _pins(tmp_path: Path) -> dict[str, float]:
    return json.loads((tmp_path / "pins.json").read_text())["pins"]


def test_the_drive_follows_the_plan_logs_every_tick_and_stays_on_its_spot(tmp_path: Path) -> None:
    config = _config(tmp_path)
    log = tmp_path / "out" / "calibration.jsonl"
    code, output = _calibrate(config, tmp_path, "--log", str(log))
    assert code == 0, output
    steps = len(build_plan(load_config(config).calibration))
    assert steps > 40  # the ladder, the reversals, the pivots
    assert f"calibrate: complete: all {steps} steps driven" in output
    for bad in ("Traceback", "ERROR", "CRITICAL"):
        assert bad not in output, output
    meta = json.loads((tmp_path / "out" / "calibration.jsonl.meta.json").read_text())
    records = _records(log)
    summary = meta["summary"]
    # Every tick, in order, each with the fields the fitter reads.
    assert [r["tick"] for r in records] == list(range(summary["ticks"]))
    fields = {"t_s", "tick", "obs", "bumper", "late_us", "compute_us", "stopped", "command"}
    assert all(fields | {"calibration_step"} <= set(r) for r in records)
    assert summary["outcome"] == "complete" and summary["stops"] == {}
    assert meta["format"] == "sim2pi-calibration" and meta["format_version"] == 1
    assert meta["rate_hz"] == 20.0 and meta["hardware"]["backend"] == "sim"
    assert [c["name"] for c in meta["channels"]] == [
        "left_distance_m",
        "front_distance_m",
        "right_distance_m",
    ]
    # The commands follow the plan step by step, on the loop's clock.
    plan = build_plan(load_config(config).calibration)
    assert [s["name"] for s in meta["plan"]] == [s.name for s in plan]
    timeline, start_s = Timeline(plan), records[0]["t_s"]
    for record in records[:-1]:  # the last tick is the stop that ends the drive
        at_s = record["t_s"] - start_s  # both rounded to the µs: either side of a boundary
        steps = [timeline.step_at(at_s - 2e-6), timeline.step_at(at_s + 2e-6)]
        assert any(
            step is not None
            and record["calibration_step"] == step.name
            and record["command"] == [step.left, step.right]
            for step in steps
        ), (record, steps)
        assert record["stopped"] is None and record["supervisor"] is None, record
    assert records[-1]["command"] == [0.0, 0.0]
    driven = {r["calibration_step"] for r in records}
    assert {s.name for s in plan} <= driven
    # The world's truth: it never left the pivot circle, and touched nothing.
    sim = meta["sim"]
    assert 0.05 < sim["farthest_from_start_m"] <= WHEEL_BASE_M + 0.005, sim
    assert sim["contact_steps"] == 0, sim
    assert set(_pins(tmp_path).values()) == {0.0}  # the motors stopped at the end


def test_dry_run_prints_the_plan_and_moves_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    code, output = _calibrate(config, tmp_path, "--dry-run", "--log", str(tmp_path / "c.jsonl"))
    assert code == 0, output
    assert "spin_left_0.15" in output and "pivot_right_back_1.00" in output
    plan = build_plan(load_config(config).calibration)
    total = format_plan(plan, 20.0)[-1]
    assert total.startswith("total ") and f"{len(plan)} steps" in total
    assert total in output
    assert "dry run: nothing moved" in output
    assert not (tmp_path / "c.jsonl").exists() and not (tmp_path / "pins.json").exists()


def test_an_obstacle_within_safe_distance_refuses_the_drive_before_any_motor_moves(
    tmp_path: Path,
) -> None:
    # A 1 m arena: every ranger sees a wall closer than 1.5 m.
    config = _config(tmp_path, "[calibration]", "safe_distance_m = 1.5")
    text = (
        config.read_text()
        .replace("arena_m = 4.0", "arena_m = 1.0")
        .replace("obstacles = 6 ", "obstacles = 0 ")
    )
    config.write_text(text)
    log = tmp_path / "calibration.jsonl"
    code, output = _calibrate(config, tmp_path, "--log", str(log))
    assert code == 2, output
    refusals = [line for line in output.splitlines() if "refused to start" in line]
    assert len(refusals) == 1 and "closer than [calibration] safe_distance_m (1.5 m)" in output
    assert "Traceback" not in output and "first valid decision" not in output
    assert not log.exists()  # the loop never ran
    assert set(_pins(tmp_path).values()) == {0.0}


def test_sigterm_mid_drive_stops_the_motors_and_keeps_the_log(tmp_path: Path) -> None:
    # Long steps, so that the drive is still turning when the signal comes.
    config = _config(
        tmp_path,
        "[calibration]",
        "duties = [0.5, 0.7, 1.0]\nstep_s = 10.0\nstill_s = 0.5\nmax_duration_s = 600",
    )
    log = tmp_path / "calibration.jsonl"
    process = _start(config, tmp_path, "--log", str(log))
    deadline = time.monotonic() + 60
    while not (log.exists() and len(log.read_text().splitlines()) > 60):  # 3 s simulated
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    output = stdout + stderr
    assert process.returncode == 0, output
    meta = json.loads((tmp_path / "calibration.jsonl.meta.json").read_text())
    assert meta["summary"]["outcome"] == "SIGTERM", meta["summary"]
    assert meta["summary"]["exit_reason"] == "SIGTERM"
    records = _records(log)
    assert records[-1]["calibration_step"] != "pivot_right_back_1.00"  # it did not run out
    assert len(records) < 0.5 * meta["plan_duration_s"] * 20
    assert set(_pins(tmp_path).values()) == {0.0}, output


def test_a_contact_mid_drive_ends_it_at_once(tmp_path: Path) -> None:
    # A "contact" as the supervisor judges one: a range below collision_distance_m. At 0.65 m
    # the start is clear (seed 0: 0.71 m and more), and the first turns sweep a nearer wall.
    config = _config(tmp_path, "")
    text = config.read_text().replace(
        "collision_distance_m = 0.03 ", "collision_distance_m = 0.65 "
    )
    config.write_text(text)
    log = tmp_path / "calibration.jsonl"
    code, output = _calibrate(config, tmp_path, "--log", str(log))
    assert code == 1, output
    assert "calibrate: drive ended early: contact" in output, output
    records = _records(log)
    meta = json.loads((tmp_path / "calibration.jsonl.meta.json").read_text())
    assert meta["summary"]["outcome"] == "contact"
    assert records[-1]["supervisor"] == "contact"
    assert records[-1]["command"] is None  # the drive was not asked: the supervisor stopped
    assert any(r["command"] not in (None, [0.0, 0.0]) for r in records)  # it was driving
    assert set(_pins(tmp_path).values()) == {0.0}

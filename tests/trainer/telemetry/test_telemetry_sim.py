"""``plot-telemetry`` on a real robot run: ``python -m robot run`` on the ``sim`` backend, its
telemetry rotated into many files, the supervisor stopping the robot (``stuck``), the on-robot
learner deciding; and a runtime restarted into the same file."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.trainer.telemetry.telemetry_runs import (
    plot_telemetry,
    records,
    robot_run,
    sim_config,
)
from trainer.telemetry.plot import (
    ACTION,
    EVENTS,
    LEARNING,
    OBSERVATION_RANGES,
    Q_VALUES,
    RANGE_NAMES,
    TIMING,
    build_figure,
)
from trainer.telemetry.read import read_runs, telemetry_files
from trainer.telemetry.summary import summarize

pytestmark = pytest.mark.trainer
TICKS = 1200
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A simulated minute with the learner, its telemetry at ``ticks.jsonl`` (rotated); the
    robot's own exit summary."""
    tmp_path = tmp_path_factory.mktemp("sim")
    telemetry = tmp_path / "telemetry" / "ticks.jsonl"
    summary = robot_run(tmp_path, sim_config(tmp_path, telemetry, learn=True), TICKS)
    return telemetry, summary


def _ignore(_: str) -> None:
    pass


def test_rotated_files_are_read_oldest_first(sim_run: tuple[Path, dict[str, Any]]) -> None:
    live, _ = sim_run
    rotated = sorted(live.parent.glob("ticks.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
    assert len(rotated) >= 5  # the run rotated many times
    assert telemetry_files([live]) == [*rotated, live]
    # Named explicitly in any order: the same order.
    shuffled = [live, *rotated]
    random.Random(0).shuffle(shuffled)
    assert telemetry_files(shuffled) == [*rotated, live]
    runs = read_runs(shuffled, _ignore)
    assert len(runs) == 1
    assert [r.tick for r in runs[0].records] == list(range(TICKS))  # continuous, oldest first
    # Given only some rotated files, only those are read, in order.
    assert telemetry_files([rotated[-1], rotated[0]]) == [rotated[0], rotated[-1]]


def test_stops_and_takeovers_are_counted_as_the_robot_counted_them(
    sim_run: tuple[Path, dict[str, Any]],
) -> None:
    live, robot_summary = sim_run
    (run,) = read_runs([live], _ignore)
    summary = summarize(run)
    stops = {r: {"events": e, "ticks": n} for r, (e, n) in summary.stops.items()}
    assert stops == robot_summary["stops"]  # every tick is recorded, so ticks = records
    assert "stuck" in stops and stops["stuck"]["events"] >= 2
    # The supervisor's takeovers: its exit summary counts contacts (events)
    assert summary.takeovers["contact"][0] == robot_summary["supervisor"]["takeovers"]["contact"]
    assert summary.updates == robot_summary["learning"]["run_updates"]
    assert summary.epsilon is not None
    assert summary.epsilon[1] == pytest.approx(robot_summary["learning"]["epsilon"], abs=1e-6)
    assert summary.ticks == summary.records == TICKS
    assert summary.overruns == robot_summary["overruns"] == 0


def test_the_figure_plots_the_telemetry(sim_run: tuple[Path, dict[str, Any]]) -> None:
    live, _ = sim_run
    (run,) = read_runs([live], _ignore)
    figure = build_figure(run)
    panels = {ax.get_title(loc="left"): ax for ax in figure.axes if ax.get_title(loc="left")}
    assert list(panels) == [OBSERVATION_RANGES, ACTION, Q_VALUES, EVENTS, TIMING, LEARNING]
    every = [records(p) for p in telemetry_files([live])]
    ticks = [tick for file in every for tick in file]
    t_s = [tick["t_s"] for tick in ticks]
    obs = panels[OBSERVATION_RANGES]
    assert [line.get_label() for line in obs.lines] == list(RANGE_NAMES)
    for i, line in enumerate(obs.lines):
        expected = [np.nan if t["obs"] is None else t["obs"][i] for t in ticks]
        np.testing.assert_array_equal(line.get_xdata(), t_s)
        np.testing.assert_array_equal(line.get_ydata(), expected)
    q = panels[Q_VALUES]
    assert [line.get_label() for line in q.lines] == [f"Q[{i}]" for i in range(5)]
    expected_q = [[np.nan] * 5 if t["q"] is None else t["q"] for t in ticks]
    np.testing.assert_array_equal(np.array([ln.get_ydata() for ln in q.lines]).T, expected_q)
    action = [np.nan if t["action"] is None else t["action"] for t in ticks]
    np.testing.assert_array_equal(panels[ACTION].lines[0].get_ydata(), action)
    late = panels[TIMING].lines[0]
    np.testing.assert_array_equal(late.get_ydata(), [t["late_us"] for t in ticks])
    # Stops by reason: one legend entry per reason, one bar per event.
    legend = [text.get_text() for text in panels[EVENTS].get_legend().get_texts()]
    assert "stopped: stuck" in legend and "supervisor: contact" in legend
    bars = {c.get_label(): len(c.get_paths()) for c in panels[EVENTS].collections}
    assert bars["stopped: stuck"] == summarize(run).stops["stuck"][0]
    assert panels[LEARNING].lines[0].get_label() == "ε"
    np.testing.assert_array_equal(
        panels[LEARNING].lines[0].get_ydata(), [t.get("epsilon", np.nan) for t in ticks]
    )


def test_the_command_writes_png_and_html_and_prints_a_summary(
    sim_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    live, robot_summary = sim_run
    done = plot_telemetry(str(live), "--out", str(tmp_path / "run.png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run.png").read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "run-2.png").exists()
    events = robot_summary["stops"]["stuck"]["events"]
    assert f"run 1 of 1: ticks 0-{TICKS - 1}" in done.stdout
    assert f"stops: stuck ×{events}" in done.stdout
    assert f"Report: {tmp_path / 'run.png'}" in done.stdout
    done = plot_telemetry(str(live), "--out", str(tmp_path / "run.html"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "run.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert 'src="data:image/png;base64,iVBORw0KGgo' in page  # the PNG, embedded
    assert "<th>stops: stuck</th>" in page and f"×{events} (" in page
    assert "<th>lateness p50 / p99</th>" in page and "<th>compute p50 / p99</th>" in page
    # Self-contained: one image, embedded; nothing fetched from elsewhere.
    assert page.count("<img ") == 1 and 'src="http' not in page and "<script" not in page


def test_a_restart_into_the_same_file_gives_two_reports(tmp_path: Path) -> None:
    telemetry = tmp_path / "telemetry" / "ticks.jsonl"
    first = robot_run(tmp_path, sim_config(tmp_path, telemetry, learn=False, seed=1), 300)
    second = robot_run(tmp_path, sim_config(tmp_path, telemetry, learn=False, seed=2), 200)
    done = plot_telemetry(str(telemetry), "--out", str(tmp_path / "out" / "run.png"))
    assert done.returncode == 0, done.stderr
    for name in ("run.png", "run-2.png"):
        assert (tmp_path / "out" / name).read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "out" / "run-3.png").exists()
    assert "run 1 of 2: ticks 0-299" in done.stdout and "run 2 of 2: ticks 0-199" in done.stdout
    assert f"Report: {tmp_path / 'out' / 'run-2.png'}" in done.stdout
    runs = read_runs([telemetry], _ignore)
    assert [len(run.records) for run in runs] == [first["ticks"], second["ticks"]]
    assert [r.tick for r in runs[1].records] == list(range(200))


def test_sampled_telemetry_keeps_the_tick_counts_and_the_rate(tmp_path: Path) -> None:
    # Every 5th tick recorded: ticks and rate from the tick numbers, records held are sampled.
    telemetry = tmp_path / "telemetry" / "ticks.jsonl"
    config = sim_config(tmp_path, telemetry, learn=False, every_n_ticks=5)
    robot_summary = robot_run(tmp_path, config, 600)
    (run,) = read_runs([telemetry], _ignore)
    assert [r.tick for r in run.records] == list(range(0, 600, 5))
    summary = summarize(run)
    assert (summary.records, summary.first_tick, summary.last_tick) == (120, 0, 595)
    assert summary.ticks == 596
    assert summary.rate_hz == pytest.approx(20.0)  # the reference robot's 20 Hz, not 4 Hz
    assert summary.stops, "the supervisor stopped the robot in 30 simulated seconds"
    for reason, (events, held) in summary.stops.items():
        robot = robot_summary["stops"][reason]
        assert 1 <= events <= robot["events"]
        assert abs(held * 5 - robot["ticks"]) <= 5 * robot["events"]  # each end within a period
    done = plot_telemetry(str(telemetry), "--out", str(tmp_path / "run.png"))
    assert done.returncode == 0, done.stderr
    assert "ticks 0-595 (596 ticks, 120 records) over 29.75 s (20.00 Hz)" in done.stdout

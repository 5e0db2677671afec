"""``plot-telemetry`` on software in the loop: a tiny real tabular Q-learning run of CartPole,
exported, played by ``python -m trainer sil run`` (the robot's loop on the Gymnasium env, a
child process), its telemetry plotted: four generic observation channels, two Q-values, no
supervisor and no bumper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared.bundle import Bundle
from tests.trainer.telemetry.telemetry_runs import ROOT, plot_telemetry, records
from trainer.export.exporter import ExportOptions, export_run
from trainer.telemetry.plot import EVENTS, OBSERVATION, Q_VALUES, Labels, build_figure
from trainer.telemetry.read import read_runs
from trainer.telemetry.summary import summarize
from trainer.training import TrainingRun

pytestmark = pytest.mark.trainer
CHANNELS = "{ cart_position_m = 0, cart_velocity_m_s = 1, pole_angle_rad = 2, pole_angular_velocity_rad_s = 3 }"  # noqa: E501


@pytest.fixture(scope="module")
def sil_telemetry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Bundle]:
    """Three CartPole episodes played through ``trainer sil run``: the telemetry, the bundle."""
    tmp_path = tmp_path_factory.mktemp("sil")
    overrides = ["eval_every=0", "eval_episodes=2", "final_eval_episodes=2"]
    training = TrainingRun.create("CartPole-v1", "qlearning", 0, overrides, tmp_path / "run", 2000)
    try:
        assert training.run(progress=False)
    finally:
        training.close()
    options = ExportOptions(parity_states=200)
    bundle = export_run(tmp_path / "run", tmp_path / "bundle", options, log=lambda _: None).bundle
    telemetry = tmp_path / "ticks.jsonl"
    config = tmp_path / "robot.toml"
    config.write_text(
        f"[bundle]\npath = {json.dumps(str(bundle.path))}\npolicy = 'qtable'\n"
        "[loop]\nrate_hz = 50.0\n[hardware]\nbackend = 'gym'\n"
        f"[hardware.gym]\nenv_id = 'CartPole-v1'\nchannels = {CHANNELS}\n"
        f"[telemetry]\nenabled = true\npath = {json.dumps(str(telemetry))}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "trainer", "sil", "run", "--config", str(config), "--episodes", "3"],
        cwd=ROOT,
        env={**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return telemetry, bundle


def test_the_figure_plots_a_gym_envs_observation(sil_telemetry: tuple[Path, Bundle]) -> None:
    telemetry, _ = sil_telemetry
    ticks = records(telemetry)
    (run,) = read_runs([telemetry], print)
    figure = build_figure(run)
    panels = {ax.get_title(loc="left"): ax for ax in figure.axes}
    observation = panels[OBSERVATION]  # generic channels: not a robot's ranges
    assert [line.get_label() for line in observation.lines] == [f"obs[{i}]" for i in range(4)]
    matrix = np.array([line.get_ydata() for line in observation.lines]).T
    np.testing.assert_array_equal(matrix, [t["obs"] for t in ticks])
    q = panels[Q_VALUES]
    assert [line.get_label() for line in q.lines] == ["Q[0]", "Q[1]"]
    np.testing.assert_array_equal(
        np.array([ln.get_ydata() for ln in q.lines]).T, [t["q"] for t in ticks]
    )
    assert len(panels[EVENTS].collections) == 0  # never stopped, no supervisor, no bumper
    summary = summarize(run)
    assert summary.stops == {} and summary.takeovers == {} and summary.bumper_presses == 0
    assert summary.ticks == len(ticks) and summary.epsilon is None


def test_a_bundle_names_the_lines(sil_telemetry: tuple[Path, Bundle], tmp_path: Path) -> None:
    telemetry, bundle = sil_telemetry
    (run,) = read_runs([telemetry], print)
    labels = Labels(tuple(bundle.spec.observation.names), tuple(bundle.spec.actions.names))
    panels = {ax.get_title(loc="left"): ax for ax in build_figure(run, labels).axes}
    names = [line.get_label() for line in panels[OBSERVATION].lines]
    assert names == list(bundle.spec.observation.names) == ["cart_position_m", *names[1:]]
    assert [line.get_label() for line in panels[Q_VALUES].lines] == list(bundle.spec.actions.names)
    done = plot_telemetry(
        str(telemetry), "--bundle", str(bundle.path), "--out", str(tmp_path / "r.html")
    )
    assert done.returncode == 0, done.stderr
    assert f"run 1 of 1: ticks 0-{len(records(telemetry)) - 1}" in done.stdout
    assert "stops: none" in done.stdout
    assert 'src="data:image/png;base64,' in (tmp_path / "r.html").read_text()
    done = plot_telemetry(
        str(telemetry), "--bundle", str(tmp_path), "--out", str(tmp_path / "x.png")
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"python -m trainer plot-telemetry: error: --bundle {tmp_path}:")

"""The scripts/bench_* commands start: each benchmark module answers --help from the repository
root, and the files they read are where they look (the benchmarks themselves run by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = {
    "bench_arenas": "bench.arenas",
    "bench_train": "bench.train_speed",
    "bench_sim": "bench.sim_quality",
    "bench_export": "bench.export_figures",
    "bench_robot": "bench.robot_figures",
    "bench_learning": "bench.shifted_learning_cli",
    "bench_world": "bench.world_speed",
    "bench_dashboard": "bench.dashboard",
    "bench_calibration": "bench.calibration_drive",
    "bench_sweep": "bench.sweep_speed",
    "bench_fit": "bench.fit_robots",
}

pytestmark = pytest.mark.trainer  # the figures need the laptop's requirements (TensorFlow, ...)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_each_bench_script_runs_its_module(script: str) -> None:
    assert f"-m {SCRIPTS[script]}" in (ROOT / "scripts" / script).read_text()


@pytest.mark.parametrize("module", sorted(m for m in SCRIPTS.values() if m != "bench.world_speed"))
def test_each_bench_module_answers_help(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_the_robot_figures_read_the_fixture_bundle() -> None:
    from bench import robot_figures

    assert (robot_figures.FIXTURE_BUNDLE / "manifest.json").is_file()


def test_the_world_speed_bench_runs_a_few_ticks() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.world_speed", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "world tick (step 50 ms + 3 rangers), 50 ticks" in result.stdout

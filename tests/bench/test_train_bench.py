"""scripts/bench_train: the bars it judges, and what it says when the SB3 reference is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.sb3_reference import available
from bench.train_speed import verdict

ROOT = Path(__file__).resolve().parents[2]


def seed(final: float, solve_seconds: float | None, sb3_seconds: float | None = None) -> dict:
    ours: dict[str, Any] = {
        "final": final,
        "best": final,
        "solve_steps": None if solve_seconds is None else 2000,
        "solve_seconds": solve_seconds,
        "steps_per_second": 1000.0,
    }
    row: dict[str, Any] = {"sim2pi": ours}
    if sb3_seconds is not None:
        row["sb3"] = {**ours, "solve_seconds": sb3_seconds, "final": 500.0}
    return row


def test_the_final_bar_needs_nine_of_ten_seeds_at_475() -> None:
    nine = [seed(500.0, 5.0) for _ in range(9)] + [seed(474.9, 5.0)]
    eight = [seed(500.0, 5.0) for _ in range(8)] + [seed(100.0, 5.0), seed(474.9, None)]
    assert verdict(nine)["bars"]["final"] == {"needed": 9, "passed": True}
    assert verdict(eight)["bars"]["final"] == {"needed": 9, "passed": False}
    assert verdict(eight)["solved"] == 9
    # scaled to the seeds given: 5 seeds need 5 (ceil of 4.5)
    assert verdict([seed(500.0, 5.0)] * 4 + [seed(0.0, 5.0)])["bars"]["final"]["needed"] == 5


def test_the_speed_bar_compares_medians_where_a_seed_that_never_solved_is_the_slowest() -> None:
    rows = [seed(500.0, s, 3 * s) for s in (2.0, 4.0, 6.0, 8.0)] + [seed(500.0, None, 30.0)]
    v = verdict(rows)  # ours: 2, 4, 6, 8, never -> 6; SB3: 6, 12, 18, 24, 30 -> 18
    assert v["median_solve_seconds"] == 6.0 and v["sb3"]["median_solve_seconds"] == 18.0
    assert v["speed_ratio"] == pytest.approx(6.0 / 18.0)
    assert v["bars"]["speed"] == {"needed": 0.5, "passed": True}
    slow = verdict([seed(500.0, s, 1.5 * s) for s in (2.0, 4.0, 6.0)])
    assert not slow["bars"]["speed"]["passed"]
    assert "speed" not in verdict([seed(500.0, 2.0)])["bars"]  # no SB3, no speed bar
    # when most seeds never solve, there is no median time and the bar is missed
    never = verdict([seed(500.0, None, 2.0), seed(500.0, None, 2.0), seed(500.0, 1.0, 2.0)])
    assert never["median_solve_seconds"] is None and not never["bars"]["speed"]["passed"]


def test_without_the_sb3_reference_the_benchmark_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # import raises ImportError
    assert "pip install -r requirements-bench.txt" in (available() or "")
    # the same through the command: a directory that shadows the package with one that fails
    (tmp_path / "stable_baselines3").mkdir()
    (tmp_path / "stable_baselines3/__init__.py").write_text("raise ImportError('absent')\n")
    done = subprocess.run(
        [sys.executable, "-m", "bench.train_speed", "--against-sb3", "--seeds", "0"],
        cwd=ROOT,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "requirements-bench.txt" in done.stderr and "Traceback" not in done.stderr

"""scripts/bench_learning: the command line around the harness, on a tiny budget."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_learning_writes_figures_and_curve_and_exits_by_the_bar(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_learning", ROOT / "scripts/bench_learning.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "bench"
    args = ["--seeds", "1", "--minutes", "0.2", "--learn-rooms", "2", "--eval-arenas", "1"]
    args += ["--eval-minutes", "0.1", "--set", "epsilon_start=0.5", "--out", str(out)]
    code = script.main(args)
    figures = json.loads((out / "figures.json").read_text())
    assert (out / "learning_curve.png").stat().st_size > 1000
    angled = figures["angled"]  # the adopted shift is the default
    assert figures["learn_rooms"] == 2 and figures["learner"]["epsilon_start"] == 0.5
    assert figures["learner"]["recovery"][0] == [0.0, 0.0, 0.3]
    assert code == (0 if angled["bar_met"] else 1)
    seed = angled["per_seed"][0]
    # 240 ticks over two rooms: the second room's learner carried on from the first's state.
    assert seed["learner"]["updates"] > seed["learner"]["run_updates"] > 0

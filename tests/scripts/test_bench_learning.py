"""scripts/bench_learning: the command line around the harness, on a tiny budget."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.bundle import read_bundle, sha256_file

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference_bundles/obstacle_avoid"


def _script() -> Any:
    """bench/shifted_learning_cli.py as a module."""
    spec = importlib.util.spec_from_file_location(
        "bench_learning", ROOT / "bench/shifted_learning_cli.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_bench_learning_writes_figures_and_curve_and_exits_by_the_bar(tmp_path: Path) -> None:
    script = _script()
    out = tmp_path / "bench"
    args = ["--seeds", "1", "--minutes", "0.2", "--learn-rooms", "2", "--eval-arenas", "1"]
    args += ["--eval-minutes", "0.1", "--set", "epsilon_start=0.5", "--out", str(out)]
    code = script.main(args)
    figures = json.loads((out / "figures.json").read_text())
    assert (out / "learning_curve.png").stat().st_size > 1000
    angled = figures["angled"]  # the adopted shift is the default
    assert figures["learn_rooms"] == 2 and figures["learner"]["epsilon_start"] == 0.5
    assert figures["learner"]["supervisor"]["recovery"][0] == [0.0, 0.0, 0.1]
    assert code == (0 if angled["bar_met"] else 1)
    seed = angled["per_seed"][0]
    # 240 ticks over two rooms: the second room's learner carried on from the first's state.
    assert seed["learner"]["updates"] > seed["learner"]["run_updates"] > 0


def test_a_shift_trained_table_is_evaluated_on_the_same_arenas(tmp_path: Path) -> None:
    script = _script()
    out = tmp_path / "bench"
    args = ["--seeds", "1", "--minutes", "0.1", "--learn-rooms", "1", "--eval-arenas", "2"]
    args += ["--eval-minutes", "0.1", "--out", str(out)]
    # The bundle's own table as the "shift-trained" one: the same greedy runs as eval_shifted.
    script.main([*args, "--shift-trained", str(REFERENCE)])
    angled = json.loads((out / "figures.json").read_text())["angled"]
    assert angled["return_shift_trained"] == angled["return_shifted_before"]
    seed = angled["per_seed"][0]
    assert seed["collisions_eval_shift_trained"] == seed["collisions_eval_before"]
    # Another table on the same grid gives other runs.
    other = tmp_path / "other"
    shutil.copytree(REFERENCE, other)
    flipped = -np.load(other / "qtable.npy")
    np.save(other / "qtable.npy", flipped)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["files"]["qtable.npy"]["sha256"] = sha256_file(other / "qtable.npy")
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert read_bundle(other).load_qtable() == pytest.approx(flipped)
    script.main([*args, "--shift-trained", str(other)])
    angled = json.loads((out / "figures.json").read_text())["angled"]
    assert angled["return_shift_trained"] != angled["return_shifted_before"]


def test_a_shift_trained_bundle_on_another_grid_is_refused(tmp_path: Path, capsys) -> None:
    other = tmp_path / "other"
    shutil.copytree(ROOT / "tests/fixtures/obstacle_bundle", other)
    code = _script().main(["--seeds", "1", "--shift-trained", str(other), "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "--shift-trained" in err and "grid" in err and "--bin-edges" in err

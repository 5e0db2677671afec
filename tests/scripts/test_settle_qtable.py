"""scripts/settle_qtable: the command line around the harness's settle, on tiny budgets."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from shared.bundle import read_bundle

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "obstacle_bundle"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settle_qtable", ROOT / "scripts/settle_qtable.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settle_qtable_writes_the_settled_bundle_and_says_how(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "settled"
    args = [str(FIXTURE), "--out", str(out), "--minutes", "0.2", "--room-minutes", "0.1"]
    assert _script().main([*args, "--set", "epsilon_start=0.5"]) == 0
    settled, before = read_bundle(out), read_bundle(FIXTURE)
    record = settled.manifest["settling"]
    assert record["rooms"] == 2 and record["updates"] > 150
    assert record["learner"]["epsilon_start"] == 0.5
    assert record["learner"]["recovery"][1] == [-0.5, -0.5, 0.6]
    assert record["from_qtable_sha256"] == before.manifest["files"]["qtable.npy"]["sha256"]
    changed = settled.load_qtable().argmax(axis=1) != before.load_qtable().argmax(axis=1)
    assert record["greedy_actions_changed"] == int(changed.sum())
    assert not np.array_equal(settled.load_qtable(), before.load_qtable())
    assert json.loads(capsys.readouterr().out.split("\nwrote")[0].split("\n", 1)[1]) == record
    # An existing --out is refused without --overwrite, and left as it is.
    assert _script().main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert read_bundle(out).manifest["settling"] == record


def test_settle_qtable_refuses_a_bundle_without_a_qtable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "no_table"
    shutil.copytree(FIXTURE, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["qtable"] = None
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert _script().main([str(bundle), "--out", str(tmp_path / "out")]) == 2
    assert "has no qtable.npy; export it with --qtable" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

"""Bad --out, SPEC, sweep.json or --export-best: one line, exit 2, nothing written (no Ray)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY, trainer, write_spec

from trainer.cli.sweep import _export_best, _prepare_out
from trainer.errors import UsageError
from trainer.sweep.spec import load_spec

pytest.importorskip("ray")
pytestmark = [pytest.mark.trainer]


def _one_line_exit_2(done, expected: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr


def test_bad_out_spec_and_record_are_one_line(tmp_path: Path) -> None:
    spec = str(write_spec(tmp_path, TINY))
    afile = write_spec(tmp_path, "x", "afile")
    _one_line_exit_2(trainer("sweep", spec, "--out", str(afile)), "is not a directory")
    _one_line_exit_2(trainer("sweep", spec, "--out", "/proc/nope/x"), "cannot create it")
    _one_line_exit_2(trainer("sweep", str(tmp_path), "--out", str(tmp_path / "o")), "cannot read")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "sweep.json").write_text("{not json")
    done = trainer("sweep", spec, "--out", str(corrupt), "--resume")
    _one_line_exit_2(done, "is not a sweep record")
    (corrupt / "sweep.json").write_text('{"created_at": "x"}')
    _one_line_exit_2(trainer("sweep", spec, "--out", str(corrupt), "--resume"), "KeyError")
    inf = write_spec(tmp_path, TINY + "[random]\nlearning_rate = {uniform = [0, inf]}\n", "i.toml")
    _one_line_exit_2(trainer("sweep", str(inf), "--out", str(tmp_path / "o2")), "finite bounds")
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o").exists()
    done = trainer("sweep", spec, "--out", str(tmp_path / "o3"), "--export-best", "/proc/x/b")
    _one_line_exit_2(done, "is not a writable folder")
    assert not (tmp_path / "o3").exists()


def test_resume_refuses_another_spec(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    recorded = load_spec(write_spec(tmp_path, TINY)).to_dict()
    (out / "sweep.json").write_text(json.dumps({"spec": recorded | {"steps": 3000}}))
    done = trainer("sweep", str(write_spec(tmp_path, TINY)), "--out", str(out), "--resume")
    _one_line_exit_2(done, "differs from the spec the sweep was started with")
    assert "steps changed" in done.stderr


def _args(out: Path, *, resume: bool) -> argparse.Namespace:
    return argparse.Namespace(out=out, resume=resume)


def test_a_moved_spec_with_profiles_resumes_and_an_edited_profile_is_refused(
    tmp_path: Path,
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    write_spec(first, "env_id = 'CartPole-v1'\n", "robot.toml")
    text = TINY + "robot_profiles = ['robot.toml']\n"
    out = _prepare_out(load_spec(write_spec(first, text)), _args(tmp_path / "out", resume=False))
    moved = shutil.move(first, tmp_path / "moved")
    spec = load_spec(Path(moved) / "spec.toml")
    assert _prepare_out(spec, _args(out, resume=True)) == out
    (Path(moved) / "robot.toml").write_text("env_id = 'CartPole-v1'\n# edited\n")
    with pytest.raises(UsageError, match="robot_profiles changed"):
        _prepare_out(load_spec(Path(moved) / "spec.toml"), _args(out, resume=True))


def test_an_interrupted_export_leaves_no_bundle(tmp_path: Path, monkeypatch) -> None:
    def export_then_ctrl_c(run_dir, out, options):
        Path(out).mkdir()
        (Path(out) / "manifest.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr("trainer.export.exporter.export_run", export_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        _export_best(tmp_path / "run", tmp_path / "bundle", "best")
    assert list(tmp_path.iterdir()) == []

    def export(run_dir, out, options):
        Path(out).mkdir()
        (Path(out) / "manifest.json").write_text("{}")

    monkeypatch.setattr("trainer.export.exporter.export_run", export)
    _export_best(tmp_path / "run", tmp_path / "bundle", "best")
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
    assert (tmp_path / "bundle" / "manifest.json").is_file()

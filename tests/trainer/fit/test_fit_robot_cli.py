"""``trainer fit-robot``'s errors (one line, exit 2) for logs it cannot fit, and its profile
through ``trainer train --robot-profile`` (config.json has the fitted env kwargs)."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from hidden_drives import ANGLED, child, fit_robot, robot_toml

from trainer.cli.main import main
from trainer.rundir import RunDir

pytestmark = pytest.mark.trainer

#: A short drive (one spin rung, one pivot rung: ~9 s simulated, ~180 ticks).
SHORT = "\n[calibration]\nduties = [0.5, 1.0]\npivot_duties = [1.0]\n"


@pytest.fixture(scope="module")
def short_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete short drive of the angled robot (``python -m robot calibrate``, a child)."""
    folder = tmp_path_factory.mktemp("short")
    config = robot_toml(folder, ANGLED, 0)
    config.write_text(config.read_text() + SHORT)
    log = folder / "calibration.jsonl"
    done = child("robot", "calibrate", "--config", str(config), "--log", str(log))
    assert done.returncode == 0, done.stderr[-2000:]
    return log


def _copy(log: Path, folder: Path) -> Path:
    copy = folder / log.name
    shutil.copy(log, copy)
    shutil.copy(log.with_name(log.name + ".meta.json"), copy.with_name(copy.name + ".meta.json"))
    return copy


def _fit(log: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["fit-robot", str(log), "--out", str(out)])
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def _edit_meta(log: Path, **changes: object) -> None:
    meta_path = log.with_name(log.name + ".meta.json")
    meta = json.loads(meta_path.read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            meta[key] = {**(meta.get(key) or {}), **value}
        else:
            meta[key] = value
    meta_path.write_text(json.dumps(meta))


def test_a_missing_log_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _fit(tmp_path / "nope.jsonl", tmp_path / "p.toml", capsys)
    assert code == 2 and len(err) == 1 and "no such file" in err[0], err


def test_a_torn_log_is_one_line(
    short_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _copy(short_log, tmp_path)
    with log.open("a") as f:
        f.write('{"t_s": 9.1, "tick": 18')
    code, err = _fit(log, tmp_path / "p.toml", capsys)
    assert code == 2 and len(err) == 1 and "a torn or edited log" in err[0], err
    assert not (tmp_path / "p.toml").exists()


def test_a_foreign_header_is_one_line(
    short_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _copy(short_log, tmp_path)
    _edit_meta(log, format="something-else")
    code, err = _fit(log, tmp_path / "p.toml", capsys)
    assert code == 2 and len(err) == 1 and "expected format 'sim2pi-calibration'" in err[0]


def test_a_drive_that_did_not_complete_is_one_line(
    short_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _copy(short_log, tmp_path)
    _edit_meta(log, summary={"outcome": "contact", "detail": "the bumper was pressed"})
    code, err = _fit(log, tmp_path / "p.toml", capsys)
    assert code == 2 and len(err) == 1, err
    assert "expected 'complete', found 'contact'" in err[0] and "bumper" in err[0]


def test_too_few_ticks_is_one_line(
    short_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _copy(short_log, tmp_path)
    log.write_text("\n".join(log.read_text().splitlines()[:60]) + "\n")
    code, err = _fit(log, tmp_path / "p.toml", capsys)
    assert code == 2 and len(err) == 1 and "expected at least 100 ticks, found 60" in err[0]


def test_out_must_be_a_toml_file(
    short_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _fit(short_log, tmp_path / "p.json", capsys)
    assert code == 2 and len(err) == 1 and "expected a .toml file" in err[0]


def test_the_profile_trains_with_the_fitted_env(
    short_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "fitted.toml"
    assert main(["fit-robot", str(short_log), "--out", str(profile), "--name", "short"]) == 0
    printed = capsys.readouterr().out
    assert "fitted simulator" in printed and f"wrote {profile}" in printed
    env = tomllib.loads(profile.read_text())["env"]
    assert {"motor_gain", "dead_band_range", "side_ranger_deg"} <= set(env)
    argv = ["train", "--algo", "qlearning", "--steps", "200", "--quiet"]
    sets = ["--set", "bins=3,3,3", "--set", "eval_every=0", "--set", "final_eval_episodes=1"]
    run = tmp_path / "run"
    assert main([*argv, *sets, "--robot-profile", str(profile), "--out", str(run)]) == 0
    config = RunDir(run).config
    for key, value in env.items():
        assert config["env_kwargs"][key] == value, key
    assert config["robot_profile"]["name"] == "short"
    assert config["robot_profile"]["env"] == env


def test_a_fit_never_reads_the_truth(short_log: Path, tmp_path: Path) -> None:
    # The same drive with the header's sim truth and [hardware.sim] robot keys removed fits the
    # same: the fit does not read them.
    first, _ = fit_robot(short_log, tmp_path / "a.toml")
    log = _copy(short_log, tmp_path)
    meta_path = log.with_name(log.name + ".meta.json")
    meta = json.loads(meta_path.read_text())
    del meta["sim"]
    for key in ANGLED:
        meta["hardware"].pop(key, None)
    meta_path.write_text(json.dumps(meta))
    second, _ = fit_robot(log, tmp_path / "b.toml")
    assert first["env"] == second["env"] and first["env"]

"""``plot-telemetry`` on damaged and wrong files: one error line and exit 2, or a note for a
record torn by a crash. The telemetry is a real sim run's, damaged as a crash or a user would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.trainer.telemetry.telemetry_runs import plot_telemetry, robot_run, sim_config
from trainer.cli.main import main
from trainer.telemetry.plot import (
    ACTION,
    COMMAND,
    EVENTS,
    OBSERVATION_RANGES,
    Q_VALUES,
    TIMING,
    build_figure,
)
from trainer.telemetry.read import read_runs
from trainer.telemetry.summary import summarize

pytestmark = pytest.mark.trainer
PREFIX = "python -m trainer plot-telemetry: error: "


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real run's telemetry: 30 simulated ticks, one file."""
    tmp_path = tmp_path_factory.mktemp("sim")
    telemetry = tmp_path / "ticks.jsonl"
    robot_run(tmp_path, sim_config(tmp_path, telemetry, learn=False), 30)
    assert not (tmp_path / "ticks.jsonl.1").exists()
    return telemetry.read_bytes()


def _plot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plot-telemetry", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _error(capsys: pytest.CaptureFixture[str], tmp_path: Path, *files: Path) -> str:
    """The one error line of a bad input (exit 2, nothing written)."""
    code, out, err = _plot(capsys, *map(str, files), "--out", str(tmp_path / "run.png"))
    assert code == 2 and out == ""
    assert err.startswith(PREFIX) and err.count("\n") == 1, err
    assert not (tmp_path / "run.png").exists()
    return err[len(PREFIX) :]


def test_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ticks.jsonl"
    assert _error(capsys, tmp_path, missing).startswith(f"{missing}: no such file;")


def test_an_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "ticks.jsonl"
    empty.write_bytes(b"")
    assert _error(capsys, tmp_path, empty).startswith(f"{empty}: empty (no telemetry record)")


def test_an_empty_file_beside_records_is_a_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ticks: bytes
) -> None:
    (tmp_path / "ticks.jsonl.1").write_bytes(ticks)
    (tmp_path / "ticks.jsonl").write_bytes(b"")  # just rotated, nothing written yet
    code, out, err = _plot(capsys, str(tmp_path / "ticks.jsonl"), "--out", str(tmp_path / "r.png"))
    assert code == 0, err
    assert err == f"note: {tmp_path / 'ticks.jsonl'}: empty, skipped\n"
    assert "run 1 of 1: ticks 0-29" in out


def test_not_json_lines_names_the_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ticks: bytes
) -> None:
    lines = ticks.splitlines(keepends=True)
    bad = tmp_path / "ticks.jsonl"
    bad.write_bytes(b"".join(lines[:6]) + b"t_s,tick,obs\n" + b"".join(lines[6:]))
    message = _error(capsys, tmp_path, bad)
    assert message.startswith(f"{bad}:7: not JSON Lines (Expecting value at column 1)"), message
    assert "'t_s,tick,obs'" in message


def test_a_binary_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    binary = tmp_path / "policy.tflite"
    binary.write_bytes(b"\x1c\x00\x00\x00TFL3\xff\xfe\n\x00\x01")
    assert _error(capsys, tmp_path, binary).startswith(f"{binary}:1: not JSON Lines (")


def test_records_without_tick_or_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ticks: bytes
) -> None:
    first = json.loads(ticks.splitlines()[0])
    for key in ("tick", "t_s"):
        record = {k: v for k, v in first.items() if k != key}
        path = tmp_path / f"no_{key}.jsonl"
        path.write_text(json.dumps(record) + "\n")
        message = _error(capsys, tmp_path, path)
        assert message.startswith(f"{path}:1: a record without a numeric {key!r} (found no such")
    path = tmp_path / "list.jsonl"
    path.write_text("[1, 2, 3]\n")
    assert _error(capsys, tmp_path, path).startswith(f"{path}:1: expected a JSON object per line")


def test_a_bad_out_suffix(capsys: pytest.CaptureFixture[str], tmp_path: Path, ticks: bytes) -> None:
    (tmp_path / "ticks.jsonl").write_bytes(ticks)
    code, out, err = _plot(capsys, str(tmp_path / "ticks.jsonl"), "--out", str(tmp_path / "r.pdf"))
    assert (code, out) == (2, "")
    assert err == (
        f"{PREFIX}--out {tmp_path / 'r.pdf'}: expected a name ending in .png or .html, found "
        "'.pdf'; e.g. --out run.png\n"
    )
    assert not (tmp_path / "r.pdf").exists()


def test_a_record_torn_by_a_crash_is_skipped_with_a_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ticks: bytes
) -> None:
    torn = tmp_path / "ticks.jsonl"
    torn.write_bytes(ticks + ticks.splitlines(keepends=True)[0][:37])  # killed mid-write
    code, out, err = _plot(capsys, str(torn), "--out", str(tmp_path / "run.png"))
    assert code == 0
    assert err == f"note: {torn}:31: skipped a torn last record (37 bytes, a crash mid-write)\n"
    assert "run 1 of 1: ticks 0-29 (30 ticks, 30 records)" in out


def test_a_torn_record_followed_by_a_restart(tmp_path: Path, ticks: bytes) -> None:
    # The restarted runtime appends its first record to the torn line.
    torn = tmp_path / "ticks.jsonl"
    torn.write_bytes(ticks + ticks[:37] + ticks)
    notes: list[str] = []
    runs = read_runs([torn], notes.append)
    assert notes == [f"{torn}:31: skipped a torn record (37 bytes) before the next record"]
    assert [[r.tick for r in run.records] for run in runs] == [list(range(30))] * 2


def test_a_user_sees_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "ticks.jsonl"
    bad.write_text('{"tick": 0}\n')
    done = plot_telemetry(str(bad), "--out", str(tmp_path / "run.html"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"{PREFIX}{bad}:1: a record without a numeric 't_s'"), done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_missing_and_null_fields_are_tolerated(tmp_path: Path, ticks: bytes) -> None:
    # As a calibration drive's records: a `command` more, fields absent or null, unknown ones.
    real = [json.loads(line) for line in ticks.splitlines()]
    edited = []
    for i, record in enumerate(real):
        record["command"] = (
            [0.1 * (i % 5), -0.1 * (i % 5)] if i % 2 else {"left": 0.5, "right": 0.25}
        )
        record["calibration_step"] = {"phase": "ramp", "i": i}  # unknown: ignored
        if i % 3 == 0:
            record["obs"] = record["q"] = record["action"] = None
        if i % 4 == 0:
            for key in ("late_us", "compute_us", "stopped", "overrun", "bumper", "supervisor"):
                record.pop(key, None)
        edited.append(record)
    path = tmp_path / "ticks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in edited))
    (run,) = read_runs([path], print)
    panels = {ax.get_title(loc="left"): ax for ax in build_figure(run).axes}
    assert list(panels) == [OBSERVATION_RANGES, ACTION, Q_VALUES, EVENTS, TIMING, COMMAND]
    left, right = panels[COMMAND].lines
    expected = [r["command"] for r in edited]
    expected = [[c["left"], c["right"]] if isinstance(c, dict) else c for c in expected]
    np.testing.assert_array_equal(np.array([left.get_ydata(), right.get_ydata()]).T, expected)
    obs = panels[OBSERVATION_RANGES].lines[1].get_ydata()
    assert np.isnan(obs[::3]).all() and not np.isnan(np.delete(obs, np.s_[::3])).any()
    late = panels[TIMING].lines[0].get_ydata()
    assert np.isnan(late[::4]).all()
    assert summarize(run).records == len(edited)


def test_a_run_of_one_record(tmp_path: Path, ticks: bytes) -> None:
    path = tmp_path / "ticks.jsonl"
    path.write_bytes(ticks.splitlines(keepends=True)[0])
    done = plot_telemetry(str(path), "--out", str(tmp_path / "run.html"))
    assert done.returncode == 0, done.stderr
    assert "run 1 of 1: ticks 0-0 (1 ticks, 1 records) over 0.00 s (n/a)" in done.stdout

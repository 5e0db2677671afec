"""``plot-telemetry`` on hostile or odd input: values that once hung the tool, ate memory or gave
a traceback give one error line (file, line, expected, found, fix) and exit 2; paths that cannot
be looked up, one file named two ways, a link to the live file, a byte-order mark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainer.telemetry.telemetry_runs import plot_telemetry
from trainer.cli.main import main
from trainer.telemetry.read import MAX_ACTION, read_runs, telemetry_files

pytestmark = pytest.mark.trainer
PREFIX = "python -m trainer plot-telemetry: error: "
FIX = "give the JSON Lines files a robot's [telemetry] path names"


def _records(ticks: int, start: int = 0, **extra: object) -> str:
    return "".join(
        json.dumps({"t_s": 0.05 * t, "tick": t, "action": t % 3, **extra}) + "\n"
        for t in range(start, start + ticks)
    )


def _error(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> str:
    """The one error line of a bad input (exit 2, no report written)."""
    code = main(["plot-telemetry", *args, "--out", str(tmp_path / "out" / "run.png")])
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.startswith(PREFIX) and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()
    return err[len(PREFIX) :]


HOSTILE = {
    "action far too large": ('{"t_s":0,"tick":0,"action":3000000}', "action 3000000 is not"),
    "action 1e300": ('{"t_s":0,"tick":0,"action":1e300}', "action 1e+300 is not"),
    "action Infinity": ('{"t_s":0,"tick":0,"action":Infinity}', "action inf is not"),
    "action negative": ('{"t_s":0,"tick":0,"action":-1}', "action -1 is not"),
    "t_s NaN": ('{"t_s":NaN,"tick":0}', "t_s nan is not a robot's; expected a finite"),
    "t_s Infinity": ('{"t_s":Infinity,"tick":0}', "t_s inf is not a robot's; expected a finite"),
    "t_s 400 digits": ('{"t_s":' + "9" * 400 + ',"tick":0}', "t_s 999"),
    "tick 4000 digits": ('{"t_s":0,"tick":' + "9" * 4000 + "}", "(4000 characters) is not"),
    "tick 5000 digits": ('{"t_s":0,"tick":' + "9" * 5000 + "}", "not JSON Lines (Exceeds"),
    "tick negative": ('{"t_s":0,"tick":-5}', "tick -5 is not a robot's"),
    "nested 200,000 deep": ("[" * 200_000, "not JSON Lines (nested too deep)"),
}


@pytest.mark.parametrize("line, found", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_value_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, line: str, found: str
) -> None:
    path = tmp_path / "ticks.jsonl"
    path.write_text(_records(3) + line + "\n")
    message = _error(capsys, tmp_path, str(path))
    assert message.startswith(f"{path}:4: "), message
    assert found in message and "expected" in message and FIX in message
    assert len(message) < 400  # a 5,000-digit number is not echoed whole


def test_the_largest_action_index_is_plotted(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    path.write_text(
        _records(3) + _records(1, start=3).replace('"action": 0', f'"action": {MAX_ACTION}')
    )
    done = plot_telemetry(str(path), "--out", str(tmp_path / "run.png"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_absurd_numbers_elsewhere_are_gaps_without_warnings(tmp_path: Path) -> None:
    huge = "9" * 400
    path = tmp_path / "ticks.jsonl"
    path.write_text(
        _records(3, late_us=float("inf"), compute_us=-1e300)
        + _records(1, start=3, obs=[1.0, float("nan"), 2.0]).replace("[1.0", f"[{huge}")
    )
    done = plot_telemetry(str(path), "--out", str(tmp_path / "run.html"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no numpy RuntimeWarning, no traceback
    assert "lateness µs p50 n/a; compute µs p50 n/a" in done.stdout


def test_a_name_that_cannot_be_looked_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    long = tmp_path / ("a" * 300 + ".jsonl")
    message = _error(capsys, tmp_path, str(long))
    assert message.startswith(f"{long}: cannot be looked up (File name too long); expected")
    done = plot_telemetry(str(long), "--out", str(tmp_path / "run.png"))
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_a_directory_is_not_a_telemetry_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "telemetry").mkdir()
    message = _error(capsys, tmp_path, str(tmp_path / "telemetry"))
    assert message.startswith(f"{tmp_path / 'telemetry'}: not a regular file (found a directory)")
    assert message.endswith(f"(e.g. {tmp_path / 'telemetry' / 'ticks.jsonl'})\n")


def test_one_file_named_two_ways_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "t1").mkdir()
    live = tmp_path / "t1" / "ticks.jsonl"
    (tmp_path / "t1" / "ticks.jsonl.1").write_text(_records(5))
    live.write_text(_records(10, start=5))
    (tmp_path / "link").symlink_to(tmp_path / "t1")
    other = tmp_path / "t1" / ".." / "t1" / "ticks.jsonl"
    files = telemetry_files([live, other, tmp_path / "link" / "ticks.jsonl"])
    assert files == [live.with_name("ticks.jsonl.1"), live]
    runs = read_runs([live, other], lambda _: None)
    assert [[r.tick for r in run.records] for run in runs] == [list(range(15))]


def test_a_link_to_the_live_file_brings_its_rotated_files(tmp_path: Path) -> None:
    (tmp_path / "t1").mkdir()
    (tmp_path / "t1" / "ticks.jsonl.1").write_text(_records(4))
    (tmp_path / "t1" / "ticks.jsonl").write_text(_records(6, start=4))
    latest = tmp_path / "latest.jsonl"
    latest.symlink_to(tmp_path / "t1" / "ticks.jsonl")
    (run,) = read_runs([latest], lambda _: None)
    assert [r.tick for r in run.records] == list(range(10))


def test_a_byte_order_mark_is_not_a_torn_record(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _records(5).encode())
    notes: list[str] = []
    (run,) = read_runs([path], notes.append)
    assert notes == [] and len(run.records) == 5

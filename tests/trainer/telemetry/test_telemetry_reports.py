"""``plot-telemetry``'s reports: which runs (``--run``, ``--last``, the default cap), how many
were found, links between HTML pages, an ``--out`` that cannot be written, a ``--bundle`` that
does not fit the telemetry, and takeovers that follow one another at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainer.telemetry.telemetry_runs import FIXTURE_BUNDLE
from trainer.cli.main import main
from trainer.telemetry.read import read_runs
from trainer.telemetry.report import DEFAULT_LAST
from trainer.telemetry.summary import summarize

pytestmark = pytest.mark.trainer
PREFIX = "python -m trainer plot-telemetry: error: "


def _restarts(path: Path, runs: int, ticks: int = 3) -> Path:
    """A crash-looping robot's file: ``runs`` runs of ``ticks`` records each."""
    lines = [
        json.dumps({"t_s": 0.05 * t, "tick": t, "obs": [1.0, 0.5, 2.0, 0.1], "q": [0.0, 1.0]})
        for _ in range(runs)
        for t in range(ticks)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _plot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plot-telemetry", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_many_runs_report_the_last_ones_and_say_how_many(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ticks = _restarts(tmp_path / "ticks.jsonl", DEFAULT_LAST + 5)
    out = tmp_path / "out" / "run.png"
    code, stdout, err = _plot(capsys, str(ticks), "--out", str(out))
    assert code == 0, err
    total = DEFAULT_LAST + 5
    assert stdout.startswith(f"{total} runs found; reporting runs 6-{total}.\n")
    assert (
        err == f"note: {total} runs: reporting the last {DEFAULT_LAST}; --run N or --last N "
        "for others\n"
    )
    written = sorted(p.name for p in out.parent.iterdir())
    assert written == sorted(f"run-{n}.png" for n in range(6, total + 1))
    assert f"run {total} of {total}:" in stdout


def test_run_and_last_choose_the_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ticks = _restarts(tmp_path / "ticks.jsonl", 4)
    code, stdout, err = _plot(
        capsys, str(ticks), "--out", str(tmp_path / "a" / "run.png"), "--run", "2"
    )
    assert (code, err) == (0, "")
    assert stdout.startswith("4 runs found; reporting run 2.\n") and "run 2 of 4:" in stdout
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["run-2.png"]
    code, stdout, err = _plot(
        capsys, str(ticks), "--out", str(tmp_path / "b" / "r.html"), "--last", "2"
    )
    assert (code, err) == (0, "")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["r-3.html", "r-4.html"]
    page = (tmp_path / "b" / "r-3.html").read_text()
    assert "run 3 of 4" in page and '<a href="r-4.html">run 4: r-4.html</a>' in page
    code, stdout, err = _plot(capsys, str(ticks), "--out", str(tmp_path / "c.png"), "--run", "5")
    assert (code, stdout) == (2, "")
    assert (
        err == f"{PREFIX}--run 5: expected a run number in 1..4 (the telemetry has 4 runs); "
        "e.g. --run 4\n"
    )


def test_an_out_below_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ticks = _restarts(tmp_path / "ticks.jsonl", 1)
    (tmp_path / "report").write_text("a file")
    code, stdout, err = _plot(capsys, str(ticks), "--out", str(tmp_path / "report" / "x" / "r.png"))
    assert (code, stdout) == (2, "")
    assert err == (
        f"{PREFIX}--out {tmp_path / 'report' / 'x' / 'r.png'}: its parent {tmp_path / 'report'} "
        "is not a directory (found a file); expected a directory or a path that can be created; "
        "choose another --out\n"
    )


def test_an_out_that_cannot_be_written(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ticks = _restarts(tmp_path / "ticks.jsonl", 1)
    (tmp_path / "run.png").mkdir()  # a directory where the report should go
    code, _, err = _plot(capsys, str(ticks), "--out", str(tmp_path / "run.png"))
    assert code == 2
    assert err == (
        f"{PREFIX}--out {tmp_path / 'run.png'}: cannot write it (Is a directory); expected a "
        "writable path; choose another --out\n"
    )


def test_a_bundle_that_does_not_fit_is_a_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ticks = _restarts(tmp_path / "ticks.jsonl", 1)  # 4 channels, 2 Q-values
    args = (str(ticks), "--out", str(tmp_path / "run.png"), "--bundle", str(FIXTURE_BUNDLE))
    code, _, err = _plot(capsys, *args)
    assert code == 0
    assert err.startswith(f"note: --bundle {FIXTURE_BUNDLE}: names 3 observation channels and 5")
    assert "the telemetry has 4 and 2 (Q-values)" in err


def test_back_to_back_takeovers_are_counted_from_takeover_begins(tmp_path: Path) -> None:
    # contact, then at once another contact (takeover_begins, no tick between), then stuck.
    supervisor = [None, "contact", "contact", "contact", "contact", "stuck", "stuck", None]
    begins = [False, True, False, True, False, True, False, False]
    path = tmp_path / "ticks.jsonl"
    with path.open("w") as file:
        for tick, (reason, begin) in enumerate(zip(supervisor, begins, strict=True)):
            record = {"t_s": 0.05 * tick, "tick": tick, "supervisor": reason}
            if begin:
                record["takeover_begins"] = True
            file.write(json.dumps(record) + "\n")
    (run,) = read_runs([path], lambda _: None)
    assert summarize(run).takeovers == {"contact": (2, 4), "stuck": (1, 2)}

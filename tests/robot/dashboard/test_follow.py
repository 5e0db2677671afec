"""The follower on files the real ``TelemetryWriter`` writes: rotation, truncation, a restart,
a file that does not exist yet, a torn last line; and it never writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from robot.config import TelemetryConfig
from robot.control.telemetry import TelemetryWriter
from robot.dashboard.follow import TAIL_BYTES, TelemetryFollower


def record(tick: int) -> dict:
    """A tick record shaped as the loop writes it (~200 bytes)."""
    return {
        "t_s": tick * 0.05,
        "tick": tick,
        "obs": [1.5, 1.25, 0.75],
        "action": tick % 5,
        "q": [0.1, 0.2, 0.3, 0.4, 0.5],
        "compute_us": 300.0,
        "late_us": 12.5,
        "stopped": None,
        "overrun": False,
        "bumper": False,
    }


def writer(path: Path, *, max_bytes: int = 10_000, backups: int = 2) -> TelemetryWriter:
    """The loop's own writer, rotating at ``max_bytes``."""
    return TelemetryWriter(
        TelemetryConfig(enabled=True, path=path, max_bytes=max_bytes, backups=backups)
    )


def ticks(records: list[dict]) -> list[int]:
    return [r["tick"] for r in records]


def test_a_missing_file_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "telemetry" / "ticks.jsonl"
    follower = TelemetryFollower(path)
    assert follower.poll() == []
    assert not path.parent.exists(), "the follower created something"
    out = writer(path)
    for tick in range(3):
        out.write(record(tick))
    assert ticks(follower.poll()) == [0, 1, 2]
    out.write(record(3))
    assert ticks(follower.poll()) == [3]
    assert follower.poll() == []


@pytest.mark.parametrize("backups", [0, 2])
def test_every_record_is_read_across_rotations(tmp_path: Path, backups: int) -> None:
    path = tmp_path / "ticks.jsonl"
    out = writer(path, backups=backups)
    follower = TelemetryFollower(path)
    seen: list[int] = []
    for tick in range(400):  # ~80 KB: several rotations at 10 kB
        out.write(record(tick))
        if tick % 7 == 0:  # polls between writes, at odd moments
            seen += ticks(follower.poll())
    seen += ticks(follower.poll())
    assert seen == list(range(400))
    assert follower.opened >= 5  # one file per rotation
    if backups:
        assert (tmp_path / "ticks.jsonl.1").exists()


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    path.write_text("".join(json.dumps(record(t)) + "\n" for t in range(10)))
    follower = TelemetryFollower(path)
    assert ticks(follower.poll()) == list(range(10))
    with path.open("r+") as file:  # same inode, shorter: truncated in place
        file.truncate(0)
    path.write_text(json.dumps(record(0)) + "\n")
    assert ticks(follower.poll()) == [0]


def test_a_restarted_runtime_appends_from_tick_0(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    first = writer(path)
    for tick in range(5):
        first.write(record(tick))
    first.close()
    follower = TelemetryFollower(path)
    assert ticks(follower.poll()) == list(range(5))
    second = writer(path)  # the same file, appended to
    for tick in range(3):
        second.write(record(tick))
    assert ticks(follower.poll()) == [0, 1, 2]


def test_a_torn_last_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    line = json.dumps(record(7)) + "\n"
    with path.open("w") as file:
        file.write(json.dumps(record(6)) + "\n" + line[:40])
    follower = TelemetryFollower(path)
    assert ticks(follower.poll()) == [6]
    with path.open("a") as file:
        file.write(line[40:])
    assert ticks(follower.poll()) == [7]


def test_a_line_torn_by_a_crash_is_skipped(tmp_path: Path) -> None:
    # A crash left half a line; the restarted runtime appended after it.
    path = tmp_path / "ticks.jsonl"
    path.write_text(json.dumps(record(1))[:30] + json.dumps(record(0)) + "\n" + "[1, 2]\n")
    follower = TelemetryFollower(path)
    assert follower.poll() == []
    assert follower.bad_lines == 2
    with path.open("a") as file:
        file.write(json.dumps(record(1)) + "\n")
    assert ticks(follower.poll()) == [1]


def test_a_long_file_is_followed_from_near_its_end(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    path.write_text("".join(json.dumps(record(t)) + "\n" for t in range(2000)))
    assert path.stat().st_size > 4 * TAIL_BYTES
    seen = ticks(TelemetryFollower(path).poll())
    assert seen[-1] == 1999 and seen == list(range(seen[0], 2000))  # whole lines, in order
    assert 0 < len(seen) < 2000


def test_a_fifo_is_not_followed_and_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    os.mkfifo(path)  # nobody writes to it: a blocking open would hang the follower for ever
    follower = TelemetryFollower(path)
    assert follower.poll() == [] and follower.not_a_file
    path.unlink()
    path.write_text(json.dumps(record(0)) + "\n")
    assert ticks(follower.poll()) == [0] and not follower.not_a_file


def test_the_follower_only_reads(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    path.write_text(json.dumps(record(0)) + "\n")
    path.chmod(0o444)
    tmp_path.chmod(0o555)  # nothing may be created beside it either
    try:
        before = (os.stat(path).st_mtime_ns, sorted(os.listdir(tmp_path)))
        follower = TelemetryFollower(path)
        assert ticks(follower.poll()) == [0]
        follower.close()
        follower.close()
        assert (os.stat(path).st_mtime_ns, sorted(os.listdir(tmp_path))) == before
    finally:
        tmp_path.chmod(0o755)

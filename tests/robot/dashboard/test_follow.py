"""The follower on files the real ``TelemetryWriter`` writes: rotation, truncation, a restart,
a file that does not exist yet, a torn last line; and it never writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from robot.config import TelemetryConfig
from robot.control.telemetry import TelemetryWriter
from robot.dashboard.follow import MAX_LINE_BYTES, TAIL_BYTES, TelemetryFollower
from robot.dashboard.state import DashboardState, Layout


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
    # Without relying on permissions (root bypasses them): the file it holds is open for
    # reading only, and nothing in the directory changed, not even the file's inode metadata.
    path = tmp_path / "ticks.jsonl"
    path.write_text(json.dumps(record(0)) + "\n")
    before = (os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns, sorted(os.listdir(tmp_path)))
    follower = TelemetryFollower(path)
    assert ticks(follower.poll()) == [0]
    assert follower._file is not None
    flags = Path(f"/proc/self/fdinfo/{follower._file.fileno()}").read_text()
    octal = int(
        next(line for line in flags.splitlines() if line.startswith("flags:")).split()[1], 8
    )
    assert octal & os.O_ACCMODE == os.O_RDONLY
    follower.close()
    follower.close()
    after = (os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns, sorted(os.listdir(tmp_path)))
    assert after == before


def test_a_deeply_nested_line_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    nested = "[" * 5000 + "]" * 5000 + "\n"  # RecursionError in the json module
    path.write_text(nested + json.dumps(record(0)) + "\n")
    follower = TelemetryFollower(path)
    assert ticks(follower.poll()) == [0] and follower.bad_lines == 1
    with path.open("a") as file:  # while following: the rest of that read is kept
        file.write(nested + json.dumps(record(1)) + "\n" + json.dumps(record(2)) + "\n")
    assert ticks(follower.poll()) == [1, 2] and follower.bad_lines == 2


def test_a_long_line_is_skipped_whole_or_half_written(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    long = json.dumps({**record(0), "q": [0.5] * (MAX_LINE_BYTES // 4)})
    assert len(long) > MAX_LINE_BYTES
    path.write_text("")  # followed from its start (a first look skips all but the last 64 KiB)
    follower = TelemetryFollower(path)
    assert follower.poll() == []
    with path.open("a") as file:
        file.write(long + "\n" + json.dumps(record(1)) + "\n")
    assert ticks(follower.poll()) == [1] and follower.bad_lines == 1
    with path.open("a") as file:  # half of one, then its end with a record after it
        file.write(long[: MAX_LINE_BYTES + 10])
    assert follower.poll() == [] and follower.bad_lines == 2
    with path.open("a") as file:
        file.write(long[MAX_LINE_BYTES + 10 :] + "\n" + json.dumps(record(2)) + "\n")
    assert ticks(follower.poll()) == [2] and follower.bad_lines == 2  # counted once


def test_rotating_faster_than_the_polls_is_counted_as_missed(tmp_path: Path) -> None:
    # Several rotations between two polls with one backup: the middle files are gone.
    path = tmp_path / "ticks.jsonl"
    out = writer(path, max_bytes=10_000, backups=1)
    follower = TelemetryFollower(path)
    state = DashboardState(Layout(every_n_ticks=1))
    for tick in range(3000):
        out.write(record(tick))
        if tick % 600 == 0:  # ~120 kB apart: a dozen rotations
            state.add(follower.poll(), 0.0)
    state.add(follower.poll(), 0.0)
    view = state.view(0.0)
    assert view["tick"] == 2999 and view["missed"] > 0
    assert view["records"] + view["missed"] == 3000

"""Telemetry files rotate by size and sample by config; statistics stay bounded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot.config import TelemetryConfig
from robot.control.telemetry import RunStats, SampleRing, TelemetryWriter, format_summary


def test_lines_are_json_and_sampled(tmp_path: Path) -> None:
    writer = TelemetryWriter(
        TelemetryConfig(enabled=True, path=tmp_path / "a" / "t.jsonl", every_n_ticks=3)
    )
    for tick in range(10):
        if writer.wants(tick):
            writer.write({"tick": tick, "q": [0.5, -1.0]})
    writer.close()
    writer.close()
    records = [json.loads(line) for line in (tmp_path / "a" / "t.jsonl").read_text().splitlines()]
    assert [r["tick"] for r in records] == [0, 3, 6, 9]


def test_rotation_keeps_the_configured_backups(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TelemetryWriter(TelemetryConfig(enabled=True, path=path, max_bytes=10_000, backups=2))
    record = {"tick": 0, "pad": "x" * 80}  # ~100 bytes a line
    for tick in range(400):
        record["tick"] = tick
        writer.write(record)
    writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t.jsonl", "t.jsonl.1", "t.jsonl.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 10_000
    newest = [json.loads(line)["tick"] for line in path.read_text().splitlines()]
    older = [json.loads(line)["tick"] for line in (tmp_path / "t.jsonl.1").read_text().splitlines()]
    assert newest[-1] == 399 and older[-1] + 1 == newest[0]


def test_rotation_without_backups_truncates(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TelemetryWriter(TelemetryConfig(enabled=True, path=path, max_bytes=10_000, backups=0))
    for tick in range(300):
        writer.write({"tick": tick, "pad": "y" * 80})
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]
    assert path.stat().st_size <= 10_000


def test_sample_ring_keeps_the_last_samples_only() -> None:
    ring = SampleRing(capacity=100)
    assert ring.percentiles(50) != ring.percentiles(50)  # NaN while empty
    for value in range(1000):
        ring.add(float(value))
    assert len(ring) == 100
    assert ring.percentiles(0, 100) == [900.0, 999.0]


def test_sample_ring_needs_room_for_a_sample() -> None:
    with pytest.raises(ValueError, match="expected capacity >= 1, found 0"):
        SampleRing(capacity=0)
    ring = SampleRing(capacity=1)
    ring.add(2.5)
    ring.add(np.float64(4.0))  # what perf_counter differences and numpy give alike
    assert len(ring) == 1 and ring.percentiles(50) == [4.0]


def test_summary_names_stops_and_their_reasons() -> None:
    stats = RunStats(ticks=100, decisions=90, started_s=10.0, ended_s=12.0, exit_reason="SIGTERM")
    stats.count_stop("stale", True)
    stats.count_stop("stale", False)
    stats.count_stop("exception", True)
    stats.decision_s.add(5e-6)
    summary = stats.summary()
    assert summary["rate_hz"] == 50.0
    assert summary["stops"] == {
        "stale": {"events": 1, "ticks": 2},
        "exception": {"events": 1, "ticks": 1},
    }
    assert summary["decision_us"]["p50"] == 5.0
    text = format_summary(summary)
    assert "stale ×1 (2 ticks)" in text and "exit: SIGTERM" in text

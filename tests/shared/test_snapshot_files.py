"""Learner snapshots as files: read within a limit, and arrays no larger than their bytes.

A snapshot's checksum proves it is what was written, not that what was written is sane: a
payload whose ``.npy`` member claims 3.6 TiB with a good checksum must be skipped like a torn
file, not allocated. Real files: sparse ones over the limit, payloads built by hand.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from shared.discretize import Discretizer
from shared.errors import SnapshotError
from shared.qtable import SNAPSHOT_LIMITS, QTable, load_latest, load_snapshot, save_snapshot
from tests.shared.test_bundle_files import npy_claiming


@pytest.fixture
def qtable() -> QTable:
    grid = Discretizer.uniform(np.zeros(2), np.ones(2), 4)
    return QTable.zeros(grid, 3, {"updates": 7})


def _snapshot(path: Path, members: dict[str, bytes]) -> Path:
    """A snapshot file around a hand-built payload, with a correct header and checksum."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    path.write_bytes(b"SIM2PI-QTABLE 1 %d %s\n%s" % (len(payload), digest, payload))
    return path


def test_a_member_claiming_3_6_tib_is_skipped_not_allocated(tmp_path: Path, qtable: QTable) -> None:
    good = save_snapshot(tmp_path, qtable)
    members = {
        "values.npy": npy_claiming((10**11, 5), data=b"\0" * 64),
        "visits.npy": npy_claiming((1, 1), "<i8", b"\0" * 8),
        "discretizer.npy": npy_claiming((0,), "|u1"),
        "meta.npy": npy_claiming((0,), "|u1"),
    }
    bad = _snapshot(tmp_path / "qtable-00000002.snap", members)
    result = load_latest(tmp_path)
    assert result.path == good and result.qtable.meta == {"updates": 7}
    ((path, reason),) = result.skipped
    assert path == bad
    assert reason == (
        "payload member values.npy: header says shape (100000000000, 5) float64, more than its "
        "192 bytes"
    )
    with pytest.raises(SnapshotError, match=r"qtable-00000002\.snap: payload member values"):
        load_snapshot(bad)


def test_deeply_nested_meta_is_a_bad_payload(tmp_path: Path, qtable: QTable) -> None:
    path = save_snapshot(tmp_path, qtable)
    with np.load(io.BytesIO(path.read_bytes().split(b"\n", 1)[1])) as archive:
        arrays = {key: archive[key] for key in archive.files}
    deep = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, dtype=np.uint8)
    members = {}
    for key, value in {**arrays, "meta": deep}.items():
        out = io.BytesIO()
        np.save(out, value)
        members[f"{key}.npy"] = out.getvalue()
    _snapshot(path, members)
    with pytest.raises(SnapshotError, match="bad payload despite a good checksum"):
        load_snapshot(path)


def test_a_snapshot_over_the_limit_is_skipped_unread(tmp_path: Path, qtable: QTable) -> None:
    good = save_snapshot(tmp_path, qtable)
    huge = tmp_path / "qtable-00000002.snap"
    with huge.open("wb") as sparse:
        sparse.truncate(SNAPSHOT_LIMITS.max_bytes + 1)
    result = load_latest(tmp_path)
    assert result.path == good
    ((path, reason),) = result.skipped
    assert path == huge and "over the 129 MiB limit for a Q-table snapshot" in reason
    assert not reason.startswith(str(huge))  # load_latest names the file once itself
    with pytest.raises(SnapshotError, match=r"qtable-00000002\.snap: 129\.0 MiB .* move it aside"):
        load_snapshot(huge)

"""Q-tables: validation, crash-safe snapshots that fall back past torn files, bundle .npy files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from shared.discretize import Discretizer
from shared.errors import NoSnapshotError, QTableError, SnapshotError
from shared.qtable import (
    QTable,
    list_snapshots,
    load_latest,
    load_npy,
    load_snapshot,
    save_npy,
    save_snapshot,
)

N_ACTIONS = 3


@pytest.fixture
def grid() -> Discretizer:
    """Three range channels of 0.02-2 m in 4 bins each: 64 states."""
    return Discretizer.uniform([0.02] * 3, [2.0] * 3, 4, names=["left", "front", "right"])


@pytest.fixture
def qtable(grid: Discretizer) -> QTable:
    """A table with distinct values and visits, and some learner state."""
    rng = np.random.default_rng(0)
    return QTable(
        rng.normal(size=(grid.n_states, N_ACTIONS)),
        rng.integers(0, 100, size=(grid.n_states, N_ACTIONS)),
        grid,
        {"updates": 1234, "epsilon": 0.05, "history": [1, 2, 3]},
    )


def _stamped(qtable: QTable, stamp: int) -> QTable:
    """A copy of ``qtable`` whose update count tells the snapshots apart."""
    copy = qtable.copy()
    copy.meta["updates"] = stamp
    copy.values[0, 0] = float(stamp)
    return copy


def _assert_same(a: QTable, b: QTable) -> None:
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.visits, b.visits)
    assert a.values.dtype == np.float64 and a.visits.dtype == np.int64
    assert a.discretizer == b.discretizer
    assert a.meta == b.meta


# --- the table ------------------------------------------------------------------------------


def test_greedy_picks_the_best_action_and_the_first_on_a_tie(grid: Discretizer) -> None:
    table = QTable.zeros(grid, N_ACTIONS)
    table.values[5] = [0.0, 2.0, 1.0]
    table.values[6] = [1.0, 1.0, 1.0]
    assert table.greedy(5) == 1
    assert table.greedy(6) == 0
    assert isinstance(table.greedy(5), int)
    assert (table.n_states, table.n_actions) == (64, 3)


def test_greedy_refuses_an_index_outside_the_table(grid: Discretizer) -> None:
    with pytest.raises(QTableError, match=r"expected 0 <= index < 64, found 64"):
        QTable.zeros(grid, N_ACTIONS).greedy(64)
    with pytest.raises(QTableError, match=r"found -1"):
        QTable.zeros(grid, N_ACTIONS).greedy(-1)


def test_copy_shares_nothing_mutable(qtable: QTable) -> None:
    copy = qtable.copy()
    copy.values[0, 0] += 1.0
    copy.visits[0, 0] += 1
    copy.meta["history"].append(4)
    assert copy.values[0, 0] != qtable.values[0, 0]
    assert copy.visits[0, 0] != qtable.visits[0, 0]
    assert qtable.meta["history"] == [1, 2, 3]


def test_values_and_visits_are_stored_as_float64_and_int64(grid: Discretizer) -> None:
    shape = (grid.n_states, N_ACTIONS)
    table = QTable(np.ones(shape, np.float32), np.ones(shape, np.int32), grid)
    assert table.values.dtype == np.float64
    assert table.visits.dtype == np.int64
    assert table.meta == {}


SHAPE = (64, 3)


@pytest.mark.parametrize(
    ("values", "visits", "message"),
    [
        (np.zeros((10, 3)), np.zeros((10, 3), int), r"shape \(64, n_actions\).*found \(10, 3\)"),
        (np.zeros(64), np.zeros(64, int), r"expected shape \(64, n_actions\).*found \(64,\)"),
        (np.zeros((64, 0)), np.zeros((64, 0), int), r"found \(64, 0\)"),
        (np.zeros(SHAPE), np.zeros((64, 2), int), r"visits: .*shape \(64, 3\).*shape \(64, 2\)"),
        (np.zeros(SHAPE), np.zeros(SHAPE), r"visits: expected integers .*found float64"),
        (np.full(SHAPE, "a"), np.zeros(SHAPE, int), r"expected real numbers, found dtype <U1"),
    ],
)
def test_shape_and_type_mismatches_name_expected_and_found(
    grid: Discretizer, values: np.ndarray, visits: np.ndarray, message: str
) -> None:
    with pytest.raises(QTableError, match=message):
        QTable(values, visits, grid)


def test_non_finite_values_are_refused_with_their_position(grid: Discretizer) -> None:
    values = np.zeros((grid.n_states, N_ACTIONS))
    values[7, 2] = np.inf
    with pytest.raises(QTableError, match=r"found .*inf.* at \(state, action\) \(7, 2\)"):
        QTable(values, np.zeros(values.shape, np.int64), grid)


def test_meta_must_be_a_dict(grid: Discretizer) -> None:
    shape = (grid.n_states, N_ACTIONS)
    with pytest.raises(QTableError, match=r"meta: expected a dict, found \[1\]"):
        QTable(np.zeros(shape), np.zeros(shape, int), grid, [1])  # type: ignore[arg-type]


# --- snapshots ------------------------------------------------------------------------------


def test_snapshot_round_trip(tmp_path: Path, qtable: QTable) -> None:
    qtable.meta["epsilon"] = np.float32(0.25)  # numpy scalars from the learner are fine
    qtable.meta["updates"] = np.int64(7)
    path = save_snapshot(tmp_path, qtable)
    assert path == tmp_path / "qtable-00000001.snap"
    assert path.read_bytes().startswith(b"SIM2PI-QTABLE 1 ")
    back = load_snapshot(path)
    np.testing.assert_array_equal(back.values, qtable.values)
    np.testing.assert_array_equal(back.visits, qtable.visits)
    assert back.discretizer == qtable.discretizer
    assert back.meta == {"updates": 7, "epsilon": 0.25, "history": [1, 2, 3]}
    result = load_latest(tmp_path)
    assert result.path == path
    assert result.skipped == ()
    _assert_same(result.qtable, back)


def test_sequence_numbers_grow_and_only_the_newest_are_kept(tmp_path: Path, qtable: QTable) -> None:
    paths = [save_snapshot(tmp_path, _stamped(qtable, i), keep=3) for i in range(1, 8)]
    assert [p.name for p in paths] == [f"qtable-{i:08d}.snap" for i in range(1, 8)]
    assert list_snapshots(tmp_path) == paths[-3:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths[-3:]]
    assert load_latest(tmp_path).qtable.meta["updates"] == 7


def test_keep_one_leaves_only_the_new_snapshot(tmp_path: Path, qtable: QTable) -> None:
    save_snapshot(tmp_path, qtable, keep=1)
    newest = save_snapshot(tmp_path, qtable, keep=1)
    assert list_snapshots(tmp_path) == [newest]


@pytest.mark.parametrize("keep", [0, -1, 1.5, True, None])
def test_keep_must_be_a_positive_integer(tmp_path: Path, qtable: QTable, keep: object) -> None:
    with pytest.raises(QTableError, match=rf"keep: expected an integer >= 1 .*found {keep!r}"):
        save_snapshot(tmp_path, qtable, keep=keep)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


def test_numbers_sort_numerically_past_eight_digits(tmp_path: Path, qtable: QTable) -> None:
    save_snapshot(tmp_path, qtable)
    (tmp_path / "qtable-00000001.snap").rename(tmp_path / "qtable-99999999.snap")
    newest = save_snapshot(tmp_path, _stamped(qtable, 42))
    assert newest.name == "qtable-100000000.snap"
    assert list_snapshots(tmp_path)[-1] == newest
    assert load_latest(tmp_path).qtable.meta["updates"] == 42


def test_list_snapshots_ignores_other_files(tmp_path: Path, qtable: QTable) -> None:
    save_snapshot(tmp_path, qtable)
    for name in ("qtable-1.snap", "qtable-abcdefgh.snap", "notes.txt", ".qtable-x.tmp"):
        (tmp_path / name).write_text("not a snapshot")
    (tmp_path / "qtable-00000005.snap").mkdir()
    assert [p.name for p in list_snapshots(tmp_path)] == ["qtable-00000001.snap"]
    assert list_snapshots(tmp_path / "missing") == []


def test_truncated_newest_falls_back_to_the_previous_with_a_warning(
    tmp_path: Path, qtable: QTable, caplog: pytest.LogCaptureFixture
) -> None:
    save_snapshot(tmp_path, _stamped(qtable, 1))
    good = save_snapshot(tmp_path, _stamped(qtable, 2))
    torn = save_snapshot(tmp_path, _stamped(qtable, 3))
    data = torn.read_bytes()
    torn.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.INFO, logger="shared.qtable"):
        result = load_latest(tmp_path)
    assert result.path == good
    assert result.qtable.meta["updates"] == 2
    reason = f"truncated: expected {len(data)} bytes, found {len(data) // 2}"
    assert result.skipped == ((torn, reason),)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert torn.name in warnings[0].getMessage()
    assert reason in warnings[0].getMessage()
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(good.name in message for message in infos)
    with pytest.raises(SnapshotError, match=rf"{torn.name}: {reason}"):
        load_snapshot(torn)


MAGIC = r"bad magic: expected b'SIM2PI-QTABLE'"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"", r"empty file"),
        (lambda data: data[:9], r"truncated inside the header: only 9 bytes"),
        (lambda data: b"SIM2PI-QTABLE" + b" " * 300, r"malformed header: no line end"),
        (lambda data: data[: data.index(b"\n") + 21], r"truncated: expected \d+ bytes, found \d+"),
        (lambda data: data + b"\0", r"trailing data: expected \d+ bytes, found \d+"),
        (lambda data: b"PK\x03\x04" + data[4:], rf"{MAGIC}, found b'PK"),
        (lambda data: b"\x89HDF" * 100, rf"{MAGIC}, found b'\\x89HDF"),
        (
            lambda data: data.replace(b"QTABLE 1 ", b"QTABLE 2 ", 1),
            r"format version '2', expected 1",
        ),
        (lambda data: data.replace(b"QTABLE 1 ", b"QTABLE 1 x", 1), r"malformed header"),
        (
            lambda data: data[:-1] + bytes([data[-1] ^ 0x01]),
            r"checksum mismatch: header says sha256 [0-9a-f]{64}, payload has [0-9a-f]{64}",
        ),
    ],
)
def test_each_kind_of_damage_is_named(
    tmp_path: Path, qtable: QTable, damage: object, message: str
) -> None:
    path = save_snapshot(tmp_path, qtable)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(SnapshotError, match=rf"qtable-00000001\.snap: {message}.*move it aside"):
        load_snapshot(path)


def test_a_flipped_byte_anywhere_in_the_payload_fails_the_checksum(
    tmp_path: Path, qtable: QTable
) -> None:
    path = save_snapshot(tmp_path, qtable)
    data = bytearray(path.read_bytes())
    header_end = data.index(b"\n") + 1
    for offset in (header_end, (header_end + len(data)) // 2, len(data) - 1):
        flipped = bytearray(data)
        flipped[offset] ^= 0x40
        path.write_bytes(bytes(flipped))
        with pytest.raises(SnapshotError, match=r"checksum mismatch"):
            load_snapshot(path)


def test_a_good_checksum_over_a_bad_payload_is_still_refused(
    tmp_path: Path, qtable: QTable
) -> None:
    import hashlib

    payload = b"not an npz archive"
    digest = hashlib.sha256(payload).hexdigest().encode()
    path = tmp_path / "qtable-00000001.snap"
    path.write_bytes(b"SIM2PI-QTABLE 1 %d %s\n%s" % (len(payload), digest, payload))
    with pytest.raises(SnapshotError, match=r"bad payload despite a good checksum"):
        load_snapshot(path)


def test_leftover_temp_file_is_ignored_then_cleaned_up(tmp_path: Path, qtable: QTable) -> None:
    first = save_snapshot(tmp_path, _stamped(qtable, 1))
    leftover = tmp_path / ".qtable-k1ll3d.tmp"
    leftover.write_bytes(first.read_bytes()[:100])  # what a crash mid-write leaves
    result = load_latest(tmp_path)
    assert result.path == first
    assert result.skipped == ()
    second = save_snapshot(tmp_path, _stamped(qtable, 2))
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name]


def test_no_snapshot_directory_or_files(tmp_path: Path) -> None:
    with pytest.raises(NoSnapshotError, match=r"no Q-table snapshot \(qtable-\*\.snap\) found"):
        load_latest(tmp_path / "missing")
    with pytest.raises(NoSnapshotError, match=r"start from the bundle's qtable\.npy"):
        load_latest(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no such Q-table snapshot file"):
        load_snapshot(tmp_path / "qtable-00000001.snap")


def test_no_loadable_snapshot_lists_what_was_tried(tmp_path: Path, qtable: QTable) -> None:
    first = save_snapshot(tmp_path, qtable)
    second = save_snapshot(tmp_path, qtable)
    first.write_bytes(b"")
    second.write_bytes(b"garbage\n")
    with pytest.raises(NoSnapshotError) as info:
        load_latest(tmp_path)
    message = str(info.value)
    assert "no loadable Q-table snapshot, tried 2" in message
    assert f"{second.name}: bad magic" in message
    assert f"{first.name}: empty file" in message
    assert isinstance(info.value, QTableError)


def test_unserialisable_meta_is_refused_before_writing(tmp_path: Path, qtable: QTable) -> None:
    qtable.meta["clock"] = object()
    with pytest.raises(QTableError, match=r"meta: expected JSON-serialisable .*object"):
        save_snapshot(tmp_path / "state", qtable)
    assert not (tmp_path / "state").exists()


def test_a_failed_rename_leaves_the_previous_snapshot_intact(
    tmp_path: Path, qtable: QTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = save_snapshot(tmp_path, _stamped(qtable, 1))

    def power_cut(src: object, dst: object) -> None:
        raise OSError("simulated power cut during rename")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="simulated power cut"):
        save_snapshot(tmp_path, _stamped(qtable, 2))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [previous.name]
    result = load_latest(tmp_path)
    assert result.path == previous
    assert result.qtable.meta["updates"] == 1


def test_a_failed_fsync_leaves_no_partial_snapshot(
    tmp_path: Path, qtable: QTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = save_snapshot(tmp_path, _stamped(qtable, 1))

    def disk_error(fd: int) -> None:
        raise OSError("simulated I/O error")

    monkeypatch.setattr(os, "fsync", disk_error)
    with pytest.raises(OSError, match="simulated I/O error"):
        save_snapshot(tmp_path, _stamped(qtable, 2))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == [previous]
    assert load_latest(tmp_path).path == previous


# --- bundle .npy ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npy_round_trip_returns_float64(tmp_path: Path, dtype: type) -> None:
    values = np.arange(12, dtype=dtype).reshape(4, 3)
    path = tmp_path / "qtable.npy"
    save_npy(path, values)
    back = load_npy(path, 4, 3)
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, values)


def test_npy_shape_mismatch_names_file_expected_and_found(tmp_path: Path) -> None:
    path = tmp_path / "qtable.npy"
    save_npy(path, np.zeros((10, 3)))
    with pytest.raises(
        QTableError,
        match=r"qtable\.npy: expected shape \(64, 3\) .* found \(10, 3\); re-export the Q-table",
    ):
        load_npy(path, 64, 3)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.zeros((4, 3), np.int64), r"expected a float32 or float64 array, found int64"),
        (np.zeros(12), r"expected shape \(n_states, n_actions\) .*found \(12,\)"),
        (np.array([[0.0, np.nan]]), r"expected finite values, found .*nan.* at .* \(0, 1\)"),
        ([[0.0, 1.0]], r"expected a float32 or float64 array, found list"),
    ],
)
def test_save_npy_refuses_bad_tables(tmp_path: Path, values: object, message: str) -> None:
    with pytest.raises(QTableError, match=rf"qtable\.npy: {message}"):
        save_npy(tmp_path / "qtable.npy", values)  # type: ignore[arg-type]
    assert not (tmp_path / "qtable.npy").exists()


def test_load_npy_refuses_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "qtable.npy"
    np.save(path, np.full((2, 3), np.inf))
    with pytest.raises(QTableError, match=r"qtable\.npy: expected finite values"):
        load_npy(path, 2, 3)
    np.save(path, np.zeros((2, 3), np.int32))
    with pytest.raises(QTableError, match=r"found int32"):
        load_npy(path, 2, 3)
    path.write_bytes(b"not numpy")
    with pytest.raises(QTableError, match=r"qtable\.npy: not a readable \.npy array"):
        load_npy(path, 2, 3)
    np.save(path, np.array([{"pickled": True}], dtype=object), allow_pickle=True)
    with pytest.raises(QTableError, match=r"qtable\.npy: not a readable \.npy array"):
        load_npy(path, 1, 1)
    np.savez(tmp_path / "qtable.npz", values=np.zeros((2, 3)))
    with pytest.raises(QTableError, match=r"qtable\.npz: expected one \.npy array, found an \.npz"):
        load_npy(tmp_path / "qtable.npz", 2, 3)
    with pytest.raises(FileNotFoundError):
        load_npy(tmp_path / "missing.npy", 2, 3)

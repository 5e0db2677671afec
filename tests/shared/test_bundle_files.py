"""A bundle's files as files: each is a regular file within its limit, or one BundleError.

A copy of the fixture bundle in ``tmp_path``, with one file replaced by a FIFO, a symlink to
``/dev/zero``, a sparse file over the limit, a deeply nested manifest or a ``qtable.npy`` whose
header claims 3.6 TiB; the manifest's checksums are brought up to date where the point is that
the file itself is wrong (as a hostile or buggy exporter would leave it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shared.bundle import FILE_LIMITS, MANIFEST, MANIFEST_LIMITS, read_bundle
from shared.errors import BundleError, ManifestError, QTableError, Sim2PiError
from shared.npy import MAX_HEADER_BYTES

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "obstacle_bundle"
needs_posix = pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/zero are POSIX")


def copy_bundle(tmp_path: Path) -> Path:
    """A private copy of the fixture bundle."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "bundle"))


def rehash(bundle: Path) -> None:
    """Bring the manifest's sha256 and size of every regular file up to date."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    for name, entry in manifest["files"].items():
        data = (bundle / name).read_bytes()
        entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2))


def refused(read: Callable[[], object], error: type[Sim2PiError] = BundleError) -> str:
    """The one-line message ``read()`` fails with, within 20 s (a FIFO must not block it)."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            read()
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(20)
    assert outcome, "still reading after 20 s"
    assert isinstance(outcome[0], error), repr(outcome[0])
    message = str(outcome[0])
    assert "\n" not in message, message
    return message


# --- manifest.json ----------------------------------------------------------------------------


def test_manifest_binary(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    (bundle / MANIFEST).write_bytes(b"\xff\xfe{\x00}")
    message = refused(lambda: read_bundle(bundle), ManifestError)
    assert message == (
        f"{bundle / MANIFEST}: expected UTF-8 text, found binary data (byte 0xff at offset 0 "
        "is not UTF-8); re-export the bundle (`python -m trainer export`) and copy the whole "
        "directory again"
    )


def test_manifest_directory(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    (bundle / MANIFEST).unlink()
    (bundle / MANIFEST).mkdir()
    message = refused(lambda: read_bundle(bundle), ManifestError)
    assert "expected a bundle manifest (a regular file), found a directory" in message


@needs_posix
def test_manifest_fifo(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    (bundle / MANIFEST).unlink()
    os.mkfifo(bundle / MANIFEST)
    assert "found a FIFO (named pipe)" in refused(lambda: read_bundle(bundle), ManifestError)


@needs_posix
def test_manifest_symlink_to_dev_zero(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    (bundle / MANIFEST).unlink()
    (bundle / MANIFEST).symlink_to("/dev/zero")
    message = refused(lambda: read_bundle(bundle), ManifestError)
    assert "found a character device (/dev/zero, through a symlink)" in message


def test_manifest_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    with (bundle / MANIFEST).open("r+b") as sparse:
        sparse.truncate(200 * 1024 * 1024)
    message = refused(lambda: read_bundle(bundle), ManifestError)
    assert "200.0 MiB (209,715,200 bytes), over the 4 MiB limit for a bundle manifest" in message


def test_manifest_at_the_limit_is_read(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    text = (bundle / MANIFEST).read_text().rstrip()
    (bundle / MANIFEST).write_text(text + " " * (MANIFEST_LIMITS.max_bytes - len(text)))
    assert read_bundle(bundle).spec.env_id == "sim2pi/ObstacleAvoid-v0"
    with (bundle / MANIFEST).open("a") as grow:
        grow.write(" ")
    assert "over the 4 MiB limit" in refused(lambda: read_bundle(bundle), ManifestError)


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_manifest_nested_200000_deep(tmp_path: Path, opening: str) -> None:
    bundle = copy_bundle(tmp_path)
    closing = "]" if opening == "[" else "}"
    (bundle / MANIFEST).write_text(opening * 200_000 + "1" + closing * 200_000)
    message = refused(lambda: read_bundle(bundle), ManifestError)
    assert "arrays or tables nested 200000 deep, over the limit of 64 for a bundle" in message


# --- the files it lists -----------------------------------------------------------------------


@needs_posix
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_a_listed_file_that_is_not_regular_is_named(tmp_path: Path, kind: str) -> None:
    bundle = copy_bundle(tmp_path)
    model = bundle / "policy.tflite"
    model.unlink()
    if kind == "fifo":
        os.mkfifo(model)
    elif kind == "dev-zero":
        model.symlink_to("/dev/zero")
    else:
        model.mkdir()
    message = refused(lambda: read_bundle(bundle))
    assert message.startswith(f"{model}: expected a bundle file (a regular file), found ")
    assert {"fifo": "a FIFO", "dev-zero": "(/dev/zero, through", "directory": "a directory"}[
        kind
    ] in message
    assert "missing" not in message


def test_a_listed_file_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    with (bundle / "policy.tflite").open("r+b") as sparse:
        sparse.truncate(FILE_LIMITS.max_bytes + 1)
    message = refused(lambda: read_bundle(bundle))
    assert "64.0 MiB (67,108,865 bytes), over the 64 MiB limit for a bundle file" in message


def test_a_listed_name_with_a_nul_is_missing(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["a\0b"] = {"sha256": "0" * 64}
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    assert "listed in manifest.json but missing" in refused(lambda: read_bundle(bundle))


# --- qtable.npy: the header is judged before the data is allocated ------------------------------


def npy_claiming(shape: tuple[int, ...], dtype: str = "<f8", data: bytes = b"") -> bytes:
    """An .npy file whose header says ``shape`` and ``dtype``, followed by ``data``."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def test_a_header_claiming_3_6_tib_is_refused_before_allocating(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    (bundle / "qtable.npy").write_bytes(npy_claiming((10**11, 5), data=b"\0" * 64))
    rehash(bundle)
    message = refused(read_bundle(bundle).load_qtable, QTableError)
    assert message == (
        f"{bundle / 'qtable.npy'}: expected shape (125, 5) (states of the discretizer × actions "
        "of the action table), found (100000000000, 5); re-export the Q-table for this spec "
        "(`python -m trainer export RUN --qtable`) and copy the bundle again"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (npy_claiming((125, 5), data=b"\0" * 100), "truncated: its header says shape (125, 5)"),
        (npy_claiming((125, 5), data=b"\0" * 5001), "trailing data: its header says"),
        (npy_claiming((125, 5), "|O"), "holds Python objects: never unpickled"),
        (npy_claiming((125, 5), "<i8"), "expected a float32 or float64 array, found int64"),
        (b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 70_000, "not a readable .npy array"),
        (b"\x93NUMPY\x03\x00", "format version (3, 0)"),
        (b"", "not a readable .npy array"),
    ],
    ids=["truncated", "trailing", "objects", "int64", "huge-header", "version-3", "empty"],
)
def test_a_bad_npy_is_one_qtable_error(tmp_path: Path, content: bytes, expected: str) -> None:
    bundle = copy_bundle(tmp_path)
    (bundle / "qtable.npy").write_bytes(content)
    rehash(bundle)
    assert expected in refused(read_bundle(bundle).load_qtable, QTableError)


def test_the_header_limit_is_numpys() -> None:
    assert MAX_HEADER_BYTES == 10_000


def test_a_fortran_ordered_float32_table_loads(tmp_path: Path) -> None:
    bundle = copy_bundle(tmp_path)
    values = np.asfortranarray(np.arange(625, dtype=np.float32).reshape(125, 5))
    np.save(bundle / "qtable.npy", values)
    rehash(bundle)
    loaded = read_bundle(bundle).load_qtable()
    assert loaded.dtype == np.float64 and loaded.flags.writeable
    np.testing.assert_array_equal(loaded, values)

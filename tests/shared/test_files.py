"""shared.files: bounded reading of regular files, and the nesting scan, on real files."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ManifestError
from shared.files import FileLimits, limit_text, nesting_depth, size_text

LIMITS = FileLimits("test file", max_bytes=100, fix="use a smaller one", error=ManifestError)
needs_posix = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and /dev are POSIX")


def test_sizes_and_limits_as_messages_show_them() -> None:
    assert size_text(512) == "512 bytes"
    assert size_text(3584) == "3.5 KiB"
    assert size_text(200 * 1024 * 1024) == "200.0 MiB"
    assert limit_text(1024 * 1024) == "1 MiB"
    assert limit_text(64 * 1024) == "64 KiB"
    assert limit_text(100) == "100 bytes"


def test_a_small_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b'{"a": [1, 2]}')
    assert LIMITS.load_json(path) == {"a": [1, 2]}
    path.write_bytes(b"x" * 100)
    assert LIMITS.read_bytes(path) == b"x" * 100


def test_a_missing_file_is_the_callers_to_word(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LIMITS.read_bytes(tmp_path / "absent")


def test_one_byte_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 101)
    with pytest.raises(ManifestError) as info:
        LIMITS.read_bytes(path)
    assert str(info.value) == (
        f"{path}: 101 bytes, over the 100 bytes limit for a test file; use a smaller one"
    )


@needs_posix
def test_a_socket_is_named(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(ManifestError, match=r"found a socket; use a smaller one$"):
            LIMITS.read_bytes(path)


@needs_posix
def test_a_symlink_loop_and_an_unreadable_file(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(ManifestError, match=r"loop: cannot be read \(Too many levels"):
        LIMITS.read_bytes(loop)
    if os.geteuid() == 0:
        return  # root reads anything
    locked = tmp_path / "locked"
    locked.write_bytes(b"{}")
    locked.chmod(0)
    with pytest.raises(ManifestError, match=r"cannot be read \(Permission denied\)"):
        LIMITS.read_bytes(locked)


def test_not_json_and_an_over_long_integer(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"{")
    with pytest.raises(ManifestError, match=r"f\.json: not valid JSON \(Expecting"):
        LIMITS.load_json(path)
    big = FileLimits("test file", 10_000, "fix", ManifestError)
    path.write_bytes(b"9" * 5000)  # int() refuses over 4300 digits with a ValueError
    with pytest.raises(ManifestError, match="not valid JSON"):
        big.load_json(path)


def test_nesting_is_counted_outside_strings_and_comments() -> None:
    assert nesting_depth(b'{"a": [1, "[[[[", {"b": "\\"[{"}]}', "json") == 3
    toml = b'a = [[1], "[[", \'[[\']  # [[[[\n[t]\nb = """[[\n"\\"""[["""\n[[x]]\nc = {d = [1]}\n'
    assert nesting_depth(toml, "toml") == 2
    assert nesting_depth(b"", "json") == 0
    assert nesting_depth(b"[" * 100_000, "json") == 100_000


json_values = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab\n'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("[]{}\"\\'"), inner),
    max_leaves=20,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=json_values)
def test_json_nesting_is_the_values_depth(value: object) -> None:
    assert nesting_depth(json.dumps(value).encode(), "json") == _depth(value)

"""Fuzzing the bundle reader: whatever a bundle holds, the answer is a bundle or a Sim2PiError.

In a copy of the fixture bundle: arbitrary bytes and arbitrary JSON values as ``manifest.json``;
the real manifest with fields dropped, replaced by any JSON value or added; arbitrary bytes as
``qtable.npy`` (checksum updated) and ``.npy`` headers that claim any dtype and shape. Each is
derandomised and takes a few seconds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.bundle import MANIFEST, read_bundle
from shared.errors import Sim2PiError
from shared.qtable import load_npy

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "obstacle_bundle"
FIXTURE_MANIFEST = json.loads((FIXTURE / MANIFEST).read_text())
FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from([0, -1, 1, 5, 125, 10**30, 1e308, "float32", "int8", "policy.tflite"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the fixture bundle per module; each example overwrites what it fuzzes."""
    return Path(shutil.copytree(FIXTURE, tmp_path_factory.mktemp("fuzz") / "bundle"))


def answer(bundle: Path) -> None:
    """Read the bundle and its Q-table; only a Sim2PiError (one line) may come out."""
    try:
        read_bundle(bundle).load_qtable()
    except Sim2PiError as exc:
        assert "\n" not in str(exc), str(exc)


def write_manifest(bundle: Path, manifest: Any) -> None:
    (bundle / MANIFEST).write_text(json.dumps(manifest, allow_nan=True))


def restore(bundle: Path) -> None:
    for name in FIXTURE_MANIFEST["files"]:
        shutil.copyfile(FIXTURE / name, bundle / name)
    shutil.copyfile(FIXTURE / MANIFEST, bundle / MANIFEST)


@FUZZ
@given(data=st.binary(max_size=300))
def test_manifest_as_arbitrary_bytes(bundle: Path, data: bytes) -> None:
    (bundle / MANIFEST).write_bytes(data)
    answer(bundle)


@FUZZ
@given(value=json_values)
def test_manifest_as_an_arbitrary_json_value(bundle: Path, value: Any) -> None:
    write_manifest(bundle, value)
    answer(bundle)


def _paths(tree: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _paths(value, (*path, index))


#: Every field of the real manifest, deepest first (Hypothesis favours the first ones).
PATHS = sorted(_paths(FIXTURE_MANIFEST), key=len, reverse=True)


@st.composite
def wrong_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """The fixture's manifest with one to three fields dropped, replaced or added."""
    manifest = copy.deepcopy(FIXTURE_MANIFEST)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = manifest
        try:
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed it
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
    return manifest


@FUZZ
@given(manifest=wrong_manifests())
def test_real_fields_with_wrong_values(bundle: Path, manifest: dict[str, Any]) -> None:
    restore(bundle)
    write_manifest(bundle, manifest)
    answer(bundle)


def _with_checksum(bundle: Path, name: str, data: bytes) -> None:
    """Put ``data`` in the bundle as ``name`` with the manifest's checksum updated."""
    restore(bundle)
    (bundle / name).write_bytes(data)
    manifest = copy.deepcopy(FIXTURE_MANIFEST)
    manifest["files"][name].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    write_manifest(bundle, manifest)


@FUZZ
@given(data=st.binary(max_size=600))
def test_qtable_as_arbitrary_bytes(bundle: Path, data: bytes) -> None:
    _with_checksum(bundle, "qtable.npy", data)
    answer(bundle)


DESCRS = ["<f8", "<f4", ">f8", "<i8", "|O", "|u1", "<c16", "V8", "<U3", "f8", "<f2", "bogus"]
headers = st.fixed_dictionaries(
    {
        "descr": st.sampled_from(DESCRS) | json_scalars,
        "fortran_order": st.booleans() | json_scalars,
        "shape": st.lists(
            st.sampled_from([0, 1, 5, 125, -1, 10**11, 2**63, 2**64]) | st.integers(), max_size=4
        ).map(tuple)
        | json_scalars,
    }
)


@FUZZ
@given(
    header=headers,
    version=st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x00\x07"]),
    data_bytes=st.sampled_from([0, 1, 5000, 5001, 2500]),
)
def test_npy_headers_claiming_anything(
    tmp_path_factory: pytest.TempPathFactory,
    header: dict[str, Any],
    version: bytes,
    data_bytes: int,
) -> None:
    text = repr(header).encode() + b"\n"
    size = len(text).to_bytes(2 if version == b"\x01\x00" else 4, "little")
    path = tmp_path_factory.getbasetemp() / "header.npy"
    path.write_bytes(b"\x93NUMPY" + version + size + text + b"\0" * data_bytes)
    try:
        values = load_npy(path, 125, 5)
    except Sim2PiError as exc:
        assert "\n" not in str(exc), str(exc)
    else:
        assert values.shape == (125, 5)

"""Fuzzing ``load_config``: whatever the file holds, the answer is a config or a ``Sim2PiError``.

Three generators, each a few seconds (derandomised, so CI runs the same examples every time):
arbitrary bytes; the example configs with bytes flipped, inserted and cut (so the TOML parser
gets past its first line); and the example configs' own key tree with keys dropped, values of
every TOML type put in their place and unknown keys added, written back out as TOML.
"""

from __future__ import annotations

import json
import math
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot.config import RobotConfig, load_config
from shared.errors import Sim2PiError
from tests.robot.conftest import EXAMPLES

FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.toml"))
EXAMPLE_BYTES = [path.read_bytes() for path in EXAMPLE_FILES]
EXAMPLE_TREES = [tomllib.loads(data.decode()) for data in EXAMPLE_BYTES]


def _leaves(tree: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) in a parsed TOML tree, tables and arrays included."""
    yield path, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _leaves(value, (*path, index))


#: Values the examples hold (pins, channel names, policies, backends …): the plausible ones.
SEEN = sorted(
    {json.dumps(v) for tree in EXAMPLE_TREES for _, v in _leaves(tree) if not isinstance(v, dict)}
)
KEYS = sorted(
    {p[-1] for tree in EXAMPLE_TREES for p, _ in _leaves(tree) if p and isinstance(p[-1], str)}
)
scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, -(2**63)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
    | st.sampled_from(SEEN).map(json.loads)
)
key_names = st.sampled_from(KEYS) | st.text("abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=12)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key_names, inner, max_size=4),
    max_leaves=12,
)


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (tables as inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_string(text: str) -> str:
    """A basic TOML string: JSON's escapes are TOML's, and DEL is escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_text(tree: dict[str, Any]) -> str:
    """A whole document: one ``key = inline value`` line per top-level key."""
    return "".join(f"{toml_string(key)} = {toml_value(value)}\n" for key, value in tree.items())


def _load(data: bytes) -> RobotConfig | None:
    """``load_config`` on ``data`` in a real file; a Sim2PiError is an answer, None then."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "robot.toml"
        path.write_bytes(data)
        try:
            return load_config(path)
        except Sim2PiError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: "), message
            assert "\n" not in message and len(message) < 2000, message
            return None


@FUZZ
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    _load(data)


@st.composite
def damaged_examples(draw: st.DrawFn) -> bytes:
    """An example config with a few bytes flipped, inserted or cut."""
    data = bytearray(draw(st.sampled_from(EXAMPLE_BYTES)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(
                st.binary(min_size=1, max_size=8)
                | st.sampled_from([b"[", b"{", b'"', b"\n[x]\n", b"=", b"#"])
            )
        else:
            del data[at : at + draw(st.integers(1, 200))]
    return bytes(data)


@FUZZ
@given(data=damaged_examples())
def test_damaged_examples(data: bytes) -> None:
    _load(data)


@st.composite
def wrong_trees(draw: st.DrawFn) -> dict[str, Any]:
    """An example's key tree with keys dropped, replaced by any value, or added."""
    tree = json.loads(json.dumps(draw(st.sampled_from(EXAMPLE_TREES))))  # a deep copy
    for _ in range(draw(st.integers(1, 3))):
        paths = sorted((p for p, _ in _leaves(tree) if p), key=len, reverse=True)
        path = draw(st.sampled_from(paths))
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(key_names)] = draw(values)
    return tree


@FUZZ
@given(tree=wrong_trees())
def test_real_keys_with_wrong_values(tree: dict[str, Any]) -> None:
    _load(toml_text(tree).encode())


def test_the_writer_round_trips_the_examples() -> None:
    """The generator's TOML is what it means: every example, written back, loads again."""
    for path, tree in zip(EXAMPLE_FILES, EXAMPLE_TREES, strict=True):
        assert tomllib.loads(toml_text(tree)) == tree, path

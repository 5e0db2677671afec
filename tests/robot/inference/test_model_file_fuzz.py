"""Fuzzing ``model_file.read_model``: any bytes give a model summary or a ModelDefectError.

The walk follows offsets read from the file itself, so a hostile file must not send it outside
the bytes (an IndexError, a struct.error), into a loop or through millions of elements. Arbitrary
bytes, and the fixture models with bytes flipped, inserted and cut (most flips land in weights
and leave a whole model); derandomised, a few seconds.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot.inference import model_file
from robot.inference.model_file import MAX_WALKED, ModelDefectError, read_model
from tests.robot.conftest import FIXTURE_BUNDLE

FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MODELS = [(FIXTURE_BUNDLE / n).read_bytes() for n in ("policy.tflite", "policy_int8.tflite")]


def summarise(data: bytes) -> None:
    try:
        summary = read_model(data)
    except ModelDefectError as exc:
        assert "\n" not in str(exc)
        return
    for tensor in (*summary.inputs, *summary.outputs):
        assert all(isinstance(d, int) for d in tensor.shape)


@FUZZ
@given(data=st.binary(max_size=200) | st.binary(max_size=64).map(lambda b: b[:4] + b"TFL3" + b))
def test_arbitrary_bytes(data: bytes) -> None:
    summarise(data)


@st.composite
def damaged_models(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(MODELS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "flip", "word", "insert", "cut"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "word":  # an offset or a length replaced by anything
            value = draw(
                st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1)
            )
            data[at : at + 4] = value.to_bytes(4, "little")
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@FUZZ
@given(data=damaged_models())
def test_damaged_fixture_models(data: bytes) -> None:
    summarise(data)


def _with_buffers(data: bytes, count: int) -> bytes:
    """``data`` with the model's buffer vector replaced by ``count`` empty buffer tables."""
    reader = model_file._Reader(data)
    model = reader.table(reader.scalar("<I", 0, "root"), "model")
    field = model.pos + model._offset(4)  # Model.buffers
    vector = len(data) + (-len(data) % 4)
    table = vector + 4 + 4 * count  # one table, every entry pointing at it
    out = bytearray(data) + bytes(table + 8 - len(data))
    struct.pack_into("<I", out, field, vector - field)
    struct.pack_into("<I", out, vector, count)
    entries = np.arange(count, dtype=np.int64) * 4 + vector + 4
    out[vector + 4 : table] = (table - entries).astype("<u4").tobytes()
    struct.pack_into("<iHH", out, table, -4, 4, 4)  # soffset to its vtable; an empty vtable
    return bytes(out)


def test_a_vector_of_millions_of_tables_is_walked_only_so_far(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert read_model(_with_buffers(MODELS[0], 64)).outputs == read_model(MODELS[0]).outputs
    # Counted, not timed: walking all 4 M entries takes ~10 s here (minutes on a Pi).
    walked = 0
    item = model_file._Table.item

    def counting(self: object, start: int, i: int, what: str) -> object:
        nonlocal walked
        walked += 1
        return item(self, start, i, what)  # type: ignore[arg-type]

    monkeypatch.setattr(model_file._Table, "item", counting)
    read_model(_with_buffers(MODELS[0], 4_000_000))  # whole: each entry an empty buffer table
    assert MAX_WALKED <= walked < MAX_WALKED + 10_000, walked

"""What a ``.tflite`` file holds, read without a TFLite runtime: is it whole, and what are its
input and output tensors.

A TFLite model is a FlatBuffer (TensorFlow Lite's ``schema.fbs``, file identifier ``TFL3``).
This walks the tables a runtime needs (operator codes, subgraphs with their tensors and
operators, buffers, metadata) and checks that every offset it follows stays inside the file,
so that a truncated or garbage file is named as such, and it reads the first subgraph's input
and output tensors. It never decides that a model is good, only a runtime that reproduces the
reference outputs does; it is asked why none did (``robot.inference.tflite_runtimes``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.bundle import FILE_LIMITS, TensorInfo

IDENTIFIER = b"TFL3"
#: The schema version every TFLite converter since 2018 writes.
SCHEMA_VERSION = 3
#: TensorType codes of ``schema.fbs`` → numpy's names.
TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    5: "string",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float64",
}
#: Elements of one vector walked at most: a model for a robot has hundreds of tensors, and a
#: hostile file must not keep the walk busy for minutes.
MAX_WALKED = 100_000


class ModelDefectError(ValueError):
    """Why the bytes are not a whole TFLite model (the caller adds the file name)."""


@dataclass(frozen=True)
class Tensor:
    """One tensor of the model: its shape and element type."""

    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class ModelSummary:
    """The first subgraph's input and output tensors, in order."""

    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]


class _Reader:
    """Bounds-checked reads of little-endian FlatBuffer values from the file's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def scalar(self, fmt: str, pos: int, what: str) -> Any:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise ModelDefectError(
                f"truncated or corrupt: {what} at byte {pos} is past the end of the file "
                f"({len(self.data)} bytes)"
            )
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int, what: str) -> _Table:
        return _Table(self, pos, what)

    def vector(self, pos: int, size: int, what: str) -> tuple[int, int]:
        """(first element's position, length) of the vector at ``pos``."""
        length = self.scalar("<I", pos, what)
        if length:
            self.scalar("B", pos + 4 + length * size - 1, f"the end of {what}")
        return pos + 4, length


class _Table:
    """One FlatBuffer table: its fields through its vtable."""

    def __init__(self, reader: _Reader, pos: int, what: str) -> None:
        self.reader, self.pos, self.what = reader, pos, what
        vtable = pos - reader.scalar("<i", pos, what)
        self.vtable_size = reader.scalar("<H", vtable, f"{what}'s vtable")
        self.table_size = reader.scalar("<H", vtable + 2, f"{what}'s vtable")
        if self.vtable_size < 4 or self.vtable_size % 2:
            raise ModelDefectError(f"corrupt: {what} has a vtable of {self.vtable_size} bytes")
        reader.scalar("B", vtable + self.vtable_size - 1, f"{what}'s vtable")
        reader.scalar("B", pos + max(self.table_size, 4) - 1, what)
        self.vtable = vtable

    def _offset(self, field: int) -> int:
        """The field's offset in the table (0: absent)."""
        at = 4 + 2 * field
        if at >= self.vtable_size:
            return 0
        offset = self.reader.scalar("<H", self.vtable + at, f"{self.what}'s vtable")
        if offset >= max(self.table_size, 4) and offset:
            raise ModelDefectError(f"corrupt: {self.what} field {field} lies outside the table")
        return offset

    def scalar(self, field: int, fmt: str, default: int = 0) -> int:
        offset = self._offset(field)
        return default if not offset else self.reader.scalar(fmt, self.pos + offset, self.what)

    def ref(self, field: int, what: str) -> int | None:
        """The position an offset field points at (a table, vector or string), or None."""
        offset = self._offset(field)
        if not offset:
            return None
        at = self.pos + offset
        return at + self.reader.scalar("<I", at, what)

    def vector(self, field: int, size: int, what: str) -> tuple[int, int]:
        at = self.ref(field, what)
        return (0, 0) if at is None else self.reader.vector(at, size, what)

    def ints(self, field: int, what: str) -> tuple[int, ...]:
        start, length = self.vector(field, 4, what)
        return struct.unpack_from(f"<{length}i", self.reader.data, start) if length else ()

    def count(self, field: int, what: str) -> int:
        """The length of a vector field (0 if absent)."""
        return self.vector(field, 4, what)[1]

    def tables(self, field: int, what: str) -> Iterator[_Table]:
        """The tables of a vector field, one at a time (at most ``MAX_WALKED``)."""
        start, length = self.vector(field, 4, what)
        for i in range(min(length, MAX_WALKED)):
            yield self.item(start, i, what)

    def item(self, start: int, i: int, what: str) -> _Table:
        at = start + 4 * i
        return self.reader.table(at + self.reader.scalar("<I", at, what), f"{what} {i}")

    def bytes_field(self, field: int, what: str) -> None:
        """Check that a string or byte vector field lies inside the file."""
        self.vector(field, 1, what)


def read_model(data: bytes) -> ModelSummary:
    """The first subgraph's inputs and outputs, or ModelDefectError saying what is wrong."""
    if len(data) < 8:
        raise ModelDefectError(f"truncated: {len(data)} bytes, not even a FlatBuffer header")
    if data[4:8] != IDENTIFIER:
        raise ModelDefectError(
            f"not a TFLite model: bytes 4-8 are {data[4:8]!r}, a TFLite model has {IDENTIFIER!r}"
        )
    reader = _Reader(data)
    model = reader.table(reader.scalar("<I", 0, "the root offset"), "the model")
    version = model.scalar(0, "<I")
    if version != SCHEMA_VERSION:
        raise ModelDefectError(f"schema version {version}, expected {SCHEMA_VERSION}")
    n_buffers = max(model.count(4, "buffer"), 1)  # buffer 0 is the empty one, by convention
    for i, buffer in enumerate(model.tables(4, "buffer")):
        buffer.bytes_field(0, f"buffer {i}'s data")
        offset, size = buffer.scalar(1, "<Q"), buffer.scalar(2, "<Q")
        if offset > 1 and offset + size > len(data):
            raise ModelDefectError(
                f"truncated: buffer {i} ends at byte {offset + size}, the file at {len(data)}"
            )
    n_codes = model.count(1, "operator code")
    for i, code in enumerate(model.tables(1, "operator code")):
        code.bytes_field(1, f"operator code {i}'s custom code")
    summaries = [
        _subgraph(subgraph, f"subgraph {i}", n_buffers, n_codes)
        for i, subgraph in enumerate(model.tables(2, "subgraph"))
    ]
    if not summaries:
        raise ModelDefectError("no subgraph: nothing to run")
    for i, entry in enumerate(model.tables(6, "metadata entry")):
        entry.bytes_field(0, f"metadata {i}'s name")
        if entry.scalar(1, "<I") >= n_buffers:
            raise ModelDefectError(f"corrupt: metadata {i} names a buffer the model does not have")
    model.bytes_field(3, "the description")
    model.vector(5, 4, "the metadata buffers")
    model.vector(7, 4, "the signatures")
    return summaries[0]


def _subgraph(subgraph: _Table, where: str, n_buffers: int, n_codes: int) -> ModelSummary:
    """Check one subgraph's tensors and operators; its input and output tensors."""
    what = f"{where} tensor"
    n_tensors = subgraph.count(0, what)
    for i, tensor in enumerate(subgraph.tables(0, what)):
        _tensor(tensor, f"{where} tensor {i}")
        if tensor.scalar(2, "<I") >= n_buffers:
            raise ModelDefectError(f"corrupt: {where} tensor {i} names a buffer the model lacks")
    for i, operator in enumerate(subgraph.tables(3, f"{where} operator")):
        if operator.scalar(0, "<I") >= n_codes:
            raise ModelDefectError(f"corrupt: {where} operator {i} has no operator code")
        for field in (1, 2):
            for index in operator.ints(field, f"{where} operator {i}'s tensors"):
                if not -1 <= index < n_tensors:
                    raise ModelDefectError(f"corrupt: {where} operator {i} uses tensor {index}")
        operator.bytes_field(5, f"{where} operator {i}'s custom options")
    start = subgraph.vector(0, 4, what)[0]
    ends = []
    for field, name in ((1, "inputs"), (2, "outputs")):
        indices = subgraph.ints(field, f"{where}'s {name}")
        if not all(0 <= index < n_tensors for index in indices):
            raise ModelDefectError(
                f"corrupt: {where}'s {name} {list(indices)} name missing tensors"
            )
        ends.append(
            tuple(_tensor(subgraph.item(start, i, what), f"{where} tensor {i}") for i in indices)
        )
    return ModelSummary(ends[0], ends[1])


def _tensor(tensor: _Table, where: str) -> Tensor:
    """One tensor's shape and type, its name and quantisation checked to lie in the file."""
    shape = tensor.ints(0, f"{where}'s shape")
    kind = tensor.scalar(1, "<b")
    tensor.bytes_field(3, f"{where}'s name")
    quantization = tensor.ref(4, f"{where}'s quantisation")
    if quantization is not None:
        params = tensor.reader.table(quantization, f"{where}'s quantisation")
        for field in range(4):  # min, max, scale (floats), zero_point (int64s)
            params.vector(field, 8 if field == 3 else 4, f"{where}'s quantisation")
    return Tensor(tuple(shape), TENSOR_TYPES.get(kind, f"type {kind}"))


def model_problem(
    path: Path, expected_input: TensorInfo | None, expected_output: TensorInfo | None
) -> str | None:
    """What is wrong with the model in ``path``, or None if it looks whole and as expected.

    Args:
        path: the ``.tflite`` file.
        expected_input: the manifest's input tensor (None: not compared).
        expected_output: the manifest's output tensor (None: not compared).
    """
    try:
        summary = read_model(FILE_LIMITS.read_bytes(path))
    except ModelDefectError as exc:
        return str(exc)
    for name, found, expected in (
        ("input", summary.inputs, expected_input),
        ("output", summary.outputs, expected_output),
    ):
        if expected is None:
            continue
        if len(found) != 1:
            return f"it has {len(found)} {name} tensors, the manifest describes one"
        if found[0].shape != expected.shape or found[0].dtype != expected.dtype:
            return (
                f"its {name} tensor is {list(found[0].shape)} {found[0].dtype}, the manifest "
                f"says {list(expected.shape)} {expected.dtype}"
            )
    return None

"""Reading a ``.npy`` array within limits: its header checked before any data is allocated.

``np.load`` allocates what a header claims, (10**11, 5) float64 is 3.6 TiB, before it finds that
the file is far too short. Here the header is parsed first (numpy's own parser, at most
``MAX_HEADER_BYTES`` of it), the caller judges its dtype and shape, and the data must be exactly
as long as they say; only then are the bytes read. Never a pickle, never an ``.npz``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from shared.files import FileLimits, size_text

#: numpy's own bound on a header; ours are ~128 bytes.
MAX_HEADER_BYTES = 10_000
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` header says about the data after it."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool

    @property
    def data_bytes(self) -> int:
        """How many bytes of data the header promises."""
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        """``shape (125, 5) float64``, as messages show it."""
        return f"shape {self.shape} {self.dtype}"


class NpyFormatError(ValueError):
    """The bytes are not an ``.npy`` header numpy can parse (the caller adds the file name)."""


def read_header(file: BinaryIO) -> NpyHeader:
    """The header at ``file``'s position, leaving it at the data; NpyFormatError if none."""
    start = file.read(len(_ZIP_MAGIC))
    if start == _ZIP_MAGIC:
        raise NpyFormatError("expected one .npy array, found an .npz archive")
    file.seek(-len(start), 1)
    fmt = np.lib.format
    try:
        version = fmt.read_magic(file)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(file, MAX_HEADER_BYTES)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(file, MAX_HEADER_BYTES)
        else:
            raise NpyFormatError(f"format version {version}, expected (1, 0) or (2, 0)")
    except (ValueError, TypeError, SyntaxError, RecursionError, OverflowError) as exc:
        if isinstance(exc, NpyFormatError):
            raise
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]  # numpy's go on with advice
        raise NpyFormatError(f"not a readable .npy array ({reason})") from None
    if dtype.hasobject:
        raise NpyFormatError(
            f"not a readable .npy array (dtype {dtype} holds Python objects: never unpickled)"
        )
    return NpyHeader(dtype, tuple(shape), bool(fortran_order))


def read_npy(
    path: str | Path, limits: FileLimits, judge: Callable[[NpyHeader], str | None]
) -> np.ndarray:
    """The array in ``path`` (writable), once ``judge(header)`` has found no problem in it.

    Args:
        path: the ``.npy`` file.
        limits: its size limit, and the error and fix of every refusal.
        judge: the problem with the header's dtype and shape (None: none), before any data
            is allocated.
    """
    path = Path(path)
    with limits.open(path) as file:
        try:
            header = read_header(file)
        except NpyFormatError as exc:
            raise limits.refuse(path, str(exc)) from None
        problem = judge(header)
        if problem is not None:
            raise limits.refuse(path, problem)
        offset = file.tell()
        file.seek(0, 2)
        found = file.tell() - offset
        if found != header.data_bytes:
            what = "truncated" if found < header.data_bytes else "trailing data"
            raise limits.refuse(
                path,
                f"{what}: its header says {header.describe()}, {size_text(header.data_bytes)} "
                f"of data, found {size_text(found)}",
            )
        file.seek(offset)
        data = bytearray(header.data_bytes)
        if file.readinto(data) != len(data):
            raise limits.refuse(path, "truncated while it was read")
    values = np.frombuffer(data, dtype=header.dtype)
    return values.reshape(header.shape, order="F" if header.fortran_order else "C")

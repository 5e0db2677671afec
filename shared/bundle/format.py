"""The bundle's format: its files, limits and the parsed manifest's types."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.discretize import Discretizer
from shared.errors import (
    BundleError,
    ManifestError,
)
from shared.files import MAX_DEPTH, MIB, FileLimits
from shared.spec import TaskSpec

FORMAT_VERSION = 1
MANIFEST = "manifest.json"

#: The model kinds a bundle may hold, and the file names the trainer gives them.
MODEL_FILES = {"float32": "policy.tflite", "int8": "policy_int8.tflite"}
QTABLE_FILE = "qtable.npy"
_TENSOR_DTYPES = ("float32", "int8", "uint8")
#: The fix for anything wrong with a bundle on the robot.
REEXPORT_FIX = (
    "re-export the bundle (`python -m trainer export`) and copy the whole directory again"
)
#: ``manifest.json``: ~15 KiB with the reference robot's spec, grid and reference data.
MANIFEST_LIMITS = FileLimits(
    "bundle manifest", max_bytes=4 * MIB, fix=REEXPORT_FIX, error=ManifestError, max_depth=MAX_DEPTH
)
#: Each file the manifest lists (the models, the Q-table): the reference robot's are < 8 KiB.
FILE_LIMITS = FileLimits("bundle file", max_bytes=64 * MIB, fix=REEXPORT_FIX, error=BundleError)


def sha256_file(path: Path, limits: FileLimits | None = None) -> str:
    """The hex sha256 of a file's bytes (with ``limits``: a regular file within them)."""
    digest = hashlib.sha256()
    with open(path, "rb") if limits is None else limits.open(path) as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: shape, dtype, and the int8 quantisation (real = scale*(q - zp))."""

    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"shape": list(self.shape), "dtype": self.dtype}
        if self.scale is not None:
            out["scale"] = self.scale
            out["zero_point"] = self.zero_point
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TensorInfo:
        """Parse and validate; errors name ``where``."""
        obj = json_object(data, where)
        shape = json_field(obj, "shape", list, where)
        if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ManifestError(f"{where}.shape: expected positive integers, found {shape!r}")
        dtype = json_field(obj, "dtype", str, where)
        if dtype not in _TENSOR_DTYPES:
            raise ManifestError(f"{where}.dtype: expected one of {_TENSOR_DTYPES}, found {dtype!r}")
        scale = obj.get("scale")
        zero_point = obj.get("zero_point")
        if dtype != "float32":
            if not isinstance(scale, int | float) or not scale > 0:
                raise ManifestError(f"{where}.scale: expected a positive number, found {scale!r}")
            if not isinstance(zero_point, int) or isinstance(zero_point, bool):
                raise ManifestError(
                    f"{where}.zero_point: expected an integer, found {zero_point!r}"
                )
        return cls(tuple(shape), dtype, None if scale is None else float(scale), zero_point)


@dataclass(frozen=True)
class ModelEntry:
    """One TFLite model in the bundle, with the tensor shapes the runtime must find in it."""

    kind: str
    file: str
    input: TensorInfo
    output: TensorInfo
    extra: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "file": self.file,
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            **dict(self.extra),
        }


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk: its parsed manifest, spec, discretiser and models."""

    path: Path
    manifest: Mapping[str, Any]
    spec: TaskSpec
    discretizer: Discretizer | None
    models: Mapping[str, ModelEntry]
    qtable_file: str | None

    def file(self, name: str) -> Path:
        """The path of one of the bundle's files."""
        return self.path / name

    def load_qtable(self) -> np.ndarray:
        """The bundle's Q-table, shape (n_states, n_actions), float64."""
        if self.qtable_file is None or self.discretizer is None:
            raise BundleError(
                f"{self.path / MANIFEST}: this bundle has no Q-table; "
                "export it with `python -m trainer export RUN --qtable`"
            )
        from shared.qtable import load_npy

        return load_npy(
            self.file(self.qtable_file), self.discretizer.n_states, len(self.spec.actions)
        )


def json_object(value: Any, where: str) -> dict[str, Any]:
    """``value`` if it is a JSON object; else ManifestError naming ``where``."""
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def json_field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    """``obj[key]``, present and of type ``kind``; else ManifestError naming ``where``."""
    if key not in obj:
        raise ManifestError(f"{where}: missing field {key!r}; re-export the bundle")
    value = obj[key]
    if not isinstance(value, kind):
        raise ManifestError(
            f"{where}: field {key!r}: expected {kind.__name__}, found {type(value).__name__}"
        )
    return value

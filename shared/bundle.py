"""The bundle: a directory the trainer writes and the robot loads (``manifest.json`` + files).

Writing is atomic (a temp directory renamed into place), so a failed export leaves nothing behind.
Reading checks the format version, every file's sha256 and the manifest's fields, and raises one
``BundleError`` subclass that names the file, the field, what was expected and what was found.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.discretize import Discretizer
from shared.errors import (
    BundleError,
    BundleFileMissingError,
    BundleVersionError,
    ChecksumError,
    ManifestError,
    SpecError,
)
from shared.files import MAX_DEPTH, MIB, FileLimits
from shared.spec import TaskSpec

FORMAT_VERSION = 1
MANIFEST = "manifest.json"

#: The model kinds a bundle may hold, and the file names the trainer gives them.
MODEL_FILES = {"float32": "policy.tflite", "int8": "policy_int8.tflite"}
QTABLE_FILE = "qtable.npy"
_TENSOR_DTYPES = ("float32", "int8", "uint8")
_REEXPORT = "re-export the bundle (`python -m trainer export`) and copy the whole directory again"
#: ``manifest.json``: ~15 KiB with the reference robot's spec, grid and reference data.
MANIFEST_LIMITS = FileLimits(
    "bundle manifest", max_bytes=4 * MIB, fix=_REEXPORT, error=ManifestError, max_depth=MAX_DEPTH
)
#: Each file the manifest lists (the models, the Q-table): the reference robot's are < 8 KiB.
FILE_LIMITS = FileLimits("bundle file", max_bytes=64 * MIB, fix=_REEXPORT, error=BundleError)


def sha256_file(path: Path, limits: FileLimits | None = None) -> str:
    """The hex sha256 of a file's bytes (with ``limits``: a regular file within them)."""
    digest = hashlib.sha256()
    with open(path, "rb") if limits is None else limits.open(path) as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the bundle directory ``path`` as a JSON object, read within limits.

    Not verified: ``read_bundle`` does that. ManifestError (one line) for what is not a
    regular, small, shallow JSON file; BundleFileMissingError when there is none.
    """
    manifest_path = Path(path) / MANIFEST
    try:
        manifest = MANIFEST_LIMITS.load_json(manifest_path)
    except FileNotFoundError:
        raise BundleFileMissingError(
            f"{manifest_path}: missing; this is not a sim2pi bundle"
        ) from None
    return _object(manifest, str(manifest_path))


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
        obj = _object(data, where)
        shape = _field(obj, "shape", list, where)
        if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ManifestError(f"{where}.shape: expected positive integers, found {shape!r}")
        dtype = _field(obj, "dtype", str, where)
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


def package_versions(*names: str) -> dict[str, str]:
    """Versions of Python, numpy and the named packages that are installed, for provenance."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("sim2pi", *names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_bundle(
    out_dir: str | Path,
    *,
    spec: TaskSpec,
    files: Mapping[str, bytes | Path],
    models: Mapping[str, ModelEntry] | None = None,
    discretizer: Discretizer | None = None,
    qtable_file: str | None = None,
    info: Mapping[str, Any] | None = None,
    versions: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Bundle:
    """Write a bundle atomically and return it as read back (so it is verified).

    Args:
        out_dir: the bundle directory to create.
        spec: the task spec the policies were trained on.
        files: file name → contents (bytes) or a path to copy.
        models: model kind ("float32", "int8") → entry; each entry's file must be in ``files``.
        discretizer: the Q-table's grid, required when ``qtable_file`` is given.
        qtable_file: name of the ``.npy`` Q-table in ``files``.
        info: free-form sections (training, evaluation, parity, ...), stored as they are.
        versions: package versions of the writer (default: ``package_versions()``).
        overwrite: replace an existing bundle directory (atomically) instead of refusing.
    """
    out_dir = Path(out_dir)
    models = dict(models or {})
    if out_dir.exists() and not overwrite:
        raise BundleError(f"{out_dir}: already exists; choose another --out or remove it first")
    _check_contents(files, models, discretizer, qtable_file, info)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        # mkdtemp makes the directory 0700; a bundle is read by the service's own user.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        checksums = {}
        for name, content in files.items():
            target = tmp / name
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                shutil.copyfile(content, target)
            checksums[name] = {"sha256": sha256_file(target), "bytes": target.stat().st_size}
        manifest = {
            "format_version": FORMAT_VERSION,
            "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "versions": dict(versions if versions is not None else package_versions()),
            "env_id": spec.env_id,
            "spec": spec.to_dict(),
            "discretizer": None if discretizer is None else discretizer.to_dict(),
            "models": {kind: entry.to_dict() for kind, entry in models.items()},
            "qtable": None if qtable_file is None else {"file": qtable_file},
            **dict(info or {}),
            "files": checksums,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        _fsync_tree(tmp)
        read_bundle(tmp)  # verify before it takes the bundle's name: nothing invalid lands
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return read_bundle(out_dir)


def _check_contents(
    files: Mapping[str, bytes | Path],
    models: Mapping[str, ModelEntry],
    discretizer: Discretizer | None,
    qtable_file: str | None,
    info: Mapping[str, Any] | None,
) -> None:
    """Refuse what ``write_bundle`` cannot write: odd file names, missing files, reserved keys."""
    for name in files:
        if name == MANIFEST or Path(name).name != name or name.startswith("."):
            raise BundleError(f"bundle file name {name!r}: expected a plain file name")
    for kind, entry in models.items():
        if entry.file not in files:
            raise BundleError(f"model {kind!r}: file {entry.file!r} is not among {sorted(files)}")
    if qtable_file is not None and (qtable_file not in files or discretizer is None):
        raise BundleError(f"Q-table {qtable_file!r}: needs the file and a discretizer")
    reserved = {"format_version", "created_at", "versions", "env_id", "spec", "discretizer"}
    reserved |= {"models", "qtable", "files"}
    if clash := reserved & set(info or {}):
        raise BundleError(f"bundle info: keys {sorted(clash)} are reserved for the manifest")


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Give the verified staging directory ``tmp`` the bundle's name (replacing an old one)."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)
    _fsync_dir(out_dir.parent)


def read_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle: version, manifest fields, every checksum, model shapes vs spec."""
    path = Path(path)
    if not path.is_dir():
        raise BundleFileMissingError(
            f"{path}: no such bundle directory; export one with `python -m trainer export`"
        )
    manifest = read_manifest(path)
    where = str(path / MANIFEST)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleVersionError(
            f"{where}: format_version: expected {FORMAT_VERSION}, found {version!r}; "
            "re-export the bundle with this version of sim2pi, or install the sim2pi that made it"
        )
    files = _verified_files(path, manifest, where)
    try:
        spec = TaskSpec.from_dict(_field(manifest, "spec", dict, where), where=f"{where}: spec")
    except SpecError as exc:
        raise ManifestError(str(exc)) from None
    env_id = _field(manifest, "env_id", str, where)
    if env_id != spec.env_id:
        raise ManifestError(f"{where}: env_id {env_id!r} differs from spec.env_id {spec.env_id!r}")
    discretizer = _discretizer(manifest, spec, where)
    models = {}
    for kind, entry in _object(manifest.get("models", {}), f"{where}: models").items():
        models[kind] = _model_entry(kind, entry, spec, files, f"{where}: models.{kind}")
    qtable_file = None
    if manifest.get("qtable") is not None:
        qtable = _object(manifest["qtable"], f"{where}: qtable")
        qtable_file = _field(qtable, "file", str, f"{where}: qtable")
        if qtable_file not in files:
            raise ManifestError(f"{where}: qtable.file {qtable_file!r} is not listed in files")
        if discretizer is None:
            raise ManifestError(f"{where}: qtable needs a discretizer, found none")
    return Bundle(path, manifest, spec, discretizer, models, qtable_file)


def _verified_files(path: Path, manifest: dict[str, Any], where: str) -> dict[str, Any]:
    """The manifest's ``files``, each present in ``path`` with the sha256 it lists."""
    files = _object(_field(manifest, "files", dict, where), f"{where}: files")
    for name, listed in files.items():
        entry = _object(listed, f"{where}: files.{name}")
        expected = _field(entry, "sha256", str, f"{where}: files.{name}")
        file_path = path / name
        missing = BundleFileMissingError(
            f"{file_path}: listed in {MANIFEST} but missing; copy the whole bundle directory"
        )
        if Path(name).name != name or "\0" in name or name in ("", ".", ".."):
            raise missing
        try:
            actual = sha256_file(file_path, FILE_LIMITS)
        except FileNotFoundError:
            raise missing from None
        if actual != expected:
            raise ChecksumError(
                f"{file_path}: sha256 mismatch: manifest says {expected}, file has {actual}; "
                "the file was changed or damaged in transit — copy the bundle again"
            )
    return files


def _discretizer(manifest: dict[str, Any], spec: TaskSpec, where: str) -> Discretizer | None:
    """The manifest's Q-table grid (None if it has none), checked against the spec's channels."""
    if manifest.get("discretizer") is None:
        return None
    try:
        discretizer = Discretizer.from_dict(manifest["discretizer"])
    except SpecError as exc:
        raise ManifestError(f"{where}: discretizer: {exc}") from None
    if discretizer.n_channels != spec.observation.size:
        raise ManifestError(
            f"{where}: discretizer: expected {spec.observation.size} channels "
            f"(the spec's), found {discretizer.n_channels}"
        )
    return discretizer


def _model_entry(
    kind: str, data: Any, spec: TaskSpec, files: Mapping[str, Any], where: str
) -> ModelEntry:
    obj = _object(data, where)
    file = _field(obj, "file", str, where)
    if file not in files:
        raise ManifestError(f"{where}.file: {file!r} is not listed in files")
    tensor_in = TensorInfo.from_dict(_field(obj, "input", dict, where), f"{where}.input")
    tensor_out = TensorInfo.from_dict(_field(obj, "output", dict, where), f"{where}.output")
    expected_in = (1, spec.observation.size)
    expected_out = (1, len(spec.actions))
    if tensor_in.shape != expected_in:
        raise ManifestError(
            f"{where}.input.shape: expected {list(expected_in)} "
            f"(the spec's {spec.observation.size} channels), found {list(tensor_in.shape)}"
        )
    if tensor_out.shape != expected_out:
        raise ManifestError(
            f"{where}.output.shape: expected {list(expected_out)} "
            f"(the spec's {len(spec.actions)} actions), found {list(tensor_out.shape)}"
        )
    if obj.get("reference") is not None:
        _check_reference(obj["reference"], tensor_in.shape[-1], tensor_out.shape[-1], where)
    extra = {k: v for k, v in obj.items() if k not in ("file", "input", "output")}
    return ModelEntry(kind, file, tensor_in, tensor_out, extra)


def _check_reference(data: Any, n_inputs: int, n_outputs: int, where: str) -> None:
    """The reference block the robot's probe replays: as many input rows as output rows, each
    as wide as the model's tensor, every value a finite number."""
    where = f"{where}.reference"
    obj = _object(data, where)
    rows = []
    for key, width in (("inputs", n_inputs), ("outputs", n_outputs)):
        table = _field(obj, key, list, where)
        try:
            values = np.asarray(table, dtype=np.float64)
            found = f"an array of shape {values.shape}"
        except (TypeError, ValueError, OverflowError):  # ragged, or not numbers
            values, found = np.empty((0, 0)), "something other than rows of numbers"
        if values.ndim != 2 or values.shape[1:] != (width,) or not np.isfinite(values).all():
            found = found if np.isfinite(values).all() else "non-finite numbers"
            raise ManifestError(
                f"{where}.{key}: expected rows of {width} finite numbers, found {found}; "
                + _REEXPORT
            )
        rows.append(len(values))
    if rows[0] != rows[1] or not rows[0]:
        raise ManifestError(
            f"{where}: expected one output row per input row (at least one), found {rows[0]} "
            f"inputs and {rows[1]} outputs; {_REEXPORT}"
        )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise ManifestError(f"{where}: missing field {key!r}; re-export the bundle")
    value = obj[key]
    if not isinstance(value, kind):
        raise ManifestError(
            f"{where}: field {key!r}: expected {kind.__name__}, found {type(value).__name__}"
        )
    return value


def _fsync_tree(directory: Path) -> None:
    for child in directory.iterdir():
        with open(child, "rb") as f:
            os.fsync(f.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

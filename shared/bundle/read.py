"""Reading a bundle: the format version, every file's sha256 and the manifest's fields."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shared.bundle.format import (
    FILE_LIMITS,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_LIMITS,
    REEXPORT_FIX,
    Bundle,
    ModelEntry,
    TensorInfo,
    json_field,
    json_object,
    sha256_file,
)
from shared.discretize import Discretizer
from shared.errors import (
    BundleFileMissingError,
    BundleVersionError,
    ChecksumError,
    ManifestError,
    SpecError,
)
from shared.spec import TaskSpec


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
    return json_object(manifest, str(manifest_path))


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
        spec = TaskSpec.from_dict(json_field(manifest, "spec", dict, where), where=f"{where}: spec")
    except SpecError as exc:
        raise ManifestError(str(exc)) from None
    env_id = json_field(manifest, "env_id", str, where)
    if env_id != spec.env_id:
        raise ManifestError(f"{where}: env_id {env_id!r} differs from spec.env_id {spec.env_id!r}")
    discretizer = _discretizer(manifest, spec, where)
    models = {}
    for kind, entry in json_object(manifest.get("models", {}), f"{where}: models").items():
        models[kind] = _model_entry(kind, entry, spec, files, f"{where}: models.{kind}")
    qtable_file = None
    if manifest.get("qtable") is not None:
        qtable = json_object(manifest["qtable"], f"{where}: qtable")
        qtable_file = json_field(qtable, "file", str, f"{where}: qtable")
        if qtable_file not in files:
            raise ManifestError(f"{where}: qtable.file {qtable_file!r} is not listed in files")
        if discretizer is None:
            raise ManifestError(f"{where}: qtable needs a discretizer, found none")
    return Bundle(path, manifest, spec, discretizer, models, qtable_file)


def _verified_files(path: Path, manifest: dict[str, Any], where: str) -> dict[str, Any]:
    """The manifest's ``files``, each present in ``path`` with the sha256 it lists."""
    files = json_object(json_field(manifest, "files", dict, where), f"{where}: files")
    for name, listed in files.items():
        entry = json_object(listed, f"{where}: files.{name}")
        expected = json_field(entry, "sha256", str, f"{where}: files.{name}")
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
    obj = json_object(data, where)
    file = json_field(obj, "file", str, where)
    if file not in files:
        raise ManifestError(f"{where}.file: {file!r} is not listed in files")
    tensor_in = TensorInfo.from_dict(json_field(obj, "input", dict, where), f"{where}.input")
    tensor_out = TensorInfo.from_dict(json_field(obj, "output", dict, where), f"{where}.output")
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
    obj = json_object(data, where)
    rows = []
    for key, width in (("inputs", n_inputs), ("outputs", n_outputs)):
        table = json_field(obj, key, list, where)
        try:
            values = np.asarray(table, dtype=np.float64)
            found = f"an array of shape {values.shape}"
        except (TypeError, ValueError, OverflowError):  # ragged, or not numbers
            values, found = np.empty((0, 0)), "something other than rows of numbers"
        if values.ndim != 2 or values.shape[1:] != (width,) or not np.isfinite(values).all():
            found = found if np.isfinite(values).all() else "non-finite numbers"
            raise ManifestError(
                f"{where}.{key}: expected rows of {width} finite numbers, found {found}; "
                + REEXPORT_FIX
            )
        rows.append(len(values))
    if rows[0] != rows[1] or not rows[0]:
        raise ManifestError(
            f"{where}: expected one output row per input row (at least one), found {rows[0]} "
            f"inputs and {rows[1]} outputs; {REEXPORT_FIX}"
        )

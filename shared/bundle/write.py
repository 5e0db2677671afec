"""Writing a bundle: into a temp directory, checked, then renamed into place (atomic)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shared.bundle.format import (
    FORMAT_VERSION,
    MANIFEST,
    Bundle,
    ModelEntry,
    sha256_file,
)
from shared.bundle.read import read_bundle
from shared.discretize import Discretizer
from shared.errors import (
    BundleError,
)
from shared.spec import TaskSpec


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

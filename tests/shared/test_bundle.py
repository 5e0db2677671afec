"""Bundles: atomic write, verified read, and one clear error for each way a bundle can be bad."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shared.bundle import (
    FORMAT_VERSION,
    MANIFEST,
    ModelEntry,
    TensorInfo,
    read_bundle,
    write_bundle,
)
from shared.discretize import Discretizer
from shared.errors import (
    BundleError,
    BundleFileMissingError,
    BundleVersionError,
    ChecksumError,
    ManifestError,
    QTableError,
)
from shared.spec import TaskSpec

MODEL_BYTES = b"TFL3 not really a model, but bytes with a checksum"


def _write(out: Path, spec: TaskSpec, **overrides: object) -> None:
    discretizer = Discretizer.uniform(spec.observation.lows, spec.observation.highs, 4)
    qtable = np.zeros((discretizer.n_states, len(spec.actions)))
    npy = out.parent / "q.npy"
    np.save(npy, qtable)
    kwargs: dict[str, object] = {
        "spec": spec,
        "files": {"policy.tflite": MODEL_BYTES, "qtable.npy": npy},
        "models": {
            "float32": ModelEntry(
                "float32",
                "policy.tflite",
                TensorInfo((1, 3), "float32"),
                TensorInfo((1, 3), "float32"),
                {},
            )
        },
        "discretizer": discretizer,
        "qtable_file": "qtable.npy",
        "info": {"evaluation": {"mean_return": 12.5}},
    }
    kwargs.update(overrides)
    write_bundle(out, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def bundle_dir(tmp_path: Path, robot_spec: TaskSpec) -> Path:
    out = tmp_path / "bundle"
    _write(out, robot_spec)
    return out


def _edit_manifest(bundle_dir: Path, edit: object) -> None:
    path = bundle_dir / MANIFEST
    manifest = json.loads(path.read_text())
    edit(manifest)  # type: ignore[operator]
    path.write_text(json.dumps(manifest))


def test_round_trip(bundle_dir: Path, robot_spec: TaskSpec) -> None:
    bundle = read_bundle(bundle_dir)
    assert bundle.spec == robot_spec
    assert bundle.models["float32"].input.shape == (1, 3)
    assert bundle.discretizer is not None and bundle.discretizer.n_states == 64
    assert bundle.load_qtable().shape == (64, 3)
    assert bundle.manifest["evaluation"] == {"mean_return": 12.5}
    assert bundle.manifest["format_version"] == FORMAT_VERSION
    assert "numpy" in bundle.manifest["versions"]
    assert sorted(bundle.manifest["files"]) == ["policy.tflite", "qtable.npy"]
    assert sorted(p.name for p in bundle_dir.iterdir()) == [MANIFEST, "policy.tflite", "qtable.npy"]


def test_no_temp_directory_is_left_behind(bundle_dir: Path) -> None:
    assert [p.name for p in bundle_dir.parent.iterdir() if p.name.startswith(".")] == []


def test_bundle_directory_is_readable_by_other_users(bundle_dir: Path) -> None:
    # The service runs as its own user; mkdtemp's 0700 must not survive into the bundle.
    assert bundle_dir.stat().st_mode & 0o005 == 0o005


def test_existing_bundle_is_not_overwritten_unless_asked(
    bundle_dir: Path, robot_spec: TaskSpec
) -> None:
    with pytest.raises(BundleError, match="already exists"):
        _write(bundle_dir, robot_spec)
    _write(bundle_dir, robot_spec, info={"evaluation": {"mean_return": 99.0}}, overwrite=True)
    assert read_bundle(bundle_dir).manifest["evaluation"]["mean_return"] == 99.0


def test_failed_write_leaves_nothing(tmp_path: Path, robot_spec: TaskSpec) -> None:
    out = tmp_path / "bundle"
    with pytest.raises(FileNotFoundError):
        _write(
            out, robot_spec, files={"policy.tflite": tmp_path / "does-not-exist"}, qtable_file=None
        )
    assert list(tmp_path.iterdir()) == [tmp_path / "q.npy"]


def test_changed_byte_is_rejected_naming_the_file(bundle_dir: Path) -> None:
    model = bundle_dir / "policy.tflite"
    data = bytearray(model.read_bytes())
    data[5] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(
        ChecksumError,
        match=r"policy\.tflite: sha256 mismatch: manifest says [0-9a-f]{64}, file has",
    ):
        read_bundle(bundle_dir)


def test_missing_file_is_rejected(bundle_dir: Path) -> None:
    (bundle_dir / "qtable.npy").unlink()
    with pytest.raises(
        BundleFileMissingError, match=r"qtable\.npy: listed in manifest\.json but missing"
    ):
        read_bundle(bundle_dir)


def test_missing_manifest_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleFileMissingError, match="no such bundle directory"):
        read_bundle(tmp_path / "nope")
    with pytest.raises(BundleFileMissingError, match=r"manifest\.json: missing"):
        read_bundle(tmp_path)


def test_unknown_version_is_rejected(bundle_dir: Path) -> None:
    _edit_manifest(bundle_dir, lambda m: m.update(format_version=99))
    with pytest.raises(BundleVersionError, match=r"format_version: expected 1, found 99"):
        read_bundle(bundle_dir)


def test_malformed_manifest_is_rejected(bundle_dir: Path) -> None:
    (bundle_dir / MANIFEST).write_text("{not json")
    with pytest.raises(ManifestError, match=r"manifest\.json: not valid JSON"):
        read_bundle(bundle_dir)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.pop("files"), r"missing field 'files'"),
        (lambda m: m.update(files=[]), r"field 'files': expected dict, found list"),
        (
            lambda m: m["spec"]["observation"]["channels"][0].update(low="near"),
            r"spec\.observation\.channels\[0\]",
        ),
        (lambda m: m.update(env_id="CartPole-v1"), r"env_id 'CartPole-v1' differs"),
        (
            lambda m: m["models"]["float32"]["input"].update(shape=[1, 4]),
            r"models\.float32\.input\.shape: expected \[1, 3\] .* found \[1, 4\]",
        ),
        (
            lambda m: m["models"]["float32"]["output"].update(shape=[1, 2]),
            r"output\.shape: expected \[1, 3\] .* found \[1, 2\]",
        ),
        (
            lambda m: m["models"]["float32"]["input"].update(dtype="float16"),
            r"input\.dtype: expected one of",
        ),
        (
            lambda m: m["models"]["float32"].update(file="other.tflite"),
            r"'other\.tflite' is not listed in files",
        ),
        (lambda m: m["discretizer"].update(lows=[0.0]), r"discretizer"),
    ],
)
def test_each_bad_field_gets_one_clear_error(bundle_dir: Path, edit: object, message: str) -> None:
    _edit_manifest(bundle_dir, edit)
    with pytest.raises(ManifestError, match=message):
        read_bundle(bundle_dir)


def test_int8_tensors_need_scale_and_zero_point(tmp_path: Path, robot_spec: TaskSpec) -> None:
    bad = ModelEntry(
        "int8", "policy.tflite", TensorInfo((1, 3), "int8"), TensorInfo((1, 3), "int8"), {}
    )
    with pytest.raises(
        ManifestError, match=r"input\.scale: expected a positive number, found None"
    ):
        _write(tmp_path / "b", robot_spec, models={"int8": bad})
    assert not (tmp_path / "b").exists()


def test_reserved_info_keys_are_refused(tmp_path: Path, robot_spec: TaskSpec) -> None:
    with pytest.raises(BundleError, match=r"'files'\] are reserved"):
        _write(tmp_path / "b", robot_spec, info={"files": {}})


def test_qtable_shape_mismatch_is_named(bundle_dir: Path, robot_spec: TaskSpec) -> None:
    np.save(bundle_dir / "qtable.npy", np.zeros((10, 3)))
    from shared.bundle import sha256_file

    _edit_manifest(
        bundle_dir,
        lambda m: m["files"]["qtable.npy"].update(sha256=sha256_file(bundle_dir / "qtable.npy")),
    )
    bundle = read_bundle(bundle_dir)
    with pytest.raises(QTableError, match=r"qtable\.npy.*64.*10"):
        bundle.load_qtable()

"""A broken ``policy.tflite`` is named as the cause, not "install a runtime".

Real broken files against the real runtime in the probe's child processes: the fixture model
cut in half, random bytes of its length, and the model with its output pointed at the hidden
layer (32 values where the manifest promises 5). The manifest's checksums are updated, as an
exporter with a bug (or a hand-edited bundle) would leave them. A valid model that no runtime
runs still gets the install hint: the model is blamed only when it is itself broken.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from robot.cli.exit_codes import EXIT_USAGE
from robot.errors import PolicyLoadError, TFLiteRuntimeError
from robot.inference import tflite_runtimes as tflite
from robot.inference.model_file import read_model
from robot.inference.tflite_runtimes import FORCE_ENV, choose_runtime, install_hint
from tests.robot.conftest import FIXTURE_BUNDLE, example, run_robot
from tests.robot.inference.test_runtime_probe import FAKE, REAL, fake_runtime, needs_runtime

ROOT = Path(__file__).resolve().parents[3]
MODEL = FIXTURE_BUNDLE / "policy.tflite"


def _output_at_hidden_layer(data: bytes) -> bytes:
    """The fixture model with its output tensor index pointed at the 32-wide hidden layer."""
    from robot.inference import model_file

    reader = model_file._Reader(data)
    model = reader.table(reader.scalar("<I", 0, "root"), "model")
    subgraph = next(model.tables(2, "subgraph"))
    start, length = subgraph.vector(2, 4, "outputs")
    assert length == 1
    hidden = next(
        i
        for i, tensor in enumerate(subgraph.tables(0, "tensor"))
        if model_file._tensor(tensor, "t").shape == (1, 32)
    )
    patched = bytearray(data)
    struct.pack_into("<i", patched, start, hidden)
    return bytes(patched)


BREAKAGES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "truncated": (lambda d: d[: len(d) // 2], "truncated or corrupt: "),
    "random": (lambda d: os.urandom(len(d)), "not a TFLite model: bytes 4-8 are "),
    "wrong-output": (
        _output_at_hidden_layer,
        "its output tensor is [1, 32] float32, the manifest says [1, 5] float32",
    ),
    "empty": (lambda d: b"", "truncated: 0 bytes, not even a FlatBuffer header"),
}


def broken_bundle(tmp_path: Path, breakage: str) -> Path:
    """A copy of the fixture bundle whose policy.tflite is broken, its checksum updated."""
    bundle = Path(shutil.copytree(FIXTURE_BUNDLE, tmp_path / f"bundle-{breakage}"))
    model = bundle / "policy.tflite"
    model.write_bytes(BREAKAGES[breakage][0](model.read_bytes()))
    manifest = json.loads((bundle / "manifest.json").read_text())
    data = model.read_bytes()
    manifest["files"]["policy.tflite"].update(
        sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)
    )
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle


@pytest.fixture
def unforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FORCE_ENV, raising=False)


def test_the_fixture_models_are_whole() -> None:
    for name, dtype in (("policy.tflite", "float32"), ("policy_int8.tflite", "int8")):
        summary = read_model((FIXTURE_BUNDLE / name).read_bytes())
        assert [(t.shape, t.dtype) for t in summary.inputs] == [((1, 3), dtype)]
        assert [(t.shape, t.dtype) for t in summary.outputs] == [((1, 5), dtype)]


def test_the_wrong_output_model_is_what_it_claims_to_be(tmp_path: Path) -> None:
    patched = _output_at_hidden_layer(MODEL.read_bytes())
    assert [t.shape for t in read_model(patched).outputs] == [(1, 32)]


@needs_runtime
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_model_is_named_after_the_probe(
    tmp_path: Path, unforced: None, breakage: str
) -> None:
    bundle = broken_bundle(tmp_path, breakage)
    with pytest.raises(PolicyLoadError) as info:
        choose_runtime(bundle, "float32", probe=True, state_dir=tmp_path / "state")
    message = str(info.value)
    assert message.startswith(f"{bundle / 'policy.tflite'}: the model file is broken: ")
    assert BREAKAGES[breakage][1] in message
    assert f"(runtimes: {REAL} " in message  # what the runtime made of it, from the probe
    assert message.endswith(
        "re-export the bundle (`python -m trainer export`) and copy the "
        "whole directory to the robot again"
    )
    assert "Install one" not in message and "\n" not in message


@needs_runtime
def test_a_forced_runtime_on_the_robot_names_the_broken_model_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FORCE_ENV, REAL)
    bundle = broken_bundle(tmp_path, "truncated")
    with pytest.raises(PolicyLoadError, match="the model file is broken: truncated"):
        choose_runtime(bundle, "float32", probe=True, state_dir=tmp_path / "state")


def test_without_any_runtime_the_broken_model_is_named_with_the_install_hint(
    tmp_path: Path, unforced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tflite, "PROBE_CANDIDATES", ("sim2pi_no_such_runtime",))
    monkeypatch.setitem(
        tflite.tflite_probe._DISTRIBUTIONS, "sim2pi_no_such_runtime", ("sim2pi_nope", ("x",))
    )
    bundle = broken_bundle(tmp_path, "random")
    with pytest.raises(PolicyLoadError) as info:
        choose_runtime(bundle, "float32", probe=True, state_dir=tmp_path / "state")
    assert f"(no runtime tried it either: {install_hint()})" in str(info.value)


def test_a_whole_model_no_runtime_runs_still_gets_the_install_hint(
    tmp_path: Path, unforced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = fake_runtime(tmp_path / "fake", "raise")
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    monkeypatch.setattr(tflite, "PROBE_CANDIDATES", (FAKE,))
    with pytest.raises(TFLiteRuntimeError) as info:
        choose_runtime(FIXTURE_BUNDLE, "float32", probe=True, state_dir=tmp_path / "state")
    assert install_hint() in str(info.value) and "broken" not in str(info.value)


def _robot(command: str, config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")}
    env.pop("STATE_DIRECTORY", None)
    env.pop(FORCE_ENV, None)
    extra = ["--max-ticks", "5"] if command == "run" else []
    return run_robot(command, "--config", str(config), *extra, timeout_s=120, env=env)


@needs_runtime
@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "breakage"), [("check", "truncated"), ("run", "wrong-output"), ("check", "random")]
)
def test_robot_says_one_line_naming_the_model_and_exits_2(
    tmp_path: Path, command: str, breakage: str
) -> None:
    bundle = broken_bundle(tmp_path, breakage)
    config = example(
        tmp_path,
        "reference_sim.toml",
        (json.dumps(str(FIXTURE_BUNDLE)), json.dumps(str(bundle))),
    )
    result = _robot(command, config, tmp_path)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr
    assert f"{bundle / 'policy.tflite'}: the model file is broken: " in errors[0]
    assert BREAKAGES[breakage][1] in errors[0]
    assert "drive: left forward=" not in result.stderr  # the backend (and motors) never opened


@needs_runtime
def test_a_policy_given_a_runtime_names_the_model_it_cannot_build(tmp_path: Path) -> None:
    # A runtime chosen before the file changed (a reload racing a copy): one PolicyLoadError.
    from robot.inference.policy import TFLitePolicy
    from shared.bundle import read_bundle

    runtime = choose_runtime(FIXTURE_BUNDLE, "float32", probe=False, force=REAL)
    bundle = read_bundle(broken_bundle(tmp_path, "truncated"))
    with pytest.raises(PolicyLoadError) as info:
        TFLitePolicy(bundle, "float32", runtime)
    message = str(info.value)
    assert message.startswith(f"{bundle.file('policy.tflite')}: {runtime.describe()} cannot build")
    assert message.endswith("re-export the bundle (`python -m trainer export`) and copy it again")


def test_probing_a_model_file_that_is_not_there(tmp_path: Path) -> None:
    from robot.inference.probe import probe_runtimes
    from shared.errors import BundleFileMissingError

    with pytest.raises(BundleFileMissingError, match=r"absent\.tflite: no such model file"):
        probe_runtimes(tmp_path / "absent.tflite", [[0.0]], [[0.0]], state_dir=tmp_path)


@needs_runtime
@pytest.mark.slow
def test_check_of_a_qtable_robot_says_the_model_is_broken_and_goes_on(tmp_path: Path) -> None:
    # The Q-table needs no model: a broken one is reported, not a reason to stop checking.
    bundle = broken_bundle(tmp_path, "truncated")
    config = example(
        tmp_path,
        "reference_sim.toml",
        (json.dumps(str(FIXTURE_BUNDLE)), json.dumps(str(bundle))),
        ('policy = "tflite"', 'policy = "qtable"'),
    )
    result = _robot("check", config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "tflite   none works here (not needed by qtable): " in result.stdout
    assert "the model file is broken" in result.stdout
    assert "check    all well" in result.stdout

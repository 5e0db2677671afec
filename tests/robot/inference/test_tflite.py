"""choose_runtime: forced, probed in child processes (the robot), or the first that builds an
interpreter in this process (the exporter), in a fixed order, and logged."""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from robot.errors import TFLiteRuntimeError
from robot.inference import probe_child
from robot.inference import tflite_runtimes as tflite
from robot.inference.policy import TFLitePolicy
from robot.inference.probe import CACHE_FILE, default_state_dir
from robot.inference.tflite_runtimes import FORCE_ENV, choose_runtime, install_hint
from shared.bundle import Bundle
from tests.robot.conftest import FIXTURE_BUNDLE as FIXTURE
from tests.robot.inference.test_runtime_probe import FAKE, REAL, fake_runtime, needs_runtime


@pytest.mark.tflite
def test_the_chosen_runtime_builds_an_interpreter_and_is_logged(
    bundle: Bundle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="robot.inference.tflite_runtimes"):
        runtime = choose_runtime(bundle.path, "float32", probe=False)
    forced = os.environ.get(FORCE_ENV)
    names = [name for name, _, _ in tflite.RUNTIMES]
    assert runtime.name == (forced or runtime.name)
    assert runtime.name in names
    assert f"TFLite runtime: {runtime.name} {runtime.version}" in caplog.text
    assert runtime.probe is None  # in this process: no child, no cache
    interpreter = runtime.interpreter(bundle.file("policy.tflite"))
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 3]


def test_unknown_forced_runtime_is_refused(bundle: Bundle) -> None:
    with pytest.raises(TFLiteRuntimeError, match=r"SIM2PI_TFLITE_RUNTIME='tfl': expected one of"):
        choose_runtime(bundle.path, "float32", probe=False, force="tfl")


@pytest.mark.tflite
def test_a_runtime_that_imports_but_cannot_build_is_skipped(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a flatbuffer")
    manifest = {"models": {"float32": {"file": garbage.name}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TFLiteRuntimeError) as info:
        choose_runtime(
            tmp_path, "float32", probe=False, force=os.environ.get(FORCE_ENV) or "ai_edge_litert"
        )
    message = str(info.value)
    assert "cannot build an interpreter" in message or "not importable" in message
    assert "pip install" in message


@pytest.mark.tflite
def test_a_missing_runtime_falls_through_to_the_next(
    bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first candidate whose module does not exist is skipped with the reason recorded.
    monkeypatch.setattr(
        tflite, "RUNTIMES", (("absent", "sim2pi_no_such_module", ("x",)), *tflite.RUNTIMES)
    )
    monkeypatch.delenv(FORCE_ENV, raising=False)
    runtime = choose_runtime(bundle.path, "float32", probe=False)
    assert runtime.skipped[0].startswith("absent: not importable")
    assert runtime.name != "absent"


@needs_runtime
def test_without_the_probe_no_child_runs_even_for_a_bundle_with_reference_outputs(
    unforced: None, caplog: pytest.LogCaptureFixture
) -> None:
    # The exporter's way (and a policy loaded without a runtime): in this process, no cache.
    with caplog.at_level(logging.INFO, logger="robot.inference"):
        runtime = choose_runtime(FIXTURE, "float32", probe=False)
    assert runtime.name == REAL and runtime.probe is None
    assert not (default_state_dir() / CACHE_FILE).exists()
    assert f"TFLite runtime: {runtime.describe()}" in caplog.text
    assert "probe" not in caplog.text and "reproduces" not in caplog.text


# --- choose_runtime(probe=True): the child-process probe at the robot's start-up ------------------


@pytest.fixture
def unforced(monkeypatch: pytest.MonkeyPatch) -> None:
    """No forced runtime: choose_runtime probes (scripts/test-tflite-runtime forces one)."""
    monkeypatch.delenv(FORCE_ENV, raising=False)


@pytest.fixture
def crashing_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake runtime that dies by SIGSEGV inside ``Interpreter()``, probed before the real one.

    It stands in for a crashing TFLite build (as ai-edge-litert 2.2/2.3 were under qemu 7.2): a
    tiny distribution on the children's PYTHONPATH, under the name of the runtime not installed.
    """
    env = fake_runtime(tmp_path / "fake", "segfault")
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))  # its version, seen from this process
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])  # the children import it
    monkeypatch.setattr(tflite, "PROBE_CANDIDATES", (FAKE, REAL))


@needs_runtime
@pytest.mark.parametrize("model", ["float32", "int8"])
def test_choose_runtime_probes_then_reuses_the_cached_verdict(
    tmp_path: Path, unforced: None, model: str
) -> None:
    state = tmp_path / "state"
    runtime = choose_runtime(FIXTURE, model, probe=True, state_dir=state)
    assert runtime.probe is not None and runtime.probe.chosen is not None
    assert runtime.probe.chosen.candidate == tflite.PROBE_NAMES[runtime.name]
    assert not runtime.probe.chosen.cached and (state / CACHE_FILE).is_file()
    entry = json.loads((FIXTURE / "manifest.json").read_text())["models"][model]
    assert runtime.interpreter(FIXTURE / entry["file"]).get_output_details()
    again = choose_runtime(FIXTURE, model, probe=True, state_dir=state)
    assert again.name == runtime.name and again.probe is not None
    assert all(r.cached for r in again.probe.results if r.status != "missing")


@needs_runtime
def test_a_crashing_runtime_is_skipped_and_the_next_one_builds_the_policy(
    bundle: Bundle, tmp_path: Path, unforced: None, crashing_first: None
) -> None:
    runtime = choose_runtime(FIXTURE, "float32", probe=True, state_dir=tmp_path)
    assert runtime.name == REAL
    assert runtime.skipped[0].startswith(f"{FAKE}: crashed: killed by SIGSEGV")
    policy = TFLitePolicy(bundle, "float32", runtime)
    reference = bundle.models["float32"].extra["reference"]
    for observation, expected in zip(reference["observations"], reference["outputs"], strict=True):
        q_values = policy.decide(np.array(observation, dtype=np.float32)).q_values
        np.testing.assert_allclose(q_values, expected, atol=1e-5)


def test_no_runtime_passing_the_probe_is_refused_with_the_table_and_the_fix(
    tmp_path: Path, unforced: None, crashing_first: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tflite, "PROBE_CANDIDATES", (FAKE,))
    with pytest.raises(TFLiteRuntimeError) as info:
        choose_runtime(FIXTURE, "float32", probe=True, state_dir=tmp_path)
    message = str(info.value)
    assert f"  {FAKE}" in message and "crashed  killed by SIGSEGV" in message
    assert install_hint() in message and "--no-cache" in message


@needs_runtime
def test_a_forced_runtime_is_not_probed(tmp_path: Path) -> None:
    runtime = choose_runtime(FIXTURE, "float32", probe=True, state_dir=tmp_path, force=REAL)
    assert runtime.name == REAL and runtime.probe is None
    assert not (tmp_path / CACHE_FILE).exists()


@needs_runtime
def test_a_bundle_without_reference_outputs_falls_back_in_process(
    tmp_path: Path, unforced: None, caplog: pytest.LogCaptureFixture
) -> None:
    older = tmp_path / "older_bundle"
    shutil.copytree(FIXTURE, older)
    manifest = json.loads((older / "manifest.json").read_text())
    for entry in manifest["models"].values():
        del entry["reference"]
    (older / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.INFO, logger="robot.inference.tflite_runtimes"):
        runtime = choose_runtime(older, "float32", probe=True, state_dir=tmp_path / "state")
    assert runtime.probe is None and not (tmp_path / "state").exists()
    assert "no reference inputs/outputs" in caplog.text and "in-process" in caplog.text
    assert f"TFLite runtime: {runtime.name}" in caplog.text


@needs_runtime
def test_a_quantised_model_is_built_on_the_builtin_kernels_and_a_float_one_is_not(
    bundle: Bundle,
) -> None:
    # LiteRT's default XNNPACK delegate rounds int8 layers differently from tflite-runtime 2.14;
    # on the built-in kernels both compute alike (docs/benchmarks/export.md).
    module = importlib.import_module(f"{REAL}.interpreter")
    calls: list[dict] = []

    class Recording(module.Interpreter):  # type: ignore[name-defined,misc]
        def __init__(self, *args, **kwargs) -> None:
            calls.append(kwargs)
            super().__init__(*args, **kwargs)

    runtime = tflite.TFLiteRuntime(str(REAL), "test", Recording)
    builtin = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    for kind, quantised in (("float32", False), ("int8", True)):
        calls.clear()
        interpreter = runtime.interpreter(bundle.file(bundle.models[kind].file))
        assert probe_child.quantised(interpreter) is quantised
        assert calls[-1].get("experimental_op_resolver_type") == (builtin if quantised else None)
        assert calls[-1]["num_threads"] == 1

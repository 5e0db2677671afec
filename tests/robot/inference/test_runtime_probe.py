"""robot.inference.probe: each TFLite runtime is tried in a child process against reference outputs.

The real runtime of this venv (ai_edge_litert, or tflite_runtime on 32-bit Pi OS) must reproduce
the fixture bundle. A crashing, hanging or wrong build is played by a tiny fake distribution put
first on the child's PYTHONPATH (a test double for a broken build, not a mock of our code): its
``Interpreter()`` kills its own process with a signal, sleeps, or wraps the real runtime and
shifts its outputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from robot.inference import probe as tflite_probe
from robot.inference import probe_child
from robot.inference.probe import (
    CACHE_FILE,
    FLOAT_TOLERANCE,
    ProbeReport,
    installed_version,
    probe_bundle,
    probe_runtimes,
)

BUNDLE = Path(__file__).resolve().parents[2] / "fixtures" / "obstacle_bundle"
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text(encoding="utf-8"))
FLOAT_MODEL = BUNDLE / MANIFEST["models"]["float32"]["file"]
REFERENCE = MANIFEST["models"]["float32"]["reference"]
INPUTS, OUTPUTS = REFERENCE["inputs"][:2], REFERENCE["outputs"][:2]

#: The lightweight runtime installed here (the Pi venv has exactly one), and the other name,
#: which the fakes borrow so that they never shadow the real one.
REAL = next((c for c in ("ai_edge_litert", "tflite_runtime") if installed_version(c)), None)
FAKE = "tflite_runtime" if REAL == "ai_edge_litert" else "ai_edge_litert"
needs_runtime = pytest.mark.skipif(REAL is None, reason="no TFLite runtime installed")

_FAKE_BODIES = {
    "segfault": """
        import os, signal
        class Interpreter:
            def __init__(self, *args, **kwargs):
                os.kill(os.getpid(), signal.SIGSEGV)  # what a broken native build does
        """,
    "abort": """
        import os
        class Interpreter:
            def __init__(self, *args, **kwargs):
                os.abort()
        """,
    "hang": """
        import time
        class Interpreter:
            def __init__(self, *args, **kwargs):
                time.sleep(3600)
        """,
    "sigterm": """
        import os, signal
        class Interpreter:
            def __init__(self, *args, **kwargs):
                os.kill(os.getpid(), signal.SIGTERM)  # systemd stopping the unit mid-probe
        """,
    "raise": """
        class Interpreter:
            def __init__(self, *args, **kwargs):
                raise RuntimeError("Didn't find op for builtin opcode 'FULLY_CONNECTED'")
        """,
    "shifted": f"""
        from {REAL}.interpreter import Interpreter as _Real
        class Interpreter(_Real):
            def get_tensor(self, index):
                return super().get_tensor(index) + 0.01  # 100 × the float tolerance
        """,
}


def fake_runtime(root: Path, behaviour: str, name: str = FAKE) -> dict[str, str]:
    """Install a fake ``name`` distribution under ``root``; return the children's environment."""
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "interpreter.py").write_text(textwrap.dedent(_FAKE_BODIES[behaviour]))
    dist_info = root / f"{name}-0.0.0+{behaviour}.dist-info"
    dist_info.mkdir()
    distribution = name.replace("_", "-")
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.0.0+{behaviour}\n"
    )
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Make a fake runtime visible to this process (its version) and to the children."""

    def install(behaviour: str, name: str = FAKE) -> dict[str, str]:
        env = fake_runtime(tmp_path / "fake", behaviour, name)
        monkeypatch.syspath_prepend(str(tmp_path / "fake"))
        return env

    return install


@needs_runtime
@pytest.mark.parametrize("model", ["float32", "int8"])
def test_the_installed_runtime_reproduces_the_fixture_bundle(tmp_path: Path, model: str) -> None:
    report = probe_bundle(BUNDLE, model, candidates=(REAL,), state_dir=tmp_path)
    assert report.chosen is not None, report.table()
    assert report.chosen.candidate == REAL and not report.chosen.cached
    assert report.chosen.version == installed_version(REAL)
    assert report.chosen.max_abs_error is not None
    assert report.chosen.max_abs_error <= 0.011  # within one int8 step (0.0108), or 1e-4 float
    assert "8 reference outputs" in report.chosen.detail
    # The verdict is cached under the runtime's version and the model's sha256...
    model_file = BUNDLE / MANIFEST["models"][model]["file"]
    (key,) = json.loads((tmp_path / CACHE_FILE).read_text())["verdicts"]
    assert key.startswith(f"{REAL}={installed_version(REAL)}|numpy={np.__version__}|")
    assert key.endswith(hashlib.sha256(model_file.read_bytes()).hexdigest())
    # ...so the next start-up takes it without a child.
    again = probe_bundle(BUNDLE, model, candidates=(REAL,), state_dir=tmp_path)
    assert again.chosen is not None and again.chosen.cached and again.chosen.elapsed_s > 0


@needs_runtime
@pytest.mark.parametrize(
    ("behaviour", "signal_name"), [("segfault", "SIGSEGV"), ("abort", "SIGABRT")]
)
def test_a_crashing_runtime_is_skipped_and_the_next_chosen(
    fake, tmp_path: Path, caplog: pytest.LogCaptureFixture, behaviour: str, signal_name: str
) -> None:
    env = fake(behaviour)
    with caplog.at_level(logging.WARNING, logger="robot.inference.probe"):
        report = probe_runtimes(
            FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE, REAL), state_dir=tmp_path, env=env
        )
    crashed, chosen = report.results
    assert crashed.candidate == FAKE and crashed.status == "crashed"
    assert crashed.version == f"0.0.0+{behaviour}"
    assert f"killed by {signal_name}" in crashed.detail and "inside Interpreter()" in crashed.detail
    assert report.chosen is chosen and chosen.candidate == REAL
    assert any(FAKE in m and signal_name in m for m in caplog.messages), caplog.messages


def test_a_hanging_runtime_is_killed_after_the_timeout(fake, tmp_path: Path) -> None:
    env = fake("hang")
    report = probe_runtimes(
        FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE,), timeout_s=3.0, state_dir=tmp_path, env=env
    )
    (hung,) = report.results
    assert hung.status == "hung" and "no answer within 3 s" in hung.detail
    assert 3.0 <= hung.elapsed_s < 30.0
    assert report.chosen is None
    assert not (tmp_path / CACHE_FILE).exists()  # a hang may be a busy boot: not cached


def test_a_runtime_that_raises_is_skipped_with_its_error(fake, tmp_path: Path) -> None:
    env = fake("raise")
    report = probe_runtimes(
        FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE,), state_dir=tmp_path, env=env
    )
    (failed,) = report.results
    assert failed.status == "failed"
    assert "Interpreter()" in failed.detail and "FULLY_CONNECTED" in failed.detail


@needs_runtime
def test_outputs_off_the_reference_are_a_mismatch(fake, tmp_path: Path) -> None:
    env = fake("shifted")
    report = probe_runtimes(
        FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE,), state_dir=tmp_path, env=env
    )
    (wrong,) = report.results
    assert wrong.status == "mismatch" and report.chosen is None
    assert wrong.max_abs_error == pytest.approx(0.01, rel=1e-3)
    assert wrong.max_abs_error > FLOAT_TOLERANCE


def test_a_cached_verdict_is_used_without_starting_a_child(fake, tmp_path: Path) -> None:
    env = fake("raise")
    first = probe_runtimes(
        FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE,), state_dir=tmp_path, env=env
    )
    assert first.results[0].status == "failed" and not first.results[0].cached
    # Same name and version, but now a child would die by SIGSEGV: the cache must answer.
    crashing = textwrap.dedent(_FAKE_BODIES["segfault"])
    (tmp_path / "fake" / FAKE / "interpreter.py").write_text(crashing)
    again = probe_runtimes(
        FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE,), state_dir=tmp_path, env=env
    )
    assert again.results[0].cached and again.results[0].status == "failed"
    assert again.results[0].detail == first.results[0].detail
    # Without the cache the child runs, and crashes.
    fresh = probe_runtimes(
        FLOAT_MODEL,
        INPUTS,
        OUTPUTS,
        candidates=(FAKE,),
        state_dir=tmp_path,
        env=env,
        use_cache=False,
    )
    assert fresh.results[0].status == "crashed" and not fresh.results[0].cached


def test_a_corrupt_cache_is_ignored_and_rewritten(
    fake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = fake("raise")
    (tmp_path / CACHE_FILE).write_text('{"format": 1, "verdicts": {"torn')
    with caplog.at_level(logging.WARNING, logger="robot.inference.probe"):
        report = probe_runtimes(
            FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE,), state_dir=tmp_path, env=env
        )
    assert report.results[0].status == "failed" and not report.results[0].cached
    assert any("ignoring the TFLite probe cache" in m for m in caplog.messages)
    cache = json.loads((tmp_path / CACHE_FILE).read_text())
    assert cache["format"] == 1 and len(cache["verdicts"]) == 1


def test_a_runtime_that_is_not_installed_is_missing_without_a_child(tmp_path: Path) -> None:
    absent = [c for c in tflite_probe.CANDIDATES if installed_version(c) is None]
    if not absent:
        pytest.skip("every candidate runtime is installed in this venv")
    report = probe_runtimes(
        FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(absent[0],), state_dir=tmp_path
    )
    assert report == ProbeReport(report.results, None)
    assert report.results[0].status == "missing" and report.results[0].version is None


def test_the_state_dir_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("SIM2PI_STATE_DIR", "/var/lib/sim2pi")
    assert tflite_probe.default_state_dir() == Path("/var/lib/sim2pi")
    # Under systemd, StateDirectory= wins (the first of several).
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/sim2pi-robot:/var/lib/other")
    assert tflite_probe.default_state_dir() == Path("/var/lib/sim2pi-robot")
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.delenv("SIM2PI_STATE_DIR")
    assert tflite_probe.default_state_dir() == Path.home() / ".cache" / "sim2pi"


def test_bad_reference_data_is_refused_with_the_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"found shapes \(2, 3\) and \(1, 5\)"):
        probe_runtimes(FLOAT_MODEL, INPUTS, OUTPUTS[:1], state_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown TFLite runtime candidate 'onnx'"):
        probe_runtimes(FLOAT_MODEL, INPUTS, OUTPUTS, candidates=("onnx",), state_dir=tmp_path)
    manifest = {**MANIFEST, "models": {"float32": {"file": FLOAT_MODEL.name}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"models\.float32\.reference .* re-export"):
        probe_bundle(tmp_path, "float32", state_dir=tmp_path)


def test_the_table_marks_the_chosen_runtime() -> None:
    missing = tflite_probe.ProbeResult("tflite_runtime", None, "missing", "not installed")
    good = tflite_probe.ProbeResult("ai_edge_litert", "2.1.6", "ok", "8 outputs", 1.25, 0.0)
    lines = ProbeReport((missing, good), good).table()
    assert lines[0].startswith("  tflite_runtime") and lines[0].endswith("missing  not installed")
    assert lines[1].startswith("* ai_edge_litert") and "2.1.6" in lines[1] and "1.2 s" in lines[1]
    assert np.isfinite(good.max_abs_error)


# --- the child program itself -------------------------------------------------------------------


@needs_runtime
@pytest.mark.parametrize("model", ["float32", "int8"])
def test_the_child_reports_each_stage_then_the_reference_outputs(model: str) -> None:
    entry = MANIFEST["models"][model]
    reports: list[tuple[str, object]] = []
    request = {
        "candidate": REAL,
        "model": str(BUNDLE / entry["file"]),
        "inputs": entry["reference"]["inputs"],
    }
    probe_child.run_request(request, lambda kind, value: reports.append((kind, value)))
    stages = [value for kind, value in reports if kind == "stage"]
    assert stages == [f"import {REAL}", "Interpreter()", "allocate_tensors()", "invoke()"]
    kind, result = reports[-1]
    assert kind == "result" and isinstance(result, dict)
    step = result["step"]
    assert (step > 0) == (model == "int8")
    np.testing.assert_allclose(
        result["outputs"], entry["reference"]["outputs"], atol=max(step * 1.01, 1e-5)
    )


def _child(
    command: list[str], request: dict[str, object], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@needs_runtime
def test_the_child_program_runs_by_path_without_robot_importable(tmp_path: Path) -> None:
    # How the probe starts it: only the standard library, numpy and the runtime are needed.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    request = {"candidate": REAL, "model": str(FLOAT_MODEL), "inputs": INPUTS}
    child = _child([str(tflite_probe.CHILD_PROGRAM)], request, tmp_path, env)
    assert child.returncode == 0, child.stderr
    lines = [line for line in child.stdout.splitlines() if line.startswith(probe_child.MARK)]
    result = json.loads(lines[-1][len(probe_child.MARK) :])["result"]
    np.testing.assert_allclose(result["outputs"], OUTPUTS, atol=FLOAT_TOLERANCE)


def test_the_child_runs_as_a_module_and_fails_with_the_runtimes_error(fake, tmp_path: Path) -> None:
    env = fake("raise")
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join((env["PYTHONPATH"], root))
    request = {"candidate": FAKE, "model": str(FLOAT_MODEL), "inputs": INPUTS}
    child = _child(["-m", "robot.inference.probe_child"], request, tmp_path, env)
    assert child.returncode == 1
    assert "RuntimeWarning" not in child.stderr  # runpy: the package imported it first
    assert child.stdout.splitlines()[-1] == probe_child.MARK + '{"stage": "Interpreter()"}'
    assert "FULLY_CONNECTED" in child.stderr.strip().splitlines()[-1]


@needs_runtime
def test_the_probe_command_prints_the_table_per_model(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = ["-m", "robot.inference.probe", str(BUNDLE), "--state-dir", str(tmp_path)]
    child = _child(command, {}, tmp_path, env)
    assert child.returncode == 0, child.stderr
    assert "RuntimeWarning" not in child.stderr  # runpy: the package imported it first
    lines = child.stdout.splitlines()
    assert lines[0] == f"float32: chosen {REAL}" and f"int8: chosen {REAL}" in lines
    assert any(line.startswith(f"  * {REAL}") for line in lines)


def test_a_child_stopped_from_outside_is_interrupted_and_never_cached(fake, tmp_path: Path) -> None:
    # A Ctrl-C or systemd's SIGTERM during the first start must not refuse every later start.
    env = fake("sigterm")
    first = probe_runtimes(
        FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE,), state_dir=tmp_path, env=env
    )
    assert first.results[0].status == "interrupted", first.results[0]
    assert "killed by SIGTERM" in first.results[0].detail
    (tmp_path / "fake" / FAKE / "interpreter.py").write_text(textwrap.dedent(_FAKE_BODIES["raise"]))
    again = probe_runtimes(
        FLOAT_MODEL, INPUTS, OUTPUTS, candidates=(FAKE,), state_dir=tmp_path, env=env
    )
    assert not again.results[0].cached and again.results[0].status == "failed"

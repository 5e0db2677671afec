"""The TFLite runtime is chosen by building an interpreter, in a fixed order, and logged."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from robot import tflite
from robot.errors import TFLiteRuntimeError
from robot.tflite import FORCE_ENV, select_runtime
from shared.bundle import Bundle


def test_the_chosen_runtime_builds_an_interpreter_and_is_logged(
    bundle: Bundle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="robot.tflite"):
        runtime = select_runtime(bundle.file("policy.tflite"))
    forced = os.environ.get(FORCE_ENV)
    names = [name for name, _, _ in tflite.RUNTIMES]
    assert runtime.name == (forced or runtime.name)
    assert runtime.name in names
    assert f"TFLite runtime: {runtime.name} {runtime.version}" in caplog.text
    interpreter = runtime.interpreter(bundle.file("policy.tflite"))
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 3]


def test_unknown_forced_runtime_is_refused(bundle: Bundle) -> None:
    with pytest.raises(TFLiteRuntimeError, match=r"SIM2PI_TFLITE_RUNTIME='tfl': expected one of"):
        select_runtime(bundle.file("policy.tflite"), force="tfl")


def test_a_runtime_that_imports_but_cannot_build_is_skipped(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a flatbuffer")
    with pytest.raises(TFLiteRuntimeError) as info:
        select_runtime(garbage, force=os.environ.get(FORCE_ENV) or "ai_edge_litert")
    message = str(info.value)
    assert "cannot build an interpreter" in message or "not importable" in message
    assert "pip install" in message


def test_a_missing_runtime_falls_through_to_the_next(
    bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first candidate whose module does not exist is skipped with the reason recorded.
    monkeypatch.setattr(
        tflite, "RUNTIMES", (("absent", "sim2pi_no_such_module", ("x",)), *tflite.RUNTIMES)
    )
    monkeypatch.delenv(FORCE_ENV, raising=False)
    runtime = select_runtime(bundle.file("policy.tflite"))
    assert runtime.skipped[0].startswith("absent: not importable")
    assert runtime.name != "absent"

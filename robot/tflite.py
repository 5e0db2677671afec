"""Choosing a TFLite runtime: ai_edge_litert, then tflite_runtime, then tensorflow.lite.

An import that works is not enough (``tflite-runtime`` 2.14 imports under numpy 2 and then fails
inside ``Interpreter()``), so a runtime is only chosen once it has built an interpreter for a
model. ``SIM2PI_TFLITE_RUNTIME`` forces one (``ai_edge_litert``, ``tflite_runtime`` or
``tensorflow``); the CI venv with ``tflite-runtime`` 2.14 and numpy<2 uses it to prove the
fallback. TensorFlow is only imported here, lazily, and only when the other two are missing.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from robot.errors import TFLiteRuntimeError

_log = logging.getLogger(__name__)

#: Runtimes in the order they are tried: (name, module holding ``Interpreter``, distributions).
RUNTIMES = (
    ("ai_edge_litert", "ai_edge_litert.interpreter", ("ai-edge-litert",)),
    ("tflite_runtime", "tflite_runtime.interpreter", ("tflite-runtime",)),
    ("tensorflow", "tensorflow.lite", ("tensorflow-cpu", "tensorflow")),
)
FORCE_ENV = "SIM2PI_TFLITE_RUNTIME"


@dataclass(frozen=True)
class TFLiteRuntime:
    """A TFLite runtime that has proven it can build an interpreter."""

    name: str
    version: str
    interpreter_class: Callable[..., Any] = field(repr=False)
    #: Why each earlier candidate was passed over, in order.
    skipped: tuple[str, ...] = ()

    def interpreter(self, model_path: str | Path) -> Any:
        """An interpreter for ``model_path`` with its tensors allocated (one thread)."""
        interpreter = self.interpreter_class(model_path=str(model_path), num_threads=1)
        interpreter.allocate_tensors()
        return interpreter

    def describe(self) -> str:
        """One line for logs and ``robot check``."""
        return f"{self.name} {self.version}"


def _version(distributions: tuple[str, ...]) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def _import_interpreter(module_name: str) -> Callable[..., Any]:
    if module_name == "tensorflow.lite":
        # The last resort, for a laptop that has TensorFlow but neither lightweight runtime.
        import tensorflow as tf

        return tf.lite.Interpreter
    return importlib.import_module(module_name).Interpreter


def select_runtime(probe_model: str | Path, force: str | None = None) -> TFLiteRuntime:
    """The first runtime (or the forced one) that builds an interpreter for ``probe_model``.

    Args:
        probe_model: a ``.tflite`` file to build an interpreter for (the bundle's model).
        force: a runtime name from ``RUNTIMES``; default: the ``SIM2PI_TFLITE_RUNTIME`` variable.
    """
    if force is None:
        force = os.environ.get(FORCE_ENV) or None
    names = [name for name, _, _ in RUNTIMES]
    if force is not None and force not in names:
        raise TFLiteRuntimeError(
            f"{FORCE_ENV}={force!r}: expected one of {names}; unset it to try them in order"
        )
    skipped: list[str] = []
    for name, module_name, distributions in RUNTIMES:
        if force is not None and name != force:
            continue
        try:
            interpreter_class = _import_interpreter(module_name)
        except ImportError as exc:
            skipped.append(f"{name}: not importable ({exc})")
            continue
        try:
            probe = interpreter_class(model_path=str(probe_model), num_threads=1)
            probe.allocate_tensors()
        except Exception as exc:  # any failure here means "this runtime does not work here"
            skipped.append(f"{name}: imports but cannot build an interpreter ({exc!r})")
            _log.warning("TFLite runtime %s cannot build an interpreter: %r", name, exc)
            continue
        runtime = TFLiteRuntime(name, _version(distributions), interpreter_class, tuple(skipped))
        _log.info(
            "TFLite runtime: %s%s",
            runtime.describe(),
            f" (skipped: {'; '.join(skipped)})" if skipped else "",
        )
        return runtime
    wanted = f"the forced runtime {force!r}" if force else "any of " + ", ".join(names)
    raise TFLiteRuntimeError(
        f"no TFLite runtime works here: tried {wanted} with {probe_model}: {'; '.join(skipped)}. "
        "Install one: `pip install ai-edge-litert` (64-bit), or `pip install "
        "'tflite-runtime==2.14.*' 'numpy<2'` (32-bit Pi OS, Python <= 3.11)"
    )

"""Choosing a TFLite runtime: ai_edge_litert, then tflite_runtime (never TensorFlow: the
dependency rule of ``docs/architecture.md``).

``choose_runtime`` is the one way to choose, on the robot and in the laptop's exporter alike. An
import that works is not enough (``tflite-runtime`` 2.14 imports under numpy 2 and then fails
inside ``Interpreter()``), so a runtime is only chosen once it has run the model. The robot
(``probe=True``) goes further: it probes each candidate in a child process against the bundle's
reference outputs (``robot.inference.probe``), so that a build that segfaults inside
``Interpreter()`` is skipped instead of killing the runtime, and builds its interpreter with the
first that passes. The exporter's parity check (``probe=False``, its staged bundle has no
reference outputs yet) takes the first runtime that builds an interpreter and invokes it in its
own process. ``SIM2PI_TFLITE_RUNTIME`` forces one (``ai_edge_litert``, ``tflite_runtime``) and
skips the probe; the CI venv with ``tflite-runtime`` 2.14 and numpy<2 uses it to prove the
fallback. TensorFlow is never a candidate: the robot side does not import it
(requirements-pi.txt gives every platform one of the two runtimes).
"""

from __future__ import annotations

import importlib
import logging
import os
import platform
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from robot.errors import PolicyLoadError, TFLiteRuntimeError
from robot.inference import probe as tflite_probe
from robot.inference.model_file import model_problem
from robot.inference.probe import ProbeReport
from robot.inference.probe_child import build_interpreter
from shared.bundle import TensorInfo, read_manifest
from shared.errors import ManifestError
from shared.quiet import filtered_stderr

_log = logging.getLogger(__name__)

#: Runtimes in the order they are tried: (name, module holding ``Interpreter``, distributions).
RUNTIMES = (
    ("ai_edge_litert", "ai_edge_litert.interpreter", ("ai-edge-litert",)),
    ("tflite_runtime", "tflite_runtime.interpreter", ("tflite-runtime",)),
)
FORCE_ENV = "SIM2PI_TFLITE_RUNTIME"
#: This module's runtime name → the probe's candidate name (the probe names the module it uses).
PROBE_NAMES = {
    "ai_edge_litert": "ai_edge_litert",
    "tflite_runtime": "tflite_runtime",
}
#: The candidates the robot's probe tries, in order of preference (tests narrow it).
PROBE_CANDIDATES: tuple[str, ...] = tuple(PROBE_NAMES[name] for name, _, _ in RUNTIMES)
#: What a runtime prints straight to stderr from C++ (its minimal logger, which neither
#: ``TF_CPP_MIN_LOG_LEVEL`` nor any Python API silences), once per process, from the first
#: ``allocate_tensors()``: hidden unless ``--verbose`` (``shared.quiet``).
XNNPACK_NOISE: tuple[re.Pattern[str], ...] = (
    re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$"),
)


def runtime_exists(
    machine: str | None = None,
    pointer_bits: int | None = None,
    python: tuple[int, int] | None = None,
) -> bool:
    """Whether any TFLite runtime publishes wheels for this platform (see ``install_hint``)."""
    machine = platform.machine() if machine is None else machine
    bits = struct.calcsize("P") * 8 if pointer_bits is None else pointer_bits
    version = sys.version_info[:2] if python is None else python
    return not (bits == 32 and machine.startswith(("arm", "aarch")) and version > (3, 11))


def install_hint(
    machine: str | None = None,
    pointer_bits: int | None = None,
    python: tuple[int, int] | None = None,
) -> str:
    """What to install for a TFLite runtime on this platform, or why none exists for it.

    A 32-bit Python is 32-bit ARM whatever the kernel says: 32-bit Pi OS on a Pi 4/5's default
    64-bit kernel reports ``aarch64``. ai-edge-litert has wheels for 64-bit ARM and x86 only;
    tflite-runtime 2.14 (the last with 32-bit ARM wheels) for CPython <= 3.11 only.
    """
    machine = platform.machine() if machine is None else machine
    bits = struct.calcsize("P") * 8 if pointer_bits is None else pointer_bits
    major, minor = sys.version_info[:2] if python is None else python
    if not runtime_exists(machine, bits, (major, minor)):
        return (
            f"No TFLite runtime exists for 32-bit ARM with Python {major}.{minor}: ai-edge-litert "
            "has no 32-bit ARM wheels and tflite-runtime's last ones are for Python 3.11 "
            '(32-bit Pi OS Bookworm). Here use the bundle\'s Q-table (policy = "qtable" in '
            "[bundle]), or install the 64-bit Pi OS for TFLite policies"
        )
    if bits == 32 and machine.startswith(("arm", "aarch")):
        return "Install one: `pip install 'tflite-runtime==2.14.*' 'numpy<2'` (32-bit ARM)"
    return "Install one: `pip install ai-edge-litert` (64-bit ARM and x86, Python 3.10-3.14)"


@dataclass(frozen=True)
class TFLiteRuntime:
    """A TFLite runtime that has proven it can build an interpreter."""

    name: str
    version: str
    interpreter_class: Callable[..., Any] = field(repr=False)
    #: Why each earlier candidate was passed over, in order.
    skipped: tuple[str, ...] = ()
    #: The child-process probe that chose it (None: forced, or checked in-process).
    probe: ProbeReport | None = field(default=None, compare=False)

    def interpreter(self, model_path: str | Path) -> Any:
        """An interpreter for ``model_path`` with its tensors allocated (one thread; a quantised
        model on the built-in kernels: ``probe_child.build_interpreter``)."""
        interpreter = build_interpreter(self.interpreter_class, str(model_path))
        allocate_tensors(interpreter)
        return interpreter

    def describe(self) -> str:
        """One line for logs and ``robot check``."""
        return f"{self.name} {self.version}"


def allocate_tensors(interpreter: Any) -> None:
    """``interpreter.allocate_tensors()`` without the runtime's known noise (``XNNPACK_NOISE``)."""
    with filtered_stderr(XNNPACK_NOISE):
        interpreter.allocate_tensors()


def _version(distributions: tuple[str, ...]) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def _import_interpreter(module_name: str) -> Callable[..., Any]:
    return importlib.import_module(module_name).Interpreter


def choose_runtime(
    bundle_dir: str | Path,
    model: str,
    *,
    probe: bool,
    state_dir: str | Path | None = None,
    force: str | None = None,
    timeout_s: float = tflite_probe.DEFAULT_TIMEOUT_S,
) -> TFLiteRuntime:
    """The TFLite runtime for one model of a bundle: forced, else probed, else the first that runs.

    Args:
        bundle_dir: the bundle directory (its manifest names the model's file and reference data).
        model: the bundle's model kind, ``float32`` or ``int8``.
        probe: True on the robot: each candidate must reproduce the manifest's reference outputs
            in a child process (a bundle without them falls back to False, with a warning).
            False in the exporter: the first candidate that builds and invokes an interpreter
            in this process.
        state_dir: where the probe's verdicts are cached (the service's state directory);
            default ``robot.inference.probe.default_state_dir()``.
        force: a runtime name from ``RUNTIMES``; default: the ``SIM2PI_TFLITE_RUNTIME`` variable.
            A forced runtime is never probed.
        timeout_s: seconds one probe child may take before it counts as hung.
    """
    manifest = Path(bundle_dir) / "manifest.json"
    entry = _manifest_model(bundle_dir, model)
    model_path = Path(bundle_dir) / str(entry.get("file", ""))
    # On the robot, a model no runtime can run is checked for being the cause itself.
    blame = entry if probe else None
    if force is None:
        force = os.environ.get(FORCE_ENV) or None
    if force is not None and probe:
        _log.info("TFLite runtime forced by %s=%s: not probing", FORCE_ENV, force)
    if force is not None or not probe:
        return _first_that_runs(model_path, force, blame)
    reference = entry.get("reference")
    if not isinstance(reference, dict) or not {"inputs", "outputs"} <= reference.keys():
        # An older bundle: nothing to compare with, so a child cannot judge the outputs.
        _log.warning(
            "%s: models.%s has no reference inputs/outputs (exported by an older trainer); "
            "choosing the TFLite runtime in-process by building and invoking an interpreter "
            "(a runtime that segfaults would take the robot down: re-export the bundle)",
            manifest,
            model,
        )
        return _first_that_runs(model_path, None, blame)
    state = Path(state_dir) if state_dir is not None else tflite_probe.default_state_dir()
    return _probed(bundle_dir, entry, model_path, state, timeout_s)


def _probed(
    bundle_dir: str | Path,
    entry: dict[str, Any],
    model_path: Path,
    state_dir: Path,
    timeout_s: float,
) -> TFLiteRuntime:
    """The first of ``PROBE_CANDIDATES`` that passes the child-process probe of the model."""
    reference = entry["reference"]
    report = tflite_probe.probe_runtimes(
        model_path,
        reference["inputs"],
        reference["outputs"],
        candidates=PROBE_CANDIDATES,
        timeout_s=timeout_s,
        state_dir=state_dir,
    )
    if report.chosen is None:
        tried = [f"{r.candidate} {r.version}: {r.status}: {r.detail}" for r in report.results]
        if (broken := broken_model(model_path, entry, tried)) is not None:
            raise broken
        table = "\n".join(report.table())
        raise TFLiteRuntimeError(
            f"no TFLite runtime reproduces {model_path}'s reference outputs (probed in child "
            f"processes; verdicts cached in {state_dir / tflite_probe.CACHE_FILE}):\n"
            f"{table}\n{install_hint()}; or, after changing what is installed, probe again with "
            f"`python -m robot.inference.probe {bundle_dir} --state-dir {state_dir} --no-cache`"
        )
    name = next(n for n, c in PROBE_NAMES.items() if c == report.chosen.candidate)
    module_name, distributions = next((m, d) for n, m, d in RUNTIMES if n == name)
    skipped = tuple(
        f"{r.candidate}: {r.status}: {r.detail}" for r in report.results if r is not report.chosen
    )
    runtime = TFLiteRuntime(
        name, _version(distributions), _import_interpreter(module_name), skipped, report
    )
    _log.info(
        "TFLite runtime: %s (probe%s)",
        runtime.describe(),
        ", cached" if report.chosen.cached else f" {report.chosen.elapsed_s:.2f} s",
    )
    return runtime


def _first_that_runs(
    model_path: Path, force: str | None, blame: dict[str, Any] | None = None
) -> TFLiteRuntime:
    """The first runtime of ``RUNTIMES`` (or ``force``) that builds and invokes ``model_path``.

    ``blame``: the model's manifest entry, to check the model itself when none runs it.
    """
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
            _build_and_invoke(interpreter_class, model_path)
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
    if blame is not None and (broken := broken_model(model_path, blame, skipped)) is not None:
        raise broken
    wanted = f"the forced runtime {force!r}" if force else "any of " + ", ".join(names)
    raise TFLiteRuntimeError(
        f"no TFLite runtime works here: tried {wanted} with {model_path}: {'; '.join(skipped)}. "
        + install_hint()
    )


def broken_model(
    model_path: Path, entry: dict[str, Any], tried: list[str]
) -> PolicyLoadError | None:
    """The error for a model file that is itself why no runtime runs it, or None if it looks
    whole and as the manifest describes it (then the runtimes are to blame).

    Args:
        model_path: the ``.tflite`` file.
        entry: its manifest entry (``input`` and ``output`` are compared with the file's).
        tried: what each runtime made of it, for the message.
    """
    problem = model_problem(model_path, _tensor(entry, "input"), _tensor(entry, "output"))
    if problem is None:
        return None
    reasons = "; ".join(t for t in tried if "not installed" not in t and "not importable" not in t)
    seen = f"runtimes: {reasons}" if reasons else f"no runtime tried it either: {install_hint()}"
    return PolicyLoadError(
        f"{model_path}: the model file is broken: {problem} ({seen}); re-export the bundle "
        "(`python -m trainer export`) and copy the whole directory to the robot again"
    )


def _tensor(entry: dict[str, Any], key: str) -> TensorInfo | None:
    """The manifest's ``input`` or ``output`` tensor of a model, or None if it has none usable."""
    try:
        return TensorInfo.from_dict(entry.get(key), key)
    except ManifestError:
        return None


def _manifest_model(bundle_dir: str | Path, model: str) -> dict[str, Any]:
    """The manifest's entry for ``model`` (the bundle was verified before: only shape matters)."""
    manifest = read_manifest(bundle_dir)
    models = manifest.get("models", {})
    models = models if isinstance(models, dict) else {}
    entry = models.get(model)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise TFLiteRuntimeError(
            f"{Path(bundle_dir) / 'manifest.json'}: no {model!r} model with a file (models: "
            f"{sorted(models)}); choose another policy in [bundle] or re-export the bundle"
        )
    return entry


def _build_and_invoke(interpreter_class: Callable[..., Any], model_path: str | Path) -> None:
    """Build an interpreter for ``model_path`` and run one inference on zeros; raise if it fails."""
    interpreter = build_interpreter(interpreter_class, str(model_path))
    allocate_tensors(interpreter)
    for details in interpreter.get_input_details():
        interpreter.set_tensor(details["index"], np.zeros(details["shape"], details["dtype"]))
    interpreter.invoke()

"""Probing TFLite runtimes in short-lived child processes, so that a crashing build cannot crash us.

Some TFLite builds die inside ``Interpreter()`` instead of raising (``ai-edge-litert`` 2.2 and 2.3
segfault under arm64 emulation), and a segfault cannot be caught in-process. So each candidate
builds an interpreter for the model and runs the reference inputs in a child process
(``robot.inference.probe_child``); a candidate that is not installed, crashes (killed by a
signal), hangs (past ``timeout_s``), fails (raises) or gives outputs other than the reference
is skipped with a log line naming it and why. Verdicts are cached per (runtime, its version,
numpy's version, Python, machine, model sha256) as JSON in the state directory, so a later
start-up does not pay for the children again. Only the standard library and numpy are used here.

Run as ``python -m robot.inference.probe BUNDLE_DIR`` to print the table for each model of a bundle.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from robot.inference import probe_child
from robot.systemd.directories import state_directory
from shared.bundle import FILE_LIMITS, read_bundle, read_manifest, sha256_file
from shared.errors import BundleFileMissingError, ManifestError, Sim2PiError
from shared.files import KIB, FileLimits

_log = logging.getLogger(__name__)

#: Candidates in the order they are preferred.
CANDIDATES = ("ai_edge_litert", "tflite_runtime")
#: Candidate → (top-level module, distributions that may provide it).
_DISTRIBUTIONS = {
    "ai_edge_litert": ("ai_edge_litert", ("ai-edge-litert",)),
    "tflite_runtime": ("tflite_runtime", ("tflite-runtime",)),
}
#: Seconds one child may take to import its runtime, build an interpreter and run the inputs;
#: generous because importing a runtime on a Pi Zero 2 (or under qemu) takes seconds.
DEFAULT_TIMEOUT_S = 60.0
#: Float outputs must match the reference within this (absolute and relative): runtimes differ
#: only by float rounding (XNNPACK vs reference kernels), which is far below 1e-4 for a policy.
FLOAT_TOLERANCE = 1e-4
#: Quantised outputs (dequantised) must match within this many quantisation steps.
QUANTISED_TOLERANCE_STEPS = 1.0
STATE_DIR_ENV = "SIM2PI_STATE_DIR"
CACHE_FILE = "tflite-probe.json"
_CACHE_FORMAT = 1
#: Verdicts worth caching: the runtime itself decided them. A hang may be a busy machine at boot
#: and a missing runtime costs nothing to re-check, so those are probed again next time.
_CACHED_STATUSES = ("ok", "crashed", "failed", "mismatch")
#: Signals that stop a child from outside; a child they end is ``interrupted``, not cached.
_STOPPED_BY = frozenset(
    int(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL, signal.SIGQUIT)
)
#: The verdict cache: ~400 bytes a verdict, so room for a thousand models × runtimes. A cache
#: that is not a small regular JSON file is ignored (with a warning) and rebuilt.
CACHE_LIMITS = FileLimits(
    "TFLite probe cache", max_bytes=512 * KIB, fix="probing afresh", error=ValueError
)

#: The child program (``robot.inference.probe_child``), run by path: see its docstring.
CHILD_PROGRAM = Path(probe_child.__file__)


@dataclass(frozen=True)
class ProbeResult:
    """What one candidate runtime did with the model in its child process."""

    candidate: str
    #: The installed distribution's version, or None when the candidate is not installed.
    version: str | None
    #: ``ok``, ``missing``, ``crashed``, ``hung``, ``failed`` (raised), ``mismatch`` or
    #: ``interrupted`` (stopped from outside: SIGINT, SIGTERM, …; never cached).
    status: str
    #: Why, for a person: the signal and the stage it hit, the exception, the largest error.
    detail: str
    #: Wall-clock seconds the child took (0 for a cached or missing candidate).
    elapsed_s: float = 0.0
    #: The largest absolute difference from the reference outputs, when the model ran.
    max_abs_error: float | None = None
    #: True when this verdict came from the state directory's cache, not from a child.
    cached: bool = False

    @property
    def ok(self) -> bool:
        """Whether this runtime built an interpreter and reproduced the reference outputs."""
        return self.status == "ok"

    def describe(self) -> str:
        """One table row for logs and ``robot check``."""
        version = self.version or "-"
        source = (
            ", cached" if self.cached else f", {self.elapsed_s:.1f} s" if self.elapsed_s else ""
        )
        return f"{self.candidate:<16} {version:<10} {self.status:<8} {self.detail}{source}"


@dataclass(frozen=True)
class ProbeReport:
    """Every candidate's result, in the order tried, and the one chosen (the first that is ok)."""

    results: tuple[ProbeResult, ...]
    chosen: ProbeResult | None

    def table(self) -> list[str]:
        """The results as lines, the chosen one marked with ``*``."""
        return [("* " if r is self.chosen else "  ") + r.describe() for r in self.results]


def default_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where verdicts are cached: ``$STATE_DIRECTORY`` (a service), else ``$SIM2PI_STATE_DIR``,
    else ``~/.cache/sim2pi``."""
    state = state_directory(environ)
    if state is not None:
        return state
    configured = environ.get(STATE_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "sim2pi"


def installed_version(candidate: str) -> str | None:
    """The candidate's distribution version if its module can be found, without importing it."""
    if candidate not in _DISTRIBUTIONS:
        raise ValueError(f"unknown TFLite runtime candidate {candidate!r}; expected {CANDIDATES}")
    module, distributions = _DISTRIBUTIONS[candidate]
    if importlib.util.find_spec(module) is None:
        return None
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"  # importable, but not from an installed distribution (a source tree)


def probe_runtimes(
    model_path: str | Path,
    reference_inputs: Sequence[Sequence[float]] | np.ndarray,
    reference_outputs: Sequence[Sequence[float]] | np.ndarray,
    *,
    candidates: Sequence[str] = CANDIDATES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    state_dir: str | Path | None = None,
    use_cache: bool = True,
    env: Mapping[str, str] | None = None,
) -> ProbeReport:
    """Probe each candidate in a child process; the first that reproduces the reference is chosen.

    Args:
        model_path: the ``.tflite`` file (float32, or quantised with float-scaled reference data).
        reference_inputs: one row per inference, the model's float input (normalised).
        reference_outputs: one row per inference, the expected float (dequantised) output.
        candidates: runtimes to try, in order of preference (see ``CANDIDATES``).
        timeout_s: seconds a child may take before it counts as hung and is killed.
        state_dir: where the verdict cache lives; default ``default_state_dir()``.
        use_cache: read and write cached verdicts (False: probe every candidate afresh).
        env: the children's environment; default this process's.
    """
    model_path = Path(model_path)
    try:
        inputs = np.asarray(reference_inputs, dtype=np.float64)
        expected = np.asarray(reference_outputs, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ManifestError(f"reference inputs and outputs: expected numbers ({exc})") from None
    if inputs.ndim != 2 or expected.ndim != 2 or len(inputs) != len(expected) or not len(inputs):
        raise ManifestError(
            f"reference inputs and outputs must be 2-D with one row per inference and the same "
            f"number of rows (at least one); found shapes {inputs.shape} and {expected.shape}"
        )
    try:
        model_sha256 = sha256_file(model_path, FILE_LIMITS)
    except FileNotFoundError:
        raise BundleFileMissingError(
            f"{model_path}: no such model file; copy the whole bundle directory"
        ) from None
    cache_path = Path(state_dir or default_state_dir()) / CACHE_FILE
    cache = _read_cache(cache_path) if use_cache else {}
    results: list[ProbeResult] = []
    chosen: ProbeResult | None = None
    for candidate in candidates:
        version = installed_version(candidate)
        key = _cache_key(candidate, version, model_sha256)
        if version is None:
            result = ProbeResult(candidate, None, "missing", "not installed")
        elif key in cache:
            result = ProbeResult(**{**cache[key], "cached": True})
        else:
            result = _probe_child(
                candidate,
                version,
                model_path=model_path,
                inputs=inputs,
                expected=expected,
                timeout_s=timeout_s,
                env=env,
            )
            if use_cache and result.status in _CACHED_STATUSES:
                cache[key] = asdict(result)
                _write_cache(cache_path, cache)
        results.append(result)
        if result.ok:
            chosen = result
            break
        # Not installed is the normal case for all but one runtime: not worth a warning.
        level = logging.INFO if result.status == "missing" else logging.WARNING
        _log.log(
            level, "TFLite runtime %s skipped: %s: %s", candidate, result.status, result.detail
        )
    if chosen is not None:
        _log.info(
            "TFLite runtime %s %s reproduces %s", chosen.candidate, chosen.version, model_path
        )
    return ProbeReport(tuple(results), chosen)


def probe_bundle(
    bundle_dir: str | Path,
    model: str = "float32",
    *,
    candidates: Sequence[str] = CANDIDATES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    state_dir: str | Path | None = None,
    use_cache: bool = True,
) -> ProbeReport:
    """``probe_runtimes`` for one model of a bundle, with its manifest's reference data."""
    manifest_path = Path(bundle_dir) / "manifest.json"
    manifest = read_manifest(bundle_dir)  # bounded; read_bundle verifies the rest
    models = manifest.get("models")
    models = models if isinstance(models, dict) else {}
    entry = models.get(model)
    reference = entry.get("reference") if isinstance(entry, dict) else None
    if not isinstance(reference, dict) or not {"inputs", "outputs"} <= reference.keys():
        raise ManifestError(
            f"{manifest_path}: models.{model}.reference with 'inputs' and 'outputs' is needed to "
            f"probe a runtime; found models {sorted(models)} and "
            f"{'no reference' if not isinstance(reference, dict) else sorted(reference)}; "
            "re-export the bundle with a trainer that records reference data"
        )
    return probe_runtimes(
        Path(bundle_dir) / str(entry.get("file")),
        reference["inputs"],
        reference["outputs"],
        candidates=candidates,
        timeout_s=timeout_s,
        state_dir=state_dir,
        use_cache=use_cache,
    )


def _cache_key(candidate: str, version: str | None, model_sha256: str) -> str:
    # numpy's version is part of it: tflite-runtime 2.14 works with numpy 1.x and not with 2.x.
    return (
        f"{candidate}={version}|numpy={np.__version__}|python={platform.python_version()}"
        f"|{platform.machine()}|{model_sha256}"
    )


def _probe_child(
    candidate: str,
    version: str,
    *,
    model_path: Path,
    inputs: np.ndarray,
    expected: np.ndarray,
    timeout_s: float,
    env: Mapping[str, str] | None,
) -> ProbeResult:
    request = json.dumps(
        {"candidate": candidate, "model": str(model_path.resolve()), "inputs": inputs.tolist()}
    )
    start = time.monotonic()
    try:
        child = subprocess.run(
            [sys.executable, str(CHILD_PROGRAM)],
            input=request,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stage = _last_stage(exc.stdout)
        detail = f"no answer within {timeout_s:g} s (at {stage}); killed"
        return ProbeResult(candidate, version, "hung", detail, time.monotonic() - start)
    elapsed_s = time.monotonic() - start
    stage = _last_stage(child.stdout)
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        detail = f"killed by {name} (signal {-child.returncode}) inside {stage}"
        # Stopped from outside (Ctrl-C, systemd's SIGTERM to the unit, the OOM killer) says
        # nothing about the runtime: not a crash, and never cached as one.
        status = "interrupted" if -child.returncode in _STOPPED_BY else "crashed"
        return ProbeResult(candidate, version, status, detail, elapsed_s)
    result = _marked(child.stdout, "result")
    if child.returncode != 0 or result is None:
        error = (child.stderr.strip().splitlines() or ["no error output"])[-1]
        if error.startswith("KeyboardInterrupt"):  # a SIGINT that Python turned into this
            detail = f"interrupted (SIGINT) at {stage}"
            return ProbeResult(candidate, version, "interrupted", detail, elapsed_s)
        detail = f"exit code {child.returncode} at {stage}: {error}"
        return ProbeResult(candidate, version, "failed", detail, elapsed_s)
    outputs = np.asarray(result["outputs"], dtype=np.float64)
    if outputs.shape != expected.shape:
        detail = f"outputs of shape {outputs.shape}, reference {expected.shape}"
        return ProbeResult(candidate, version, "mismatch", detail, elapsed_s)
    error = float(np.max(np.abs(outputs - expected)))
    step = float(result["step"])
    if step > 0:
        allowed = QUANTISED_TOLERANCE_STEPS * step * (1 + 1e-6)
        within = error <= allowed
        tolerance = f"{QUANTISED_TOLERANCE_STEPS:g} step = {allowed:.3g}"
    else:
        within = bool(np.allclose(outputs, expected, rtol=FLOAT_TOLERANCE, atol=FLOAT_TOLERANCE))
        tolerance = f"{FLOAT_TOLERANCE:g} abs + rel"
    status = "ok" if within else "mismatch"
    detail = f"{len(outputs)} reference outputs, max |error| {error:.3g} (tolerance {tolerance})"
    return ProbeResult(candidate, version, status, detail, elapsed_s, error)


def _marked(stdout: str | bytes | None, kind: str) -> object | None:
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    found = None
    for line in (stdout or "").splitlines():
        if line.startswith(probe_child.MARK):
            try:
                message = json.loads(line[len(probe_child.MARK) :])
            except json.JSONDecodeError:
                continue
            if kind in message:
                found = message[kind]
    return found


def _last_stage(stdout: str | bytes | None) -> str:
    stage = _marked(stdout, "stage")
    return str(stage) if stage is not None else "start-up"


def _read_cache(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = CACHE_LIMITS.load_json(path)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        _log.warning("ignoring the TFLite probe cache %s (%s); probing afresh", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("format") != _CACHE_FORMAT:
        _log.warning("ignoring the TFLite probe cache %s: not format %d", path, _CACHE_FORMAT)
        return {}
    verdicts = data.get("verdicts")
    return dict(verdicts) if isinstance(verdicts, dict) else {}


def _write_cache(path: Path, verdicts: Mapping[str, object]) -> None:
    # Write a temporary file and rename it, so a crash mid-write never leaves a torn cache.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=path.name, suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            json.dump({"format": _CACHE_FORMAT, "verdicts": verdicts}, handle, indent=1)
        os.replace(handle.name, path)
    except OSError as exc:
        _log.warning(
            "cannot write the TFLite probe cache %s (%s); start-up will re-probe", path, exc
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m robot.inference.probe BUNDLE``: the probe table for each model of a bundle."""
    parser = argparse.ArgumentParser(
        prog="python -m robot.inference.probe",
        description="Probe each TFLite runtime in a child process against a bundle's reference "
        "outputs; exit 0 only if one reproduces every model.",
    )
    parser.add_argument("bundle", type=Path, help="a bundle directory")
    parser.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S)
    parser.add_argument("--state-dir", type=Path, default=None, help="verdict cache directory")
    parser.add_argument("--no-cache", action="store_true", help="probe every candidate afresh")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        models = read_bundle(args.bundle).models
        reports = {
            model: probe_bundle(
                args.bundle,
                model,
                timeout_s=args.timeout_s,
                state_dir=args.state_dir,
                use_cache=not args.no_cache,
            )
            for model in models
        }
    except Sim2PiError as exc:  # the bundle's fault: one line, as `python -m robot` says it
        print(exc, file=sys.stderr)
        return 2
    status = 0
    for model, report in reports.items():
        print(f"{model}: {'chosen ' + report.chosen.candidate if report.chosen else 'NONE works'}")
        for line in report.table():
            print("  " + line)
        status |= report.chosen is None
    if status:
        from robot.inference.tflite_runtimes import install_hint  # imports this module

        print(install_hint())
    return int(status)


if __name__ == "__main__":
    raise SystemExit(main())

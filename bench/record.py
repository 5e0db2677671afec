"""What every benchmark records beside its figures: machine, versions, command, load average.

A benchmark calls :func:`environment` when it starts, :func:`print_environment` to show it,
:func:`finish` when it is done, and :func:`write_json` to write its figures with the record to
``docs/benchmarks/data/<name>.json`` (``scripts/bench_docs`` renders the tables from there)::

    env = record.environment(argv, prog="scripts/bench_world")
    record.print_environment(env)
    ...
    record.write_json("world", {"results": ...}, record.finish(env))

The machine part names the CPU flags that pick numeric code paths (oneDNN/Eigen/XNNPACK kernels
are chosen by them), and a hash of the full flag list: figures that depend on those kernels are
bit-identical only between machines whose flags and versions match (docs/benchmarks/README.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "docs/benchmarks/data"
#: Where a benchmark run by hand writes its JSON (git-ignored); scripts/bench_docs passes DATA_DIR.
SCRATCH_DIR = ROOT / "runs/bench"

#: Distributions whose versions a benchmark's figures can depend on (absent ones are left out).
DISTRIBUTIONS = (
    "numpy",
    "scipy",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "gymnasium",
    "ai-edge-litert",
    "tflite-runtime",
    "gpiozero",
)
#: Environment variables that change numeric code paths or thread counts (recorded set or not).
ENV_VARS = (
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_XLA_FLAGS",
    "TF_DETERMINISTIC_OPS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PYTHONHASHSEED",
)
#: CPU flags (x86 and Arm) that select SIMD kernels; any flag starting with a prefix counts.
FLAG_PREFIXES = ("avx512", "amx", "sve")
FLAGS = frozenset(
    {"sse2", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni"}
    | {"neon", "vfpv4", "asimd", "asimdhp", "asimddp", "asimdfhm", "fphp", "i8mm", "bf16"}
)


def cpu_info() -> tuple[str, list[str]]:
    """The CPU's model name and its full flag list (``/proc/cpuinfo`` on Linux, x86 or Arm)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    # x86: "model name" ("model" is a number there); a Pi: "Model"; other Arm: "CPU part".
    model = fields.get("model name") or fields.get("Model")
    if not model and "CPU part" in fields:
        model = f"Arm CPU part {fields['CPU part']}"
    flags = (fields.get("flags") or fields.get("Features") or "").split()
    return model or platform.processor(), flags


def numeric_flags(flags: list[str]) -> list[str]:
    """The flags that pick numeric code paths: SSE/AVX/AVX-512/AMX/FMA, NEON/ASIMD/SVE."""
    return sorted(f for f in set(flags) if f in FLAGS or f.startswith(FLAG_PREFIXES))


def flags_hash(flags: list[str]) -> str:
    """A short hash of the whole flag list: equal hashes, equal flags."""
    return hashlib.sha256(" ".join(sorted(set(flags))).encode()).hexdigest()[:12]


def machine() -> dict[str, Any]:
    """The CPU model and flags, the cores (all and usable by this process), memory, platform."""
    model, flags = cpu_info()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "arch": platform.machine(),
        "cpu_model": model,
        "cpu_flags": numeric_flags(flags),
        "cpu_flags_hash": flags_hash(flags),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    """Python's version and those of :data:`DISTRIBUTIONS` that are installed (nothing imported)."""
    out = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_state() -> dict[str, Any]:
    """The checkout's commit and whether tracked files differ from it (``None`` outside git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def environment(argv: list[str], *, prog: str | None = None) -> dict[str, Any]:
    """The record of a benchmark run that starts now, with arguments ``argv`` (without the
    program; ``prog`` names it, default ``sys.argv[0]`` relative to the working directory)."""
    prog = prog or _relative(sys.argv[0])
    return {
        "command": shlex.join([prog, *argv]),
        "cwd": _relative(os.getcwd(), ROOT) or ".",
        "git": git_state(),
        "machine": machine(),
        "versions": versions(),
        "env_vars": {name: os.environ.get(name) for name in ENV_VARS},
        "started_utc": _now(),
        "load_average_start": _load(),
    }


def finish(env: dict[str, Any]) -> dict[str, Any]:
    """``env`` with the end time, the elapsed seconds and the load average at the end."""
    end = _now()
    elapsed = dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(env["started_utc"])
    return env | {
        "finished_utc": end,
        "elapsed_s": round(elapsed.total_seconds(), 1),
        "load_average_end": _load(),
    }


def print_environment(env: dict[str, Any], file: TextIO | None = None) -> None:
    """A few lines: command and commit, machine, versions, thread settings, load average."""
    m, g = env["machine"], env["git"]
    commit = (g["commit"] or "no git")[:10] + (" (dirty)" if g["dirty"] else "")
    cores = f"{m['logical_cores']} logical cores ({m['usable_cores']} usable)"
    flags = " ".join(f for f in m["cpu_flags"] if not f.startswith("avx512")) + (
        f" +{sum(f.startswith('avx512') for f in m['cpu_flags'])} avx512*"
        if any(f.startswith("avx512") for f in m["cpu_flags"])
        else ""
    )
    settings = {k: v for k, v in env["env_vars"].items() if v is not None}
    lines = [
        f"command: {env['command']}  [at {commit}, started {env['started_utc']}]",
        f"machine: {m['arch']} {m['cpu_model']}, {cores}, {m['memory_gib']} GiB; {m['platform']}",
        f"cpu flags: {flags} [hash {m['cpu_flags_hash']}]",
        "versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
        f"env: {settings or 'no thread/oneDNN settings'}; "
        f"load average {' '.join(f'{x:.2f}' for x in env['load_average_start'])}",
    ]
    print("\n".join(lines), file=file or sys.stdout, flush=True)


def write_json(
    name: str, payload: dict[str, Any], env: dict[str, Any], out_dir: Path | None = None
) -> Path:
    """Write ``payload`` with ``env`` (finished now if it was not) to ``<out_dir>/<name>.json``
    (default ``docs/benchmarks/data``), atomically; return the path."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"a benchmark name is a plain file stem, not {name!r}")
    if "finished_utc" not in env:
        env = finish(env)
    out_dir = DATA_DIR if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    text = json.dumps({"benchmark": name, **payload, "environment": env}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _relative(path: str, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default the working directory) when it is under it."""
    try:
        return str(Path(path).resolve().relative_to((base or Path.cwd()).resolve()))
    except ValueError:
        return path


def _memory_gib() -> float | None:
    """Total memory in GiB from ``/proc/meminfo`` (``None`` where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _load() -> list[float]:
    """The 1-, 5- and 15-minute load averages (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _now() -> str:
    """UTC now, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()

"""Figures of the exporter: sizes, agreement, returns, decision latency and export time per run.

``python -m bench.export_figures RUN_DIR[:best|last]...`` exports each run with ``--int8
--qtable`` (the compact model chosen as ``--int8-mode`` says, default auto; float32's bar off,
so a run below it is still measured) into a temporary directory, and beside it today's default
before 2026-12-07, the full-int8 model (its bar off too), then plays ``--episodes`` evaluation
episodes of every policy of both bundles through the robot's code (``eval-bundle``) and times
``decide`` (p50 µs, ``robot bench``'s helper). Prints Markdown tables and writes the figures,
with the machine, versions, command and load average, to ``runs/bench/export.json`` (or
``--json-dir``). ``scripts/bench_export`` runs it in the dev venv.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import record
from trainer.export.exporter import ExportOptions, export_run
from trainer.export.parity import ParityError

HEADER = (
    "| run | mode (gate) | float32 / int8 / full-int8 bytes | int8 / full-int8 agreement "
    "| return float32 / int8 / full-int8 | decide p50 µs float32 / int8 / full-int8 "
    "| Q-table (bins, visited) | Q-table bytes | Q-table agreement / return | export s |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def _export(run_dir: Path, out: Path, checkpoint: str, **changes: Any) -> dict[str, Any]:
    """Export and return the manifest, or ``{"error": ...}`` when a gate refuses it."""
    changes.setdefault("min_agreement", {"float32": 0.0})
    options = ExportOptions(int8=True, qtable=True, checkpoint=checkpoint, **changes)
    try:
        result = export_run(run_dir, out, options, log=lambda _: None)
    except ParityError as exc:
        return {"error": str(exc)}
    return {**result.bundle.manifest, "seconds": result.seconds}


def _measure(bundle_dir: Path, episodes: int, decisions: int) -> dict[str, Any]:
    """Mean returns and decision latency (p50 µs) of every policy in the bundle."""
    from robot.cli.bench import decision_latency_us
    from shared.bundle import read_bundle
    from trainer.export.bundle_eval import evaluate_bundle

    figures: dict[str, Any] = {"returns": {}, "decide_p50_us": {}}
    if episodes > 0:
        evaluation = evaluate_bundle(bundle_dir, episodes)
        figures["returns"] = {k: v.as_dict()["mean"] for k, v in evaluation.results.items()}
    bundle = read_bundle(bundle_dir)
    for name in ("tflite", "tflite-int8"):
        figures["decide_p50_us"][name] = decision_latency_us(bundle, name, decisions)[0]
    return figures


def bench_run(
    spec: str, *, int8_mode: str, auto_bins: bool, episodes: int, decisions: int
) -> dict[str, Any]:
    """Both exports of one ``RUN_DIR[:checkpoint]`` and their measurements."""
    run_text, _, checkpoint = spec.partition(":")
    run_dir, checkpoint = Path(run_text), checkpoint or "best"
    figures: dict[str, Any] = {"run": run_text, "checkpoint": checkpoint}
    with tempfile.TemporaryDirectory(prefix="sim2pi-bench-export-") as tmp:
        for label, changes in (
            ("chosen", {"int8_mode": int8_mode, "auto_bins": auto_bins}),
            ("full_int8", {"int8_mode": "full-int8", "min_agreement": {"float32": 0.0, "int8": 0}}),
        ):
            out = Path(tmp) / label
            manifest = _export(run_dir, out, checkpoint, **changes)
            if "error" not in manifest:
                manifest["measured"] = _measure(out, episodes, decisions)
            figures[label] = manifest
    return figures


def _row(figures: dict[str, Any]) -> str:
    """One Markdown row."""
    chosen, full = figures["chosen"], figures["full_int8"]
    name = f"{Path(figures['run']).name} ({figures['checkpoint']})"
    if "error" in chosen:
        return f"| {name} | refused: {chosen['error']} |" + " |" * 8
    files, p = chosen["files"], chosen["parity"]
    full_files, fp = full.get("files", {}), full.get("parity", {})
    ret, full_ret = chosen["measured"]["returns"], full.get("measured", {}).get("returns", {})
    lat, full_lat = chosen["measured"]["decide_p50_us"], full["measured"]["decide_p50_us"]
    q = p["qtable"]

    def num(value: float | None, fmt: str = ".2f") -> str:
        return "—" if value is None else format(value, fmt)

    return (
        f"| {name} | {p['int8']['quantization']} ({p['int8']['gate']}) "
        f"| {files['policy.tflite']['bytes']:,} / {files['policy_int8.tflite']['bytes']:,} / "
        f"{full_files['policy_int8.tflite']['bytes']:,} "
        f"| {p['int8']['agreement']:.2%} / {fp['int8']['agreement']:.2%} "
        f"| {num(ret.get('tflite'))} / {num(ret.get('tflite-int8'))} / "
        f"{num(full_ret.get('tflite-int8'))} "
        f"| {lat['tflite']:.1f} / {lat['tflite-int8']:.1f} / {full_lat['tflite-int8']:.1f} "
        f"| {'×'.join(map(str, q['bins']))}, {q['bins_visited'] / q['grid_states']:.0%} "
        f"| {files['qtable.npy']['bytes']:,} | {q['agreement']:.2%} / {num(ret.get('qtable'))} "
        f"| {chosen['seconds']:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the figures table for the given run directories and write them as JSON."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="scripts/bench_export", description=__doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR[:best|last]")
    parser.add_argument("--int8-mode", default="auto", help="as export's (default auto)")
    parser.add_argument("--bins", choices=("preset", "auto"), default="auto")
    parser.add_argument("--episodes", type=int, default=100, help="eval-bundle episodes")
    parser.add_argument("--decisions", type=int, default=5_000, help="timed decide() calls")
    parser.add_argument("--json-dir", type=Path, default=record.SCRATCH_DIR)
    args = parser.parse_args(argv)
    env = record.environment(argv, prog="scripts/bench_export")
    record.print_environment(env)
    print(HEADER)
    results = []
    for spec in args.runs:
        figures = bench_run(
            spec,
            int8_mode=args.int8_mode,
            auto_bins=args.bins == "auto",
            episodes=args.episodes,
            decisions=args.decisions,
        )
        results.append(figures)
        print(_row(figures), flush=True)
    path = record.write_json("export", {"results": results}, env, args.json_dir)
    print(f"figures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

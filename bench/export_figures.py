"""Figures of the exporter: bundle sizes, greedy agreement and export time per run.

``python -m bench.export_figures RUN_DIR...`` exports each run with ``--int8 --qtable`` into a
temporary directory (thresholds off, so a run below them is still measured and flagged) and
prints a Markdown table. ``scripts/bench_export`` runs it in the dev venv.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from trainer.export.exporter import ExportOptions, export_run
from trainer.export.parity import MIN_AGREEMENT

HEADER = (
    "| env | algo | float32 | int8 | Q-table (bins) | float32 agreement | int8 agreement "
    "| int8 agreement, gap >= 1 quantum | Q-table agreement | max abs dQ f32 / int8 | export s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def _share(report: dict[str, float] | None, kind: str) -> str:
    if report is None:
        return "—"
    mark = "" if report["agreement"] >= MIN_AGREEMENT.get(kind, 0.0) else " (below)"
    return f"{report['agreement']:.2%}{mark}"


def bench_row(run_dir: Path, bins: tuple[int, ...] | None) -> str:
    """Export one run and describe it as a Markdown table row."""
    with tempfile.TemporaryDirectory(prefix="sim2pi-bench-export-") as tmp:
        options = ExportOptions(
            int8=True,
            qtable=True,
            bins=bins,
            min_agreement={"float32": 0.0, "int8": 0.0},
        )
        result = export_run(run_dir, Path(tmp) / "bundle", options, log=lambda _: None)
        manifest = result.bundle.manifest
    files, parity = manifest["files"], result.parity

    def size(name: str) -> str:
        return f"{files[name]['bytes']:,} B" if name in files else "—"

    f32, int8 = parity.get("float32"), parity.get("int8")
    wide = "—"
    if int8 is not None:
        gap = int8["gap_of_at_least_one_quantum"]
        wide = f"{gap['agreement']:.2%} of {gap['states'] / parity['states']:.0%} states"
    bins_text = "×".join(str(b) for b in manifest["discretizer"]["bins"])
    dq = "—" if f32 is None else f"{f32['max_abs_q_diff']:.2g} / {int8['max_abs_q_diff']:.2g}"
    return (
        f"| {manifest['env_id']} | {manifest['training']['algo']} | {size('policy.tflite')} | "
        f"{size('policy_int8.tflite')} | {size('qtable.npy')} ({bins_text}) | "
        f"{_share(f32, 'float32')} | {_share(int8, 'int8')} | {wide} | "
        f"{_share(parity.get('qtable'), 'qtable')} | {dq} | {result.seconds:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the figures table for the given run directories."""
    parser = argparse.ArgumentParser(prog="scripts/bench_export", description=__doc__)
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    parser.add_argument("--bins", type=int, help="Q-table bins per channel (default: preset/6)")
    args = parser.parse_args(argv)
    print(HEADER)
    for run_dir in args.run_dirs:
        print(bench_row(run_dir, None if args.bins is None else (args.bins,)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

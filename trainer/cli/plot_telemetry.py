"""``python -m trainer plot-telemetry FILE... --out run.png``: the robot's telemetry as reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.errors import UsageError

if TYPE_CHECKING:
    from trainer.telemetry.plot import Labels


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``plot-telemetry`` and its options."""
    parser = subparsers.add_parser(
        "plot-telemetry",
        help="plot a robot's per-tick telemetry (JSON Lines) as PNG or HTML reports",
        description="Read the telemetry `python -m robot run` (or `trainer sil run`) wrote "
        "([telemetry] path): given ticks.jsonl, its rotated files ticks.jsonl.N … .1 are read "
        "first, oldest first; files named explicitly are put in that order too. A run starts "
        "where the tick number or the time goes back (a restart appends to the same file); "
        "each run gets a report with panels against time: observation, action, Q-values, stops "
        "and supervisor takeovers by reason, lateness and compute time, and when present the "
        "motor command and the learner's ε and updates. --out run.png writes run.png for the "
        "first run, run-2.png, run-3.png … for the next; --out run.html writes self-contained "
        "pages with a summary table. A one-paragraph summary per run goes to stdout. Example: "
        "python -m trainer plot-telemetry telemetry/ticks.jsonl --out run.html",
    )
    parser.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help="telemetry files (ticks.jsonl …)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="report path ending in .png or .html"
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="the bundle the run drove: its observation channels and actions name the lines "
        "(default: ranges L/F/R for a robot's three ranges, else obs[i] and Q[i])",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Read, split into runs, write one report per run; 0 on success."""
    from trainer.telemetry.read import read_runs
    from trainer.telemetry.report import report_paths, write_reports
    from trainer.telemetry.summary import RunSummary, paragraph

    labels = _labels(args.bundle) if args.bundle is not None else None
    report_paths(args.out, 1)  # a bad --out fails before anything is read

    def note(text: str) -> None:
        sys.stderr.write(f"note: {text}\n")

    runs = read_runs(args.files, note)

    def report(summary: RunSummary, path: Path) -> None:
        print(f"{paragraph(summary, len(runs))} Report: {path}", flush=True)

    write_reports(runs, args.out, labels, report)
    return 0


def _labels(bundle_dir: Path) -> Labels:
    """The bundle's channel and action names."""
    from shared.bundle import read_bundle
    from shared.errors import BundleError
    from trainer.telemetry.plot import Labels

    try:
        spec = read_bundle(bundle_dir).spec
    except BundleError as exc:
        raise UsageError(f"--bundle {bundle_dir}: {exc}") from None
    return Labels(tuple(spec.observation.names), tuple(spec.actions.names))

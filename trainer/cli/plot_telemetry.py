"""``python -m trainer plot-telemetry FILE... --out run.png``: the robot's telemetry as reports."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.errors import UsageError

if TYPE_CHECKING:
    from trainer.telemetry.plot import Labels
    from trainer.telemetry.read import Run


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
        "first run, run-2.png, run-3.png … for the next (the last 20 runs unless --run or --last "
        "says which); --out run.html writes self-contained pages with a summary table. How many "
        "runs were found, and a one-paragraph summary per run, go to stdout. Example: "
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
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--run",
        type=_positive,
        default=None,
        metavar="N",
        help="report run N only (1 is the oldest; the summary line says how many there are)",
    )
    which.add_argument(
        "--last",
        type=_positive,
        default=None,
        metavar="N",
        help="report the last N runs (default: the last 20)",
    )
    parser.set_defaults(func=run)
    return parser


def _positive(text: str) -> int:
    """A run number or count: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Read, split into runs, write one report per chosen run; 0 on success."""
    from trainer.telemetry.read import read_runs
    from trainer.telemetry.report import DEFAULT_LAST, check_out, chosen_runs, write_reports
    from trainer.telemetry.summary import RunSummary, paragraph

    labels = _labels(args.bundle) if args.bundle is not None else None
    check_out(args.out)  # a bad --out fails before anything is read

    def note(text: str) -> None:
        sys.stderr.write(f"note: {text}\n")

    runs = read_runs(args.files, note)
    chosen = chosen_runs(runs, args.run, args.last)
    first, last = chosen[0].number, chosen[-1].number
    which = f"run {first}" if first == last else f"runs {first}-{last}"
    print(f"{len(runs)} run{'s' if len(runs) != 1 else ''} found; reporting {which}.")
    if args.run is None and args.last is None and len(runs) > DEFAULT_LAST:
        note(f"{len(runs)} runs: reporting the last {DEFAULT_LAST}; --run N or --last N for others")
    if labels is not None:
        _check_labels(labels, chosen, args.bundle, note)

    def report(summary: RunSummary, path: Path) -> None:
        print(f"{paragraph(summary, len(runs))} Report: {path}", flush=True)

    write_reports(chosen, args.out, labels, report, total_runs=len(runs))
    return 0


def _check_labels(
    labels: Labels, runs: list[Run], bundle: Path, note: Callable[[str], None]
) -> None:
    """A note when the bundle's channels or actions do not match the telemetry's widths."""
    channels, actions = _widest(runs, "obs"), _widest(runs, "q")
    found = (len(labels.channels), len(labels.actions))
    if (channels, actions) != found and (channels, actions) != (0, 0):
        note(
            f"--bundle {bundle}: names {found[0]} observation channels and {found[1]} actions, "
            f"the telemetry has {channels} and {actions} (Q-values); the labels may be wrong: "
            f"give the bundle the robot drove"
        )


def _widest(runs: list[Run], key: str) -> int:
    """The longest list a record of ``runs`` holds as ``key`` (0 when none does)."""
    return max((len(v) for r in runs for v in r.values(key) if isinstance(v, list)), default=0)


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

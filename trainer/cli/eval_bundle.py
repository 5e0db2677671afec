"""``python -m trainer eval-bundle BUNDLE_DIR``: a bundle's policies as the robot runs them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trainer.errors import UsageError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``eval-bundle`` and its options."""
    parser = subparsers.add_parser(
        "eval-bundle",
        help="evaluate a bundle's policies through the robot's policy code",
        description="Verify a bundle, then run greedy episodes of each of its policies (tflite, "
        "tflite-int8, qtable) through robot.inference — the TFLite interpreter or Q-table lookup "
        "exactly as the robot runs them — in the bundle's env, and print the returns beside "
        "those of the run it was exported from (when that run directory is on this machine).",
    )
    parser.add_argument("bundle_dir", type=Path, metavar="BUNDLE_DIR", help="a bundle directory")
    parser.add_argument("--episodes", type=int, default=10, help="episodes (default 10)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table; 0 on success."""
    from robot.errors import RobotError
    from shared.errors import BundleError
    from trainer.export.bundle_eval import evaluate_bundle, report_lines

    try:
        evaluation = evaluate_bundle(args.bundle_dir, args.episodes)
    except (BundleError, RobotError) as exc:
        raise UsageError(str(exc)) from None
    for line in report_lines(evaluation):
        print(line)
    return 0

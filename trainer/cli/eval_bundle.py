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
    parser.add_argument(
        "--robot-profile",
        type=Path,
        metavar="PATH",
        help="evaluate in the env of the run the bundle was exported from with its robot "
        "replaced by this robot profile's (as eval --robot-profile)",
    )
    parser.set_defaults(func=run)
    return parser


def _profile_env(bundle_dir: Path, path: Path | None) -> dict[str, Any]:
    """``--robot-profile``: the env kwargs to evaluate in (``profile_for``; the line printed);
    without one, nothing, and a note where the export's checks ran in a profile's env."""
    from shared.bundle import read_bundle
    from trainer.export.bundle_eval import training_env_kwargs
    from trainer.robot_profile import instead_line, profile_for

    bundle = read_bundle(bundle_dir)
    if path is None:
        export = bundle.manifest.get("export") or {}
        checked = (export.get("eval_env") or {}).get("robot_profile") or {}
        if checked:
            print(
                f"(the export's checks ran with robot profile {checked.get('name')!r} "
                f"({checked.get('path')}); pass --robot-profile to evaluate in that env)"
            )
        return {}
    recorded = training_env_kwargs(bundle)
    profile, env_kwargs = profile_for(path, bundle.spec.env_id, recorded)
    print(instead_line(profile, "evaluating", env_kwargs, recorded))
    return env_kwargs


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table; 0 on success."""
    from robot.errors import RobotError
    from shared.errors import BundleError
    from trainer.export.bundle_eval import evaluate_bundle, report_lines

    try:
        env_overrides = _profile_env(args.bundle_dir, args.robot_profile)
        evaluation = evaluate_bundle(args.bundle_dir, args.episodes, env_overrides)
    except (BundleError, RobotError) as exc:
        raise UsageError(str(exc)) from None
    for line in report_lines(evaluation):
        print(line)
    return 0

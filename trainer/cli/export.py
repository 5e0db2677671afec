"""``python -m trainer export RUN_DIR --out BUNDLE_DIR``: a run → a verified bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shared.errors import SpecError
from trainer.errors import UsageError
from trainer.export.tflite import QUANTIZATIONS

EXIT_PARITY = 1


def _bins(text: str) -> tuple[int, ...] | str:
    """``6`` or ``6,6,8,8`` → a tuple of positive bin counts; ``auto`` stays ``auto``."""
    if text == "auto":
        return text
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a bin count or a comma-separated count per channel, e.g. 6 or 6,6,8,8; "
            f"found {text!r}"
        ) from None
    if not all(c >= 1 for c in counts):
        raise argparse.ArgumentTypeError(f"expected counts >= 1, found {text!r}")
    return counts


def _share(text: str) -> float:
    """A share in [0, 1]; ``99%`` is accepted too."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a share like 0.99 or 99%, found {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1], found {text!r}")
    return value


def _channel_names(run_dir: Path) -> tuple[str, ...] | None:
    """The run's observation channel names for messages, or None if its spec cannot be read."""
    from trainer.rundir import RunDir

    try:
        return RunDir(run_dir).spec.observation.names
    except (UsageError, SpecError):  # the export itself reports a bad run directory
        return None


def _profile_env(run_dir: Path, path: Path | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``--robot-profile``: the env kwargs to check in (``profile_for``) and the profile's
    record (the line saying so printed); without one, nothing."""
    from trainer.robot_profile import instead_line, profile_for
    from trainer.rundir import RunDir

    if path is None:
        return {}, None
    run = RunDir(run_dir)
    recorded = dict(run.config.get("env_kwargs") or {})
    profile, env_kwargs = profile_for(path, run.env_id, recorded)
    doing = "rollouts, parity and return checks run"
    print(instead_line(profile, doing, env_kwargs, recorded))
    return env_kwargs, profile.record()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``export`` and its options."""
    parser = subparsers.add_parser(
        "export",
        help="export a run to a verified bundle (TFLite float32/int8, Q-table, parity)",
        description="Convert a run's checkpoint into the bundle the robot loads: policy.tflite "
        "(float32), with --int8 policy_int8.tflite (quantised: see --int8-mode), "
        "and qtable.npy (a tabular run's table, or with --qtable the DQN distilled onto a grid). "
        "Each exported policy is run through the robot's own policy code on at least 10,000 "
        "states of greedy rollouts and compared with the Keras model; the export fails and "
        "writes nothing if float32 agrees on less than 100% of non-tie states, or int8 on less "
        "than 99% and its mean return over --return-episodes is more than 2% below float32's. "
        "The model's input is spec.observation.normalize(raw): the normalisation is "
        "in the manifest, not in the graph.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="BUNDLE_DIR", help="bundle directory to create"
    )
    parser.add_argument(
        "--int8", action="store_true", help="also export the compact (quantised) model"
    )
    parser.add_argument(
        "--int8-mode",
        choices=("auto", *QUANTIZATIONS),
        default="auto",
        help="quantisation of the compact model: auto (hidden-int8, else float16 where it misses "
        "its gate), hidden-int8 (int8 hidden layers, float first and last layer, the last "
        "refitted to the Keras Q-values; measured to keep the policy on every shipped preset), "
        "full-int8, float-output (int8 but the last layer) or float16 (default auto)",
    )
    parser.add_argument(
        "--return-episodes",
        type=int,
        default=100,
        help="episodes of the compact model's return gate, used where its agreement is below "
        "the bar (and always for hidden-int8, whose agreement is in sample): its mean return "
        "must be within 2%% of float32's (default 100; 0: agreement only)",
    )
    parser.add_argument(
        "--qtable", action="store_true", help="DQN run: also distil the network onto a Q-table"
    )
    grid = parser.add_mutually_exclusive_group()
    grid.add_argument(
        "--bins",
        type=_bins,
        help="Q-table bins: one count or one per channel (default: the env's qlearning preset, "
        "else 6 per channel), or 'auto': that default while the rollouts can fill it (about 2 "
        "states per grid state), else fewer bins per channel at quantiles of the rollout states",
    )
    grid.add_argument(
        "--bin-edges",
        metavar="EDGES",
        help="Q-table inner bin edges in the channels' units instead of uniform --bins: one "
        "comma-separated list for every channel (0.1,0.2,0.3,0.45) or one per channel in the "
        "spec's order, separated by ';' (\"0.1,0.3;0.2;0.1,0.5,1\"; an empty list is one "
        "bin); a value starting with '-' needs '=': --bin-edges=-0.1,0.1",
    )
    parser.add_argument(
        "--qtable-method",
        choices=("visited", "centres"),
        default="visited",
        help="distillation: mean Q over visited states per bin (centre where none), or "
        "Q at every bin centre (default visited)",
    )
    parser.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which (default best)"
    )
    parser.add_argument(
        "--parity-states",
        type=int,
        default=10_000,
        help="rollout states for calibration and the parity check (default 10000)",
    )
    parser.add_argument(
        "--tie-epsilon",
        type=float,
        default=1e-5,
        help="a Keras top-2 Q gap below this is a tie, excluded from agreement (default 1e-5)",
    )
    parser.add_argument(
        "--min-agreement",
        type=_share,
        metavar="SHARE",
        help="lower both thresholds to SHARE (recorded in the manifest)",
    )
    parser.add_argument(
        "--min-agreement-float32",
        type=_share,
        metavar="SHARE",
        help="float32 threshold (default 1.0; recorded in the manifest)",
    )
    parser.add_argument(
        "--min-agreement-int8",
        type=_share,
        metavar="SHARE",
        help="int8 threshold (default 0.99; recorded in the manifest)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing BUNDLE_DIR atomically"
    )
    parser.add_argument(
        "--robot-profile",
        type=Path,
        metavar="PATH",
        help="run the rollouts, the parity and the return checks in the run's env with its "
        "robot replaced by this robot profile's (as eval --robot-profile); the manifest records "
        "it (export.eval_env)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Export, print the parity report and the bundle's files; 0 on success, 1 on parity."""
    from shared.errors import BundleError
    from trainer.export.distill import parse_bin_edges
    from trainer.export.exporter import ExportOptions, export_run
    from trainer.export.parity import MIN_AGREEMENT, ParityError

    minimums = dict(MIN_AGREEMENT)
    for kind in minimums:
        for value in (args.min_agreement, getattr(args, f"min_agreement_{kind}")):
            if value is not None:
                minimums[kind] = value
    bin_edges = None  # parsed here, not by argparse, so that messages can name the channels
    if args.bin_edges is not None:
        bin_edges = parse_bin_edges(args.bin_edges, _channel_names(args.run_dir))
    env_overrides, profile_record = _profile_env(args.run_dir, args.robot_profile)
    options = ExportOptions(
        int8=args.int8,
        qtable=args.qtable,
        checkpoint=args.checkpoint,
        bins=None if args.bins == "auto" else args.bins,
        auto_bins=args.bins == "auto",
        int8_mode=args.int8_mode,
        return_episodes=args.return_episodes,
        bin_edges=bin_edges,
        qtable_method=args.qtable_method,
        parity_states=args.parity_states,
        tie_epsilon=args.tie_epsilon,
        min_agreement=minimums,
        overwrite=args.overwrite,
        env_overrides=env_overrides,
        robot_profile=profile_record,
    )
    try:
        result = export_run(args.run_dir, args.out, options)
    except ParityError as exc:
        sys.stderr.write(f"python -m trainer export: {exc}\n")
        return EXIT_PARITY
    except BundleError as exc:  # the bundle did not verify: report it like bad input
        raise UsageError(str(exc)) from None
    bundle = result.bundle
    for name, entry in bundle.manifest["files"].items():
        print(f"  {name:<20} {entry['bytes']:>9} bytes  sha256 {entry['sha256'][:16]}…")
    print(f"wrote {bundle.path} in {result.seconds:.1f} s")
    return 0

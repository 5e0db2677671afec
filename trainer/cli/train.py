"""``python -m trainer train``: train a new run or ``--resume`` an interrupted one."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from trainer.errors import UsageError
from trainer.hyperparams import ALGOS, CONFIG_CLASSES, field_docs


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` and its options."""
    epilog = "hyperparameters (--set key=value; defaults ← trainer/presets.toml ← --set):\n"
    for algo in ALGOS:
        epilog += f"  {algo}:\n"
        for name, doc in field_docs(CONFIG_CLASSES[algo]).items():
            epilog += f"    {name}: {doc}\n"
    parser = subparsers.add_parser(
        "train",
        help="train DQN or tabular Q-learning on a Gymnasium env",
        description="Train a policy; writes a self-describing run directory. Ctrl-C saves the "
        "last checkpoint and exits 0; --resume continues exactly where it stopped.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", help="Gymnasium env id, e.g. CartPole-v1, FrozenLake-v1")
    parser.add_argument("--algo", choices=ALGOS, help="learning algorithm")
    parser.add_argument("--steps", type=int, help="total env steps (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every RNG (default 0)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hyperparameter (repeatable), e.g. --set learning_rate=5e-4",
    )
    parser.add_argument(
        "--out", type=Path, help="run directory to create (default runs/{env}__{algo}__s{seed}__…)"
    )
    parser.add_argument(
        "--resume", type=Path, metavar="DIR", help="continue the run in DIR from its last save"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


class _StopFlag:
    """SIGINT handler: the first Ctrl-C asks the loop to save and stop, a second one aborts."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nCtrl-C: saving the last checkpoint (press again to abort)…\n")


def run(args: argparse.Namespace) -> int:
    """Train (or resume), print where the run is and how it did; 0 on success."""
    from trainer.training import TrainingRun

    if args.resume is not None:
        extra = [f"--{k}" for k in ("env", "algo", "steps", "out") if getattr(args, k) is not None]
        if args.overrides:
            extra.append("--set")
        if extra:
            raise UsageError(
                f"--resume continues the saved run as configured; drop {', '.join(extra)}"
            )
        if not args.resume.is_dir():
            raise UsageError(f"--resume {args.resume}: no such directory")
        training = TrainingRun.resume(args.resume)
        print(f"resuming {training.path} at step {training.algorithm.step}", file=sys.stderr)
    else:
        if args.env is None or args.algo is None:
            raise UsageError("--env and --algo are required (or --resume DIR)")
        if args.steps is not None and args.steps < 1:
            raise UsageError(
                f"--steps: expected a positive number of env steps, found {args.steps}"
            )
        training = TrainingRun.create(
            args.env,
            args.algo,
            args.seed,
            overrides=args.overrides,
            out=args.out,
            total_steps=args.steps,
        )
        print(f"run directory: {training.path}", file=sys.stderr)
    stop = _StopFlag()
    previous = signal.signal(signal.SIGINT, stop)
    try:
        done = training.run(stop_requested=lambda: stop.requested, progress=not args.quiet)
    finally:
        signal.signal(signal.SIGINT, previous)
        training.close()
    if not done:
        print(
            f"interrupted at step {training.algorithm.step}; saved {training.path}/checkpoints/last"
            f"\ncontinue with: python -m trainer train --resume {training.path}"
        )
        return 0
    summary = training.summary
    for which in ("best", "last"):
        e = summary[which]["eval"]
        print(
            f"{which:>4} (step {summary[which]['step']}): mean {e['mean']:.2f} ± {e['std']:.2f} "
            f"over {e['episodes']} episodes (min {e['min']:.1f}, max {e['max']:.1f})"
        )
    seconds = summary["train_seconds"]
    print(f"trained {summary['steps']} steps in {seconds:.1f} s; run: {training.path}")
    return 0

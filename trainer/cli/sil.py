"""``python -m trainer sil run|check --config FILE``: the robot's runtime on a Gymnasium world."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sil``: every argument after it goes to the robot's CLI."""
    parser = subparsers.add_parser(
        "sil",
        help="software in the loop: `python -m robot run|check` with a Gymnasium env as the world",
        description="Run the robot's own CLI (`python -m robot run --config FILE`, `check`, ...) "
        'with one more hardware backend, `[hardware] backend = "gym"`: any Gymnasium env as '
        "the world (its [hardware.gym] table: env_id, channels, seed). A bundle whose actions "
        "have no motor commands (CartPole's, ...) drives a Discrete env by action index; episode "
        "i resets on seed + i (seed left out: 1000000 + i, eval-bundle's episodes). `run` goes on "
        "simulated time unless --real-time; --episodes N stops after N episodes, and "
        "--summary-json holds their seeds, returns and lengths. Gymnasium is a laptop-only "
        "dependency, so this backend lives in the trainer, never on the robot. Example: "
        "python -m trainer sil run --config robot/examples/cartpole_gym.toml --episodes 10",
    )
    parser.add_argument(
        "robot_args",
        nargs=argparse.REMAINDER,
        metavar="ROBOT_ARGS",
        help="the robot CLI's command and options, e.g. run --config robot.toml --episodes 10",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Hand over to ``trainer.sil_hardware.main``; its exit code is the robot CLI's."""
    from trainer.sil_hardware import main

    return main(args.robot_args or ["--help"])

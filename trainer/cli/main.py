"""Argument parsing and error handling shared by every subcommand of ``python -m trainer``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from shared.errors import SpecError
from trainer.cli import SUBCOMMANDS
from trainer.errors import UsageError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``trainer: error: …`` and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per subcommand module."""
    parser = _Parser(
        prog="python -m trainer",
        description="Train DQN or tabular Q-learning on Gymnasium envs and evaluate the runs.",
    )
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; user errors print one line and return 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, SpecError) as exc:
        sys.stderr.write(f"{parser.prog} {args.command}: error: {exc}\n")
        return EXIT_USAGE

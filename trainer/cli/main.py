"""Argument parsing and error handling shared by every subcommand of ``python -m trainer``."""

from __future__ import annotations

import argparse
import importlib
import sys

from shared.errors import SpecError
from shared.quiet import set_verbose
from trainer.cli import SUBCOMMANDS
from trainer.errors import UsageError
from trainer.quiet import quiet_tensorflow

EXIT_USAGE = 2
VERBOSE_HELP = (
    "also show the libraries' known start-up noise (TensorFlow's oneDNN, CPU-feature and absl "
    "lines, its C++ INFO and WARNING log, LiteRT's XNNPACK line); same as SIM2PI_VERBOSE=1"
)


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
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for name in SUBCOMMANDS:
        command = importlib.import_module(name).add_parser(subparsers)
        # Also after the subcommand (`train … --verbose`); SUPPRESS keeps the one given before.
        command.add_argument(
            "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; user errors print one line and return 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        set_verbose()
    quiet_tensorflow()  # before anything imports TensorFlow (nothing has yet: see trainer.quiet)
    try:
        return int(args.func(args))
    except (UsageError, SpecError) as exc:
        sys.stderr.write(f"{parser.prog} {args.command}: error: {exc}\n")
        return EXIT_USAGE

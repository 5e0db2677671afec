"""``python -m robot run|calibrate|check|bench|stop|dashboard``: the robot runtime's command line.

The parser and ``main`` are here; each command is a module of its own (``run``,
``calibrate``, ``check``, ``stop``, ``bench``, ``dashboard``), and signal handling is
``robot.cli.signals``. ``main`` takes the hardware the caller injects: gpiozero's pin factory
(tests) and backends that live outside ``robot/`` by name (the laptop's ``gym``).

``main`` installs the signal latches on its first line, before the commands (and numpy with
them) are imported: this module imports only the standard library and ``robot.cli.signals``.

Exit codes (``robot.cli.exit_codes``): 0 success; 1 the runtime failed while running (or
``check`` found a problem, or ``stop`` could not reach the drive); 2 the config, the bundle or
the arguments are wrong (nothing was moved).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from robot.cli.signals import HangupLatch, StopLatch, ignore_signals_at_exit

if TYPE_CHECKING:
    from robot.runtime.backends import HardwareFactory

__all__ = ["build_parser", "main"]

_log = logging.getLogger("robot")
_VERBOSE_HELP = (
    "also show the libraries' known noise (LiteRT's 'Created TensorFlow Lite XNNPACK delegate' "
    "line); same as SIM2PI_VERBOSE=1 (shared/quiet.py)"
)


def rate_hz(text: str) -> float:
    """``--rate-hz``: a loop rate within ``[loop] rate_hz``'s range (argparse names the flag)."""
    from robot.config import RATE_HZ_RANGE

    low, high = RATE_HZ_RANGE
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of Hz, found {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected {low:g}..{high:g} Hz, found {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with ``--help`` on every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m robot",
        description="sim2pi's robot runtime: run a bundle's policy on the robot, fail-safe.",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="drive the robot with the configured policy (the service's command)",
        description="Run the control loop until SIGTERM/SIGINT; the motors stop on every exit. "
        "SIGHUP reloads the config and the bundle (validated first; on any error the old ones "
        "keep running).",
    )
    run.add_argument("--config", type=Path, required=True, help="robot.toml")
    run.add_argument("--max-ticks", type=int, default=None, help="stop after N ticks (tests)")
    run.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    run.add_argument(
        "--learn",
        action="store_true",
        help="learn on the robot for this run (as [learning] enabled = true; robot/learning/)",
    )
    run.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="backend 'gym' (software in the loop) only: stop after N episodes of the env",
    )
    run.add_argument(
        "--real-time",
        action="store_true",
        help="backend 'gym' only: tick on the wall clock at rate_hz (default: simulated time, "
        "as fast as the machine goes)",
    )
    check = sub.add_parser(
        "check",
        help="validate config, bundle, runtime and hardware without moving a motor",
        description="Validate the config and the bundle, report the TFLite runtime, numpy, the "
        "pin factory and every part, run one inference. Exit 0 only if all is well.",
    )
    check.add_argument("--config", type=Path, required=True, help="robot.toml")
    check.add_argument(
        "--wait-s", type=float, default=1.5, help="how long to wait for every sensor to report"
    )
    stop = sub.add_parser(
        "stop",
        help="drive the configured motors to 0 (the unit's ExecStopPost=)",
        description="Stop the motors the config names, even after the runtime crashed: gpio "
        "drive pins low, or a stop frame on the serial link. Reads no bundle.",
    )
    stop.add_argument("--config", type=Path, required=True, help="robot.toml")
    bench = sub.add_parser(
        "bench",
        help="decision latency per policy, and the loop's tick cost on simulated gpio",
        description="Decision latency percentiles of each policy in the bundle, then the whole "
        "loop's tick cost and period jitter on gpiozero's MockFactory.",
    )
    bench.add_argument("--bundle", type=Path, required=True, help="a bundle directory")
    bench.add_argument("--decisions", type=int, default=5000, help="timed decisions per policy")
    bench.add_argument("--ticks", type=int, default=500, help="loop ticks (0: skip the loop)")
    bench.add_argument(
        "--rate-hz", type=rate_hz, default=50.0, help="loop rate for the tick bench (1-200 Hz)"
    )
    dashboard = sub.add_parser(
        "dashboard",
        help="serve a live web view of the run's telemetry (read-only, a separate process)",
        description="Follow the telemetry file the config names (read-only; through rotation "
        "and restarts) and serve a page of the robot's ranges, action, Q-values, stops and loop "
        "health on [dashboard] address:port. Until SIGTERM/SIGINT.",
    )
    dashboard.add_argument("--config", type=Path, required=True, help="robot.toml")
    dashboard.add_argument(
        "--address", default=None, help="listen here instead of [dashboard] address"
    )
    dashboard.add_argument(
        "--port", type=int, default=None, help="instead of [dashboard] port (0: any free port)"
    )
    calibrate = sub.add_parser(
        "calibrate",
        help="a scripted drive on the spot, logged to fit the simulator to this robot",
        description="Stand still, spin in place both ways on a ladder of duties, pivot on each "
        "wheel ([calibration] in robot.toml), through the control loop with every fail-safe; "
        "log every tick for the simulator's fit. Refuses to start with an obstacle within "
        "safe_distance_m or the bumper pressed; a contact ends the drive (docs/calibration.md).",
    )
    calibrate.add_argument("--config", type=Path, required=True, help="robot.toml")
    calibrate.add_argument(
        "--log",
        type=Path,
        default=None,
        help="the log (JSON Lines, its header in LOG.meta.json); default calibration.jsonl "
        "beside the config's [telemetry] path",
    )
    calibrate.add_argument(
        "--dry-run", action="store_true", help="print the plan and its duration; move nothing"
    )
    for command in sub.choices.values():  # also after the command; SUPPRESS keeps one before it
        command.add_argument(
            "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP
        )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    pin_factory: Any = None,
    backends: Mapping[str, HardwareFactory] | None = None,
) -> int:
    """Parse ``argv`` and run the subcommand; the exit code.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``, as the process's own command line (then
            SIGTERM, SIGINT and SIGHUP are ignored once ``main`` returns: the process is
            exiting; otherwise the handlers there were are put back).
        pin_factory: gpiozero's pin factory for the ``gpio`` backend (tests inject one).
        backends: backends that live outside ``robot/``, by ``[hardware] backend`` name, e.g.
            ``{"gym": trainer.sil_hardware.open_gym}`` on the laptop.
    """
    # First of all: from here a SIGTERM or SIGINT ends `run` cleanly (robot.cli.signals).
    stop, hangup = StopLatch(), HangupLatch()
    try:
        args = build_parser().parse_args(argv)
        if args.command not in ("run", "calibrate"):  # the others keep their signals' defaults
            stop.restore(redeliver=True)
            hangup.restore(redeliver=True)
        return _command(args, pin_factory, backends, stop, hangup)
    finally:
        if argv is None:  # straight from the latches to ignoring: no default action between
            ignore_signals_at_exit()
        else:
            stop.restore()
            hangup.restore()


def _command(  # noqa: PLR0911 (one return per command)
    args: argparse.Namespace,
    pin_factory: Any,
    backends: Mapping[str, HardwareFactory] | None,
    stop: StopLatch,
    hangup: HangupLatch,
) -> int:
    """Run the parsed command; a robot or shared error is one line and exit 2."""
    from robot.cli.exit_codes import EXIT_USAGE
    from robot.systemd.journal import configure_logging
    from shared.errors import Sim2PiError

    if args.verbose:
        from shared.quiet import set_verbose

        set_verbose()
    configure_logging(args.log_level, sys.stderr)
    try:
        from robot.runtime.backends import BackendOptions

        options = BackendOptions(pin_factory, MappingProxyType(dict(backends or {})))
        if args.command == "run":
            from robot.cli.run import cmd_run

            return cmd_run(args, options, stop, hangup)
        if args.command == "calibrate":
            from robot.cli.calibrate import cmd_calibrate

            return cmd_calibrate(args, options, stop)
        if args.command == "check":
            from robot.cli.check import cmd_check

            return cmd_check(args, options)
        if args.command == "stop":
            from robot.cli.stop import cmd_stop

            return cmd_stop(args, options)
        if args.command == "dashboard":
            from robot.cli.dashboard import cmd_dashboard

            return cmd_dashboard(args)
        from robot.cli.bench import cmd_bench  # gpiozero's mock pins: only when benchmarking

        return cmd_bench(args, options)
    except Sim2PiError as exc:  # robot and shared errors alike: one line, exit 2
        _log.error("%s", exc)
        return EXIT_USAGE

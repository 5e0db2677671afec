"""``robot run``: the control loop until SIGTERM/SIGINT (or ``--max-ticks``); SIGHUP reloads.

Whoever opens closes: this command opens the decider, the telemetry writer, the backend and
the sd_notify socket, and closes them at every exit. A reload hands the loop replacements and
closes what they replace (``robot.runtime.reload``), so at the end the command closes what the
loop holds then.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from typing import Any

from robot.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_STUCK
from robot.cli.signals import HangupLatch, install_signal_handlers, restore_signal_handlers
from robot.config import load_config
from robot.control.clock import MonotonicClock
from robot.control.decider import Decider
from robot.control.loop import ControlLoop, LoopFailedError
from robot.control.supervisor import STUCK
from robot.control.telemetry import TelemetryWriter, format_summary
from robot.errors import HardwareError
from robot.hardware.faults import inject_faults
from robot.runtime.backends import BackendOptions, open_backend
from robot.runtime.compose import compose, open_bundle
from robot.runtime.reload import Reloader
from robot.runtime.state_dirs import with_writable_defaults
from robot.systemd.process import process_age_s, rss_mb
from robot.systemd.sdnotify import Notifier

_log = logging.getLogger("robot")


def cmd_run(args: argparse.Namespace, options: BackendOptions) -> int:
    """``run``: the control loop until a signal (or ``--max-ticks``); SIGHUP reloads."""
    hangup = HangupLatch()
    try:
        return _run(args, hangup, options)
    finally:
        hangup.restore()


def _run(args: argparse.Namespace, hangup: HangupLatch, options: BackendOptions) -> int:
    config = with_writable_defaults(load_config(args.config))
    bundle = open_bundle(config)
    composition = compose(config, bundle, learn=args.learn)
    decider = composition.open_decider()
    _log.info("%s", composition.describe())
    notifier = Notifier.from_environment()
    telemetry = composition.open_telemetry()
    if telemetry is not None:
        _log.info("telemetry to %s", telemetry.path)
    closed = False
    try:
        with open_backend(config, bundle, MonotonicClock(), options) as backend:
            hardware = inject_faults(backend.hardware)
            for line in hardware.describe():
                _log.info("%s", line)
            loop = ControlLoop(
                hardware,
                decider,
                bundle.spec,
                config.loop,
                clock=backend.clock,
                telemetry=telemetry,
                notifier=notifier,
                supervisor=composition.open_supervisor(),
                label=composition.label,
            )
            reloader = Reloader(loop, config, bundle, notifier, learn=args.learn)
            try:
                summary = _drive(loop, reloader, hangup, args.max_ticks)
            finally:
                # Before the backend closes, as ever: what runs now (a reload's replacements).
                _close(loop.decider, loop.telemetry)
                closed = True
    except (LoopFailedError, HardwareError) as exc:
        _log.error("%s", exc)
        return EXIT_FAILED
    finally:
        if not closed:
            # The loop never ran: close the telemetry file, but do not save a learner that
            # learnt nothing (another run may own its state directory: the service, say).
            _close(None, telemetry)
        notifier.close()
    _report(summary, args)
    return EXIT_STUCK if summary["exit_reason"] == STUCK else EXIT_OK


def _drive(
    loop: ControlLoop, reloader: Reloader, hangup: HangupLatch, max_ticks: int | None
) -> dict[str, Any]:
    """Run the loop with the signal handlers and the reloader in place; return its summary."""
    reloader.start()
    previous = install_signal_handlers(loop)
    hangup.attach(reloader)
    age_at_start_s = process_age_s()
    try:
        summary = loop.run(max_ticks=max_ticks)
    finally:
        restore_signal_handlers(previous)
        reloader.close()
    first = summary["first_decision_after_s"]
    summary["first_decision_after_process_start_s"] = (
        None if first is None else round(age_at_start_s + first, 3)
    )
    return summary


def _close(decider: Decider | None, telemetry: TelemetryWriter | None) -> None:
    """Close the telemetry writer, then the decider (a learner saves its state)."""
    if telemetry is not None:
        telemetry.close()
    if decider is not None:
        decider.close()


def _report(summary: dict[str, Any], args: argparse.Namespace) -> None:
    """Log the exit summary (and write it to ``--summary-json``)."""
    summary["rss_mb"] = rss_mb()
    _log.info("summary: %s", format_summary(summary))
    if "supervisor" in summary:
        _log.info("supervisor: %s", format_supervisor(summary["supervisor"]))
    if "learning" in summary:
        _log.info("learning: %s", format_learning(summary["learning"]))
    _log.info(
        "first decision %s s after process start; RSS %.1f MiB",
        summary["first_decision_after_process_start_s"],
        summary["rss_mb"] or math.nan,
    )
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")


def format_supervisor(supervisor: dict[str, Any]) -> str:
    """The supervisor's part of the exit summary as one log line."""
    takeovers = ", ".join(f"{reason} ×{n}" for reason, n in supervisor["takeovers"].items())
    return (
        f"took over for {takeovers}; {supervisor['failed_recoveries']} recoveries failed, "
        f"stuck ×{supervisor['stuck']}, shield ×{supervisor['shielded']}"
    )


def format_learning(learning: dict[str, Any]) -> str:
    """The learner's part of the exit summary as one log line."""
    td = learning["run_mean_abs_td_error"]
    terms = ", ".join(f"{k} {v:.2f}" for k, v in learning["run_reward_terms"].items())
    return (
        f"{learning['run_updates']} updates this run ({learning['updates']} in all, from "
        f"{learning['source']}), mean |TD error| {'-' if td is None else f'{td:.3f}'}, reward "
        f"{learning['run_reward']:.2f} ({terms or 'none'}); {learning['episodes']} episodes, "
        f"explored {learning['explored']}, shielded {learning['shielded']}, rollbacks "
        f"{learning['rollbacks']}, epsilon {learning['epsilon']:.4f}"
    )

"""``robot run``: the control loop until SIGTERM/SIGINT (or ``--max-ticks``); SIGHUP reloads.

Whoever opens closes: this command opens the decider, the telemetry writer, the backend and
the sd_notify socket, and closes them at every exit. A reload hands the loop replacements and
closes what they replace (``robot.runtime.reload``), so at the end the command closes what the
loop holds then.

Software in the loop (``[hardware] backend = "gym"``, through ``python -m trainer sil run``)
ticks on simulated time, as fast as the machine goes, unless ``--real-time``; ``--episodes N``
ends it after N episodes of the env, and the episodes (seeds, returns, lengths) are in the
summary. Both options are refused for the robot's own backends.

A SIGTERM or SIGINT during start-up is noted by ``main``'s ``StopLatch`` and ends start-up at
the next step (one line, exit 0, no motor driven); once the loop exists the latch hands it over.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from typing import Any

from robot.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_STUCK
from robot.cli.signals import HangupLatch, StartupStopped, StopLatch
from robot.config import GymConfig, RobotConfig, load_config
from robot.control.clock import Clock, MonotonicClock, SimulatedClock
from robot.control.decider import Decider
from robot.control.loop import ControlLoop, LoopFailedError
from robot.control.supervisor import STUCK
from robot.control.telemetry import TelemetryWriter, format_summary
from robot.errors import ConfigError, HardwareError
from robot.hardware.faults import inject_faults
from robot.learning.saving import StateNotSavedError
from robot.runtime.backends import BackendOptions, open_backend
from robot.runtime.compose import compose, open_bundle
from robot.runtime.reload import Reloader
from robot.runtime.state_dirs import with_writable_defaults
from robot.systemd.process import process_age_s, rss_mb
from robot.systemd.sdnotify import Notifier
from shared.errors import Sim2PiError

_log = logging.getLogger("robot")


def cmd_run(
    args: argparse.Namespace, options: BackendOptions, stop: StopLatch, hangup: HangupLatch
) -> int:
    """``run``: the control loop until a signal (or ``--max-ticks``); SIGHUP reloads.

    ``stop`` and ``hangup`` are ``main``'s signal latches, installed before anything slow."""
    try:
        return _run(args, options, stop, hangup)
    except StartupStopped as stopped:
        _log.info("%s", stopped)
        return EXIT_OK
    except Sim2PiError as exc:
        if stop.signal_name is None or stop.loop_started:
            raise
        # A probe child killed by the same Ctrl-C, say: stopping was asked for anyway.
        failed = str(exc).splitlines()[0]
        _log.info("%s", StartupStopped(stop.signal_name, f"start-up failed meanwhile: {failed}"))
        return EXIT_OK


def _run(
    args: argparse.Namespace, options: BackendOptions, stop: StopLatch, hangup: HangupLatch
) -> int:
    stop.check("loading the runtime")
    config = with_writable_defaults(load_config(args.config))
    clock = loop_clock(config, args)
    stop.check("reading the config")
    bundle = open_bundle(config)
    stop.check("verifying the bundle")
    composition = compose(config, bundle, learn=args.learn)
    stop.check("building the policy")
    decider = composition.open_decider()
    _log.info("%s", composition.describe())
    notifier = Notifier.from_environment()
    telemetry = None
    closed = False
    not_saved: StateNotSavedError | None = None
    try:
        stop.check("opening the decider")
        telemetry = composition.open_telemetry()
        if telemetry is not None:
            _log.info("telemetry to %s", telemetry.path)
        with open_backend(config, bundle, clock, options) as backend:
            stop.check("opening the hardware")
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
                summary = _drive(loop, reloader, stop, hangup, args)
                link = backend.hardware.link_counters()
                if link is not None:
                    summary["link"] = link
            finally:
                # Before the backend closes, as ever: what runs now (a reload's replacements).
                # A final save that fails is reported after the summary, never raised over it.
                try:
                    _close(loop.decider, loop.telemetry)
                except StateNotSavedError as exc:
                    not_saved = exc
                closed = True
    except (LoopFailedError, HardwareError) as exc:
        _log.error("%s", exc)
        if not_saved is not None:
            _log.error("%s", not_saved)
        return EXIT_FAILED
    finally:
        if not closed:
            # The loop never ran: close the telemetry file, but do not save a learner that
            # learnt nothing (another run may own its state directory: the service, say).
            _close(None, telemetry)
        notifier.close()
    _report(summary, args)
    if not_saved is not None:  # the robot stopped as asked; what it learnt was not all kept
        _log.error("%s", not_saved)
        return EXIT_FAILED
    return EXIT_STUCK if summary["exit_reason"] == STUCK else EXIT_OK


def _drive(
    loop: ControlLoop,
    reloader: Reloader,
    stop: StopLatch,
    hangup: HangupLatch,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Run the loop (``--max-ticks``, ``--episodes``) with the signals handed to it and the
    reloader in place; its summary."""
    reloader.start()
    stop.hand_over(loop)  # a signal noted since the last start-up check stops it at once
    hangup.attach(reloader)
    age_at_start_s = process_age_s()
    try:
        summary = loop.run(max_ticks=args.max_ticks, max_episodes=getattr(args, "episodes", None))
    finally:
        stop.loop_ended()
        reloader.close()
    first = summary["first_decision_after_s"]
    summary["first_decision_after_process_start_s"] = (
        None if first is None else round(age_at_start_s + first, 3)
    )
    return summary


def loop_clock(config: RobotConfig, args: argparse.Namespace) -> Clock:
    """The clock to open the backend with: simulated time for the ``gym`` backend (software in
    the loop: no tick ever waits) unless ``--real-time``, else the wall clock (the ``sim``
    backend hands back its world's own). ConfigError for ``--episodes``/``--real-time`` on a
    robot's backend, or ``--episodes`` below 1."""
    episodes = getattr(args, "episodes", None)
    real_time = getattr(args, "real_time", False)
    gym = isinstance(config.hardware, GymConfig)
    if not gym and (episodes is not None or real_time):
        flag = "--episodes" if episodes is not None else "--real-time"
        raise ConfigError(
            f"{flag}: expected [hardware] backend = 'gym' (software in the loop), found "
            f"{config.hardware.backend!r} in {config.source}; leave {flag} out on the robot"
        )
    if episodes is not None and episodes < 1:
        raise ConfigError(f"--episodes: expected a number of episodes >= 1, found {episodes}")
    return SimulatedClock() if gym and not real_time else MonotonicClock()


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
    if "link" in summary:
        from robot.hardware.serial_link import format_counters

        _log.info("link: %s", format_counters(summary["link"]))
    if "episodes" in summary:
        _log.info("episodes: %s", format_episodes(summary["episodes"]))
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


def format_episodes(episodes: dict[str, Any]) -> str:
    """A simulated world's episodes (software in the loop) as one log line."""
    returns = episodes["returns"]
    if not returns:
        return "none ended"
    mean = sum(returns) / len(returns)
    return (
        f"{len(returns)} ended on seeds {episodes['seeds'][0]}..{episodes['seeds'][-1]}; "
        f"return mean {mean:.2f}, min {min(returns):.2f}, max {max(returns):.2f}; "
        f"length mean {sum(episodes['lengths']) / len(returns):.1f}"
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

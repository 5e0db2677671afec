"""``python -m robot run|check|bench|stop``: the robot runtime's command line.

Exit codes: 0 success; 1 the runtime failed while running (or ``check`` found a problem, or
``stop`` could not reach the drive); 2 the config, the bundle or the arguments are wrong
(nothing was moved).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robot.config import load_config
from robot.control.clock import MonotonicClock
from robot.control.loop import ControlLoop, LoopFailedError
from robot.control.telemetry import TelemetryWriter, format_summary
from robot.errors import HardwareError, TFLiteRuntimeError
from robot.hardware.faults import inject_faults
from robot.hardware.motor_stop import stop_motors
from robot.inference.probe import installed_version
from robot.inference.runtimes import FORCE_ENV, PROBE_CANDIDATES, TFLiteRuntime, choose_runtime
from robot.learning import Learner
from robot.runtime.compose import (
    describe_running,
    open_bundle,
    open_hardware,
    open_policy,
    probe_state_dir,
    with_writable_defaults,
)
from robot.runtime.reload import Reloader, learner_recipe
from robot.systemd.journal import configure_logging
from robot.systemd.process import process_age_s, rss_mb
from robot.systemd.sdnotify import Notifier
from shared.bundle import read_bundle
from shared.errors import Sim2PiError

_log = logging.getLogger("robot")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with ``--help`` on every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m robot",
        description="sim2pi's robot runtime: run a bundle's policy on the robot, fail-safe.",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
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
    bench.add_argument("--rate-hz", type=float, default=50.0, help="loop rate for the tick bench")
    return parser


def main(argv: Sequence[str] | None = None, *, pin_factory: Any = None) -> int:
    """Parse ``argv`` and run the subcommand; ``pin_factory`` is injected by tests."""
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, sys.stderr)
    try:
        if args.command == "run":
            return cmd_run(args, pin_factory)
        if args.command == "check":
            return cmd_check(args, pin_factory)
        if args.command == "stop":
            return cmd_stop(args, pin_factory)
        return cmd_bench(args)
    except Sim2PiError as exc:  # robot and shared errors alike: one line, exit 2
        _log.error("%s", exc)
        return EXIT_USAGE


def install_signal_handlers(loop: ControlLoop) -> dict[int, Any]:
    """SIGTERM and SIGINT ask the loop to stop; returns the previous handlers."""

    def handler(signum: int, _frame: object) -> None:
        loop.request_stop(signal.Signals(signum).name)

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


class HangupLatch:
    """Catches SIGHUP from the start (its default action would kill the process) and passes it
    on to the reloader once there is one."""

    def __init__(self) -> None:
        self.reloader: Reloader | None = None
        self.early = False
        self.previous = signal.signal(signal.SIGHUP, self._handle)

    def _handle(self, _signum: int, _frame: object) -> None:
        if self.reloader is None:
            self.early = True
        else:
            self.reloader.request()

    def attach(self, reloader: Reloader) -> None:
        """From now on SIGHUP reloads; one that came during start-up reloads now."""
        self.reloader = reloader
        if self.early:
            _log.info("SIGHUP arrived during start-up; reloading now")
            reloader.request()

    def restore(self) -> None:
        """Put back the handler that was there before."""
        signal.signal(signal.SIGHUP, self.previous)


def open_learner(config: Any, bundle: Any) -> Learner:
    """The on-robot learner on the bundle's Q-table, state in ``[learning] state_dir``."""
    return learner_recipe(config, bundle)()


def cmd_run(args: argparse.Namespace, pin_factory: Any = None) -> int:
    """``run``: the control loop until a signal (or ``--max-ticks``); SIGHUP reloads."""
    hangup = HangupLatch()
    try:
        return _run(args, hangup, pin_factory)
    finally:
        hangup.restore()


def _run(args: argparse.Namespace, hangup: HangupLatch, pin_factory: Any) -> int:
    config = with_writable_defaults(load_config(args.config))
    bundle = open_bundle(config)
    learning = config.learning.enabled or getattr(args, "learn", False)
    policy = open_policy(config, bundle, learning=learning)
    learner = open_learner(config, bundle) if learning else None
    _log.info("policy %s from %s", policy.describe(), bundle.path)
    clock = MonotonicClock()
    notifier = Notifier.from_environment()
    telemetry = TelemetryWriter(config.telemetry) if config.telemetry.enabled else None
    if telemetry is not None:
        _log.info("telemetry to %s", telemetry.path)
    try:
        with open_hardware(config, bundle, clock, pin_factory=pin_factory) as opened:
            # The sim backend's world has its own clock: the loop steps it (faster than real).
            clock = getattr(opened, "clock", clock)
            hardware = inject_faults(opened)
            for line in hardware.describe():
                _log.info("%s", line)
            loop = ControlLoop(
                hardware,
                policy,
                bundle.spec,
                config.loop,
                clock=clock,
                telemetry=telemetry,
                notifier=notifier,
                label=describe_running(bundle, policy),
                learner=learner,
            )
            learn = bool(getattr(args, "learn", False))
            reloader = Reloader(loop, config, bundle, notifier, learn=learn).start()
            previous = install_signal_handlers(loop)
            hangup.attach(reloader)
            age_at_start_s = process_age_s()
            try:
                summary = loop.run(max_ticks=args.max_ticks)
            finally:
                for sig, old in previous.items():
                    signal.signal(sig, old)
                reloader.close()
                telemetry = loop.telemetry  # a reload may have replaced it
    except LoopFailedError as exc:
        _log.error("%s", exc)
        return EXIT_FAILED
    except HardwareError as exc:
        _log.error("%s", exc)
        return EXIT_FAILED
    finally:
        if telemetry is not None:
            telemetry.close()
        notifier.close()
    first = summary["first_decision_after_s"]
    summary["first_decision_after_process_start_s"] = (
        None if first is None else round(age_at_start_s + first, 3)
    )
    summary["rss_mb"] = rss_mb()
    _log.info("summary: %s", format_summary(summary))
    if "learning" in summary:
        _log.info("learning: %s", format_learning(summary["learning"]))
    _log.info(
        "first decision %s s after process start; RSS %.1f MiB",
        summary["first_decision_after_process_start_s"],
        summary["rss_mb"] or math.nan,
    )
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
    return EXIT_OK


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


def cmd_check(args: argparse.Namespace, pin_factory: Any = None) -> int:
    """``check``: validate everything and report, never moving a motor."""
    problems: list[str] = []

    def report(line: str) -> None:
        print(line, flush=True)

    config = load_config(args.config)
    report(
        f"config   ok: {config.source} (backend {config.hardware.backend}, policy "
        f"{config.bundle.policy}, {config.loop.rate_hz} Hz)"
    )
    report(f"python   {platform.python_version()} on {platform.machine()}; numpy {np.__version__}")
    bundle = open_bundle(config)
    report(
        f"bundle   ok: {bundle.path} ({bundle.spec.env_id}; models {sorted(bundle.models)}; "
        f"Q-table {'yes' if bundle.qtable_file else 'no'}); channels "
        f"{list(bundle.spec.observation.names)} all mapped"
    )
    try:
        policy = open_policy(config, bundle, learning=config.learning.enabled)
    except TFLiteRuntimeError as exc:
        report(f"tflite   FAIL: {exc}")
        return EXIT_FAILED
    runtime = getattr(policy, "runtime", None)
    if runtime is not None:
        report_runtime(report, runtime)
    elif bundle.models:
        # The Q-table needs no TFLite runtime; say whether the bundle's models could run here.
        kind = "float32" if "float32" in bundle.models else next(iter(bundle.models))
        try:
            found = choose_runtime(bundle.path, kind, probe=True, state_dir=probe_state_dir())
            report_runtime(report, found, f" (not needed by {policy.name})")
        except TFLiteRuntimeError as exc:
            report(f"tflite   none works here (not needed by {policy.name}): {exc}")
    probe = (bundle.spec.observation.lows + bundle.spec.observation.highs) / 2.0
    decision = policy.decide(probe.astype(np.float32))
    action = bundle.spec.actions[decision.action_index].name
    report(
        f"policy   {policy.describe()}; one inference at mid-range {probe.round(3).tolist()} → "
        f"{action} (Q {[round(float(q), 3) for q in decision.q_values]})"
    )
    if not np.all(np.isfinite(decision.q_values)):
        problems.append("the policy returned non-finite Q-values")
    clock = MonotonicClock()
    try:
        hardware = open_hardware(config, bundle, clock, pin_factory=pin_factory)
    except (HardwareError, OSError) as exc:
        report(f"hardware FAIL: {exc}")
        return EXIT_FAILED
    clock = getattr(hardware, "clock", clock)  # the sim backend's simulated time
    with hardware:
        hardware.stop()
        for line in hardware.describe():
            report(f"hardware {line}")
        snapshot = hardware.snapshot()
        deadline = time.monotonic() + args.wait_s
        while time.monotonic() < deadline:
            snapshot = hardware.snapshot()
            ages = [clock.now() - t for t in snapshot.read_at_s]
            if not snapshot.faults and all(a <= config.loop.max_sensor_age_s for a in ages):
                break
            time.sleep(0.05)
        now = clock.now()
        for name, value, read_at in zip(
            bundle.spec.observation.names, snapshot.values, snapshot.read_at_s, strict=True
        ):
            age = now - read_at
            fresh = age <= config.loop.max_sensor_age_s and math.isfinite(value)
            report(
                f"sensor   {name}: {value:.3f} ({age:.3f} s old) {'ok' if fresh else 'FAIL'}"
                if math.isfinite(age)
                else f"sensor   {name}: no reading in {args.wait_s} s FAIL"
            )
            if not fresh:
                problems.append(f"{name} gives no fresh reading: check its wiring and pins")
        if snapshot.bumper is not None:
            report(f"sensor   bumper: {'pressed' if snapshot.bumper else 'released'}")
        for fault in snapshot.faults:
            problems.append(fault)
    for problem in problems:
        report(f"PROBLEM  {problem}")
    report("check    " + ("all well" if not problems else f"{len(problems)} problem(s)"))
    return EXIT_OK if not problems else EXIT_FAILED


def report_runtime(report: Callable[[str], None], runtime: TFLiteRuntime, note: str = "") -> None:
    """The chosen runtime and, when it was probed, every candidate's row of the probe table."""
    if runtime.probe is None:
        report(f"tflite   {runtime.describe()} builds interpreters{note}")
        how = "forced by " + FORCE_ENV if os.environ.get(FORCE_ENV) else "checked in-process"
        report(f"         ({how}; no child-process probe)")
        for skipped in runtime.skipped:
            report(f"         skipped {skipped}")
        return
    report(f"tflite   {runtime.describe()} chosen by a child-process probe{note}:")
    report(f"           {'runtime':<16} {'version':<10} {'status':<8} detail, time or cached")
    tried = {r.candidate for r in runtime.probe.results}
    for line in runtime.probe.table():
        report("         " + line)
    for candidate in PROBE_CANDIDATES:
        if candidate not in tried:  # the probe stops at the first runtime that passes
            version = installed_version(candidate) or "-"
            report(f"           {candidate:<16} {version:<10} untried  an earlier runtime passed")


def cmd_stop(args: argparse.Namespace, pin_factory: Any = None) -> int:
    """``stop``: drive the configured motors to 0 (no bundle, no interpreter)."""
    config = load_config(args.config)
    try:
        lines = stop_motors(config, pin_factory=pin_factory)
    except HardwareError as exc:
        _log.error("motors NOT stopped: %s", exc)
        return EXIT_FAILED
    for line in lines:
        _log.info("stopped: %s", line)
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    """``bench``: latency and tick-cost figures for a bundle."""
    from robot.cli.bench import run_bench

    bundle = read_bundle(args.bundle)
    for line in run_bench(bundle, args.decisions, args.ticks, args.rate_hz):
        print(line, flush=True)
    return EXIT_OK

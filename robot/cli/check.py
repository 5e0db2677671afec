"""``robot check``: validate config, bundle, TFLite runtime and hardware, never moving a motor.

Prints one line per part (config, python, bundle, paths, tflite, policy, hardware, sensor) and
one ``PROBLEM`` line per problem; exits 0 only if all is well. The ``paths`` lines say whether
each place a run writes can be written (creating no directory) and who learns in the state
directory now (without taking its lock). The ``gpio`` backend's first hardware line is its pin
factory and what it can do; one that cannot do what the config needs is a ``PROBLEM`` with the
fix, and nothing is opened.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np

from robot.cli.check_int8 import int8_summary
from robot.cli.exit_codes import EXIT_FAILED, EXIT_OK
from robot.config import RobotConfig, load_config
from robot.control.clock import MonotonicClock
from robot.errors import HardwareError, PolicyLoadError, TFLiteRuntimeError
from robot.hardware.base import Snapshot
from robot.inference.policy import POLICY_KINDS, Policy, TFLitePolicy
from robot.inference.probe import default_state_dir, installed_version
from robot.inference.tflite_runtimes import (
    FORCE_ENV,
    PROBE_CANDIDATES,
    TFLiteRuntime,
    choose_runtime,
)
from robot.learning.state_lock import LOCK_NAME, holder
from robot.runtime.backends import BackendOptions, OpenedBackend, open_backend
from robot.runtime.compose import check_actions, open_bundle, open_policy
from robot.runtime.state_dirs import with_writable_defaults
from robot.runtime.writable import directory_problem, state_dir_problem, telemetry_problem
from shared.bundle import Bundle
from shared.files import os_reason

#: How often to look again while waiting for every sensor to report (seconds).
POLL_S = 0.05


def report(line: str) -> None:
    """One line of the report, on stdout at once."""
    print(line, flush=True)


def cmd_check(args: argparse.Namespace, options: BackendOptions) -> int:
    """``check``: validate everything and report, never moving a motor."""
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
    int8 = int8_summary(bundle.manifest)
    if int8 is not None:
        report(int8)
    # The rule `run` applies (robot.runtime.compose): refused here exactly as there, exit 2.
    by_index = check_actions(config, bundle, learning=config.learning.enabled)
    if by_index:
        report(
            f"actions  {list(bundle.spec.actions.names)} have no motor commands: they drive the "
            f"{config.hardware.backend} world by action index (no supervisor, no learning)"
        )
        report("supervisor n/a: no motor command to recover or shield with")
    for line in [] if by_index else describe_supervisor(config, bundle):
        report(line)
    problems = check_paths(with_writable_defaults(config))
    try:
        policy = open_policy(config, bundle, learning=config.learning.enabled)
    except TFLiteRuntimeError as exc:
        report(f"tflite   FAIL: {exc}")
        return EXIT_FAILED
    report_tflite(policy, bundle)
    problems += check_inference(policy, bundle)
    try:
        backend = open_backend(config, bundle, MonotonicClock(), options)
    except (HardwareError, OSError) as exc:
        return report_hardware_failure(exc)
    with backend:
        problems += check_hardware(backend, config, bundle, args.wait_s)
    for problem in problems:
        report(f"PROBLEM  {problem}")
    report("check    " + ("all well" if not problems else f"{len(problems)} problem(s)"))
    return EXIT_OK if not problems else EXIT_FAILED


def report_hardware_failure(exc: OSError) -> int:
    """The backend did not open: why, and for a pin factory's failure what it is and the fix."""
    from robot.hardware.pin_factory import PinFactoryError  # gpiozero: only where it is in play

    if not isinstance(exc, PinFactoryError):
        report(f"hardware FAIL: {exc}")
        return EXIT_FAILED
    first, *skipped = exc.described or ("pin factory none loaded",)
    for line in (f"gpio: {first}", *skipped):
        report(f"hardware {line}")
    report("hardware FAIL: not opened, the pin factory cannot run this robot (no pin was touched)")
    report(f"PROBLEM  {exc}")
    report("check    1 problem(s)")
    return EXIT_FAILED


def check_paths(config: RobotConfig) -> list[str]:
    """Report where a run writes, and who learns in the state directory; the problems found.

    A place the config makes the run write (telemetry when enabled, the state directory when
    learning is on) that cannot be written is a problem; so is the TFLite probe's cache for a
    TFLite policy (every start would probe again). A learning run holding the state directory
    is reported, not a problem: ``scripts/deploy`` checks while the service runs, then restarts
    it.
    """
    problems: list[str] = []
    if config.telemetry.enabled:
        problem = telemetry_problem(config, create=False)
        report(
            f"paths    telemetry {config.telemetry.path}: {'writable' if not problem else 'FAIL'}"
        )
        problems += [problem] if problem else []
    else:
        report("paths    telemetry off ([telemetry] enabled = false)")
    state_dir = config.learning.state_dir
    problem = state_dir_problem(config, create=False)
    learning = config.learning.enabled
    if problem is None:
        try:
            found = holder(state_dir)
        except OSError as exc:  # written by another user, say: whether it is held is unknown
            found, who = None, f"who learns there is unknown ({os_reason(exc)})"
        else:
            who = "no run learns there" if found is None else found.describe()
        report(f"paths    learning state_dir {state_dir}: writable; {who}")
        if found is not None:
            stop = found.how_to_stop(state_dir / LOCK_NAME)
            report(f"         another learning run is refused until it stops ({stop})")
    elif learning:
        report(f"paths    learning state_dir {state_dir}: FAIL")
        problems.append(problem)
    else:  # nothing is written there unless run --learn is asked for
        report(f"paths    learning state_dir {state_dir}: not writable; run --learn is refused")
    cache = default_state_dir()
    problem = directory_problem(cache, create=False)
    if problem is None:
        report(f"paths    tflite probe cache {cache}: writable")
    elif POLICY_KINDS.get(config.bundle.policy) is not None and not learning:
        report(f"paths    tflite probe cache {cache}: FAIL")
        problems.append(
            f"the TFLite probe's cache {cache}: expected a directory this user can write, but "
            f"{problem}; set $SIM2PI_STATE_DIR to one (the service uses $STATE_DIRECTORY), or "
            "every start probes each runtime again"
        )
    else:
        report(f"paths    tflite probe cache {cache}: not writable (not needed by this policy)")
    return problems


def describe_supervisor(config: RobotConfig, bundle: Bundle) -> list[str]:
    """What ``[supervisor]`` watches and does, every key shown (``docs/robot-runtime.md``)."""
    sv = config.supervisor
    if not sv.enabled:
        return [
            "supervisor OFF ([supervisor] enabled = false): nothing takes the motors from the "
            "policy on a contact, no progress or oscillation"
        ]
    ranges = [c.name for c in bundle.spec.observation.channels if c.unit == "m"]
    sees = "the bumper" + (f" or a range < {sv.collision_distance_m:g} m" if ranges else " only")
    steps = ", ".join(f"({left:+.2f}, {right:+.2f}) {s:g} s" for left, right, s in sv.recovery)
    progress = (
        f"no progress: forward {sv.progress_window_s:g} s, ranges within {sv.progress_change_m:g} m"
        if sv.progress_window_s > 0
        else "no progress: off"
    )
    oscillation = (
        f"oscillation: {sv.oscillation_reversals} turn reversals in {sv.oscillation_window_s:g} s"
        if sv.oscillation_reversals
        else "oscillation: off"
    )
    then = {"retry": f"retry after {sv.stuck_retry_s:g} s", "hold": "hold until restarted"}
    lines = [
        f"supervisor on: contact ({sees}); {progress}; {oscillation}",
        f"         recovery [{steps}] (turns away from the nearer side); shield "
        f"{sv.shield_distance_m:g} m; stuck after {sv.max_failed_recoveries} recoveries failed "
        f"within {sv.settle_s:g} s: {then.get(sv.on_stuck, 'exit 3')}",
    ]
    return lines


def report_tflite(policy: Policy, bundle: Bundle) -> None:
    """The policy's TFLite runtime, or whether the bundle's models could run here at all."""
    if isinstance(policy, TFLitePolicy):
        report_runtime(policy.runtime)
    elif bundle.models:
        # The Q-table needs no TFLite runtime; say whether the bundle's models could run here.
        kind = "float32" if "float32" in bundle.models else next(iter(bundle.models))
        try:
            found = choose_runtime(bundle.path, kind, probe=True)
            report_runtime(found, f" (not needed by {policy.name})")
        except (TFLiteRuntimeError, PolicyLoadError) as exc:
            report(f"tflite   none works here (not needed by {policy.name}): {exc}")


def report_runtime(runtime: TFLiteRuntime, note: str = "") -> None:
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


def check_inference(policy: Policy, bundle: Bundle) -> list[str]:
    """Run one inference at mid-range and report it; the problems found."""
    probe = (bundle.spec.observation.lows + bundle.spec.observation.highs) / 2.0
    decision = policy.decide(probe.astype(np.float32))
    action = bundle.spec.actions[decision.action_index].name
    report(
        f"policy   {policy.describe()}; one inference at mid-range {probe.round(3).tolist()} → "
        f"{action} (Q {[round(float(q), 3) for q in decision.q_values]})"
    )
    if not np.all(np.isfinite(decision.q_values)):
        return ["the policy returned non-finite Q-values"]
    return []


def check_hardware(
    backend: OpenedBackend, config: RobotConfig, bundle: Bundle, wait_s: float
) -> list[str]:
    """Stop the motors, describe every part and read every sensor; the problems found."""
    hardware, clock = backend.hardware, backend.clock
    hardware.stop()
    for line in hardware.describe():
        report(f"hardware {line}")
    snapshot = _settled_snapshot(backend, config.loop.max_sensor_age_s, wait_s)
    problems = []
    now = clock.now()
    for name, value, read_at in zip(
        bundle.spec.observation.names, snapshot.values, snapshot.read_at_s, strict=True
    ):
        age = now - read_at
        fresh = age <= config.loop.max_sensor_age_s and math.isfinite(value)
        report(
            f"sensor   {name}: {value:.3f} ({age:.3f} s old) {'ok' if fresh else 'FAIL'}"
            if math.isfinite(age)
            else f"sensor   {name}: no reading in {wait_s} s FAIL"
        )
        if not fresh:
            problems.append(f"{name} gives no fresh reading: check its wiring and pins")
    if snapshot.bumper is not None:
        report(f"sensor   bumper: {'pressed' if snapshot.bumper else 'released'}")
    problems.extend(snapshot.faults)
    return problems


def _settled_snapshot(backend: OpenedBackend, max_age_s: float, wait_s: float) -> Snapshot:
    """The newest snapshot once every sensor reads fresh and no fault shows, or after
    ``wait_s`` seconds (of real time) whatever it holds."""
    hardware, clock = backend.hardware, backend.clock
    snapshot = hardware.snapshot()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        snapshot = hardware.snapshot()
        ages = [clock.now() - t for t in snapshot.read_at_s]
        if not snapshot.faults and all(a <= max_age_s for a in ages):
            break
        time.sleep(POLL_S)
    return snapshot

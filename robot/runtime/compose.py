"""Assembling the runtime from a config: bundle → policy, backend → hardware, with checks."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from robot.config import (
    LEARNED_POLICY,
    GpioConfig,
    LearningConfig,
    RobotConfig,
    SerialConfig,
    SimConfig,
    TelemetryConfig,
    check_channels,
)
from robot.control.clock import Clock
from robot.errors import HardwareError, PolicyLoadError
from robot.hardware.base import Hardware
from robot.inference.policy import POLICY_KINDS, Policy, QTablePolicy, load_policy
from robot.inference.probe import STATE_DIR_ENV
from robot.inference.runtimes import TFLiteRuntime, choose_runtime
from robot.learning.learner import learned_table
from shared.bundle import Bundle, read_bundle
from shared.errors import BundleError, NoSnapshotError

_log = logging.getLogger(__name__)


def open_bundle(config: RobotConfig) -> Bundle:
    """Read and verify the configured bundle, and check the config maps its channels."""
    try:
        bundle = read_bundle(config.bundle.path)
    except BundleError as exc:
        raise PolicyLoadError(f"{config.source}: [bundle.path]: {exc}") from None
    check_channels(config, bundle.spec)
    return bundle


def open_policy(
    config: RobotConfig,
    bundle: Bundle,
    runtime: TFLiteRuntime | None = None,
    *,
    learning: bool = False,
) -> Policy:
    """The configured policy from ``bundle``; a TFLite one on the runtime ``choose_runtime`` picks.

    Without ``runtime``, a TFLite policy's runtime is the first that passes the child-process
    probe of the configured model (cached in ``probe_state_dir()``), or the forced one.
    ``learning``: the learner will decide (``--learn``); a ``qtable-learned`` policy is then the
    bundle's Q-table (the learner resumes from the newest snapshot itself, or starts from it).
    """
    if config.bundle.policy == LEARNED_POLICY:
        if learning:
            return load_policy(bundle, "qtable")
        return open_learned_policy(config, bundle)
    kind = POLICY_KINDS.get(config.bundle.policy)
    if runtime is None and kind is not None and kind in bundle.models:
        runtime = choose_runtime(bundle.path, kind, probe=True, state_dir=probe_state_dir())
    return load_policy(bundle, config.bundle.policy, runtime)


def open_learned_policy(config: RobotConfig, bundle: Bundle) -> QTablePolicy:
    """Greedy over the Q-table learnt on the robot: the newest good snapshot in ``[learning]
    state_dir`` that was learnt from this bundle's Q-table (no learning, no exploration)."""
    state_dir = config.learning.state_dir
    if bundle.qtable_file is None:
        return QTablePolicy(bundle)  # refused there: no Q-table, with the way out
    try:
        table, path = learned_table(bundle, state_dir)
    except (NoSnapshotError, ValueError) as exc:
        raise PolicyLoadError(
            f"{config.source}: [bundle.policy] = {LEARNED_POLICY!r}: expected a snapshot learnt "
            f"from this bundle in [learning] state_dir {state_dir}, found none usable ({exc}); "
            "learn first (robot run --learn, same bundle and state_dir) or choose policy = "
            "'qtable'"
        ) from None
    policy = QTablePolicy(bundle, table.values)
    policy.name = LEARNED_POLICY
    _log.info(
        "policy qtable-learned: snapshot %s (%d updates on the robot)",
        path,
        int(table.meta.get("updates", 0)),
    )
    return policy


def probe_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The TFLite probe's cache: $STATE_DIRECTORY, else $SIM2PI_STATE_DIR, else ~/.cache/sim2pi."""
    state = state_directory(environ)
    if state is not None:
        return state
    configured = environ.get(STATE_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "sim2pi"


#: Opens a backend that lives outside ``robot/``: (its config section, the bundle's spec, clock).
HardwareFactory = Callable[[Any, Any, Callable[[], float]], Hardware]

#: Backends that another package provides, by name. ``robot/`` itself never imports them: the
#: laptop's ``trainer.sil_hardware`` registers ``gym`` (Gymnasium is a laptop-only dependency).
_EXTERNAL_BACKENDS: dict[str, HardwareFactory] = {}


def register_backend(name: str, factory: HardwareFactory) -> None:
    """Let ``open_hardware`` open ``[hardware] backend = name`` with ``factory`` (laptop side)."""
    _EXTERNAL_BACKENDS[name] = factory


def open_hardware(
    config: RobotConfig, bundle: Bundle, clock: Clock, *, pin_factory: Any = None
) -> Hardware:
    """The configured backend, its channels in the order of the bundle's spec."""
    hardware = config.hardware
    channels = bundle.spec.observation.names
    if isinstance(hardware, GpioConfig):
        from robot.hardware.gpio import GpioHardware

        return GpioHardware(hardware, channels, clock=clock.now, pin_factory=pin_factory)
    if isinstance(hardware, SerialConfig):
        from robot.hardware.serial_link import SerialHardware

        link = SerialHardware(hardware, channels, clock=clock.now)
        # Give the reader thread a moment to open the port, so that a healthy start does not
        # begin with a "link down" stop; a missing port is left to the loop's fail-safe.
        link.wait_connected(timeout_s=1.0)
        return link
    if isinstance(hardware, SimConfig):
        from robot.hardware.sim.backend import open_sim

        # The world keeps its own simulated clock: run the loop on ``.clock`` (see cli).
        return open_sim(hardware, channels)
    factory = _EXTERNAL_BACKENDS.get("gym")
    if factory is None:
        raise HardwareError(
            f"{config.source}: [hardware] backend = 'gym' (a Gymnasium env as the world) runs on "
            "the laptop, where Gymnasium is installed: `python -m trainer sil run --config "
            f"{config.source}`; on the robot choose backend = 'gpio', 'serial' or 'sim'"
        )
    return factory(hardware, bundle.spec, clock.now)


def state_directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """systemd's ``$STATE_DIRECTORY`` (from ``StateDirectory=``; the first of several), or None."""
    value = environ.get("STATE_DIRECTORY", "")
    first = value.split(":")[0]
    return Path(first) if first else None


def with_writable_defaults(
    config: RobotConfig, environ: Mapping[str, str] = os.environ
) -> RobotConfig:
    """``config`` with default telemetry/learning paths moved under ``$STATE_DIRECTORY``.

    Without ``STATE_DIRECTORY`` (not a service) the defaults stay next to the config file. A path
    the config gives (other than the default's own relative value) is never moved. Under systemd
    the config lives in ``/etc``, which the service may not write (``ProtectSystem=strict``).
    """
    state = state_directory(environ)
    if state is None:
        return config
    base = config.source.parent
    telemetry, learning = config.telemetry, config.learning
    if telemetry.path == base / TelemetryConfig.path:
        telemetry = dataclasses.replace(telemetry, path=state / TelemetryConfig.path)
    if learning.state_dir == base / LearningConfig.state_dir:
        learning = dataclasses.replace(learning, state_dir=state / LearningConfig.state_dir)
    return dataclasses.replace(config, telemetry=telemetry, learning=learning)


def describe_running(bundle: Bundle, policy: Policy) -> str:
    """What runs, for logs and ``STATUS=``: the bundle's directory and the policy's kind."""
    # Resolved: deploy points a fixed link (/opt/sim2pi/bundle) at bundles/<name>-<sha>.
    return f"bundle {bundle.path.resolve().name}, policy {policy.name}"

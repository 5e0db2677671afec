"""SIGHUP: reload ``robot.toml`` and the bundle, validated completely before anything switches.

The signal handler only sets an event. A worker thread then does everything that can fail —
parse the config, read and verify the bundle, build the policy (a TFLite interpreter), check
the spec against the running hardware, open a new telemetry file — while the loop keeps
ticking with the old ones. Only a complete, valid replacement is handed to the loop, which
switches at a tick boundary (``ControlLoop.replace``). Any error is logged and the old config,
bundle and policy keep running. ``[hardware]`` is not reloaded: the devices stay open, so a
change there is refused with a request to restart the service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from robot.config import RobotConfig, load_config
from robot.errors import ConfigError, RobotError, SpecMismatchError
from robot.loop import ControlLoop, Replacement, motor_commands
from robot.runtime import describe_running, open_bundle, open_policy, with_writable_defaults
from robot.sdnotify import Notifier
from robot.telemetry import TelemetryWriter
from shared.bundle import Bundle
from shared.errors import Sim2PiError

_log = logging.getLogger(__name__)


def prepare_replacement(
    current: RobotConfig,
    current_bundle: Bundle,
    config_path: Path,
    telemetry: TelemetryWriter | None,
    *,
    load: Callable[[Path], RobotConfig] = load_config,
) -> tuple[Replacement, RobotConfig, Bundle]:
    """Validate ``config_path`` and its bundle completely against what runs; raise on any error.

    Args:
        current: the config that runs now.
        current_bundle: the bundle that runs now (its channels fix the hardware's order).
        config_path: the config file to reload.
        telemetry: the telemetry writer that runs now (kept if ``[telemetry]`` is unchanged).
        load: reads a config file (tests inject failures).

    Returns:
        The replacement for the loop, the new config and the new bundle.
    """
    config = with_writable_defaults(load(config_path))
    if config.hardware != current.hardware:
        raise ConfigError(
            f"{config.source}: [hardware] changed; a reload keeps the devices open, so it "
            "cannot apply that: restart the service (systemctl restart sim2pi-robot) instead"
        )
    if config.learning.enabled:
        raise ConfigError(
            f"{config.source}: [learning.enabled] on-robot learning is not part of this "
            "version of the runtime yet; set enabled = false"
        )
    bundle = open_bundle(config)
    running = current_bundle.spec
    if bundle.spec.observation.names != running.observation.names:
        raise SpecMismatchError(
            f"{config.source}: the new bundle {bundle.path} observes channels "
            f"{list(bundle.spec.observation.names)}, the running hardware reads "
            f"{list(running.observation.names)} in that order; restart the service to change them"
        )
    commands = motor_commands(bundle.spec)
    if config.hardware.gym is not None and commands != motor_commands(running):
        raise SpecMismatchError(
            f"{config.source}: the new bundle's action table differs from the one the gym "
            "world was made with; restart to change it"
        )
    policy = open_policy(config, bundle)
    new_telemetry = telemetry
    if config.telemetry != current.telemetry:
        new_telemetry = TelemetryWriter(config.telemetry) if config.telemetry.enabled else None
    replacement = Replacement(
        policy=policy,
        spec=bundle.spec,
        config=config.loop,
        telemetry=new_telemetry,
        label=describe_running(bundle, policy),
    )
    return replacement, config, bundle


class Reloader:
    """Turns SIGHUP into a validated switch of config, bundle and policy, off the loop's thread."""

    def __init__(
        self,
        loop: ControlLoop,
        config: RobotConfig,
        bundle: Bundle,
        notifier: Notifier,
        *,
        load: Callable[[Path], RobotConfig] = load_config,
    ) -> None:
        """Reload into ``loop``, which runs ``config`` and ``bundle`` now; call ``start``."""
        self.loop = loop
        self.config = config
        self.bundle = bundle
        self.notifier = notifier
        self._load = load
        self._requested = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="sim2pi-reload", daemon=True)
        #: Reloads that switched, and reloads refused.
        self.switched = 0
        self.refused = 0

    def start(self) -> Reloader:
        """Start the worker thread."""
        self._thread.start()
        return self

    def request(self) -> None:
        """Ask for a reload (called from the SIGHUP handler: it only sets an event)."""
        # The loop's thread never waits on this event, so setting it from a signal handler that
        # interrupted that thread cannot deadlock on the event's lock.
        self._requested.set()

    def close(self) -> None:
        """Stop the worker (a reload in progress is abandoned: the process is ending)."""
        self._closing = True
        self._requested.set()
        self._thread.join(timeout=0.1)  # a daemon: a reload still validating dies with us

    def _work(self) -> None:
        while True:
            self._requested.wait()
            self._requested.clear()
            if self._closing:
                return
            self._reload_once()

    def _reload_once(self) -> None:
        ready = self.loop.stats.first_decision_s is not None
        if ready:
            self.notifier.reloading()
        path = self.config.source
        _log.info("SIGHUP: reloading %s", path)
        try:
            replacement, config, bundle = prepare_replacement(
                self.config, self.bundle, path, self.loop.telemetry, load=self._load
            )
        except Exception as exc:  # any failure, expected or not, leaves the old ones running
            self.refused += 1
            expected = isinstance(exc, RobotError | Sim2PiError | OSError)
            _log.error(
                "reload refused, still running %s with the old config: %s",
                self.loop.label,
                exc if expected else f"{type(exc).__name__}: {exc}",
                exc_info=not expected,
            )
            if ready:
                self.notifier.ready(status=f"reload refused; still running {self.loop.label}")
            return
        if self._closing:
            return
        self.config, self.bundle = config, bundle
        self.switched += 1
        # The loop logs the switch and sends READY=1 when it has happened.
        self.loop.replace(replacement)

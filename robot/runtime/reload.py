"""SIGHUP: reload ``robot.toml`` and the bundle, validated completely before anything switches.

The signal handler only sets an event. A worker thread then does everything that can fail —
parse the config, read and verify the bundle, build the policy (a TFLite interpreter), check
the spec against the running hardware, open a new telemetry file — while the loop keeps
ticking with the old ones. Only a complete, valid replacement is handed to the loop, which
switches at a tick boundary (``ControlLoop.replace``). Any error is logged and the old config,
bundle and policy keep running. ``[hardware]`` is not reloaded: the devices stay open, so a
change there is refused with a request to restart the service.

Learning (``[learning] enabled`` or ``--learn``) survives a reload: a bundle with the same Q-table
(sha256), spec and grid and unchanged ``[learning]`` settings keeps the running learner and its
state; otherwise, at the switch, the running learner saves and closes and a new one opens on the new
bundle (resuming from the state directory if its snapshot belongs to that bundle;
``robot.learning.learner`` moves another bundle's snapshots aside). Everything that can fail is
checked here first; the state directory itself is only touched on the loop's thread at the switch.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from robot.config import GymConfig, RobotConfig, load_config
from robot.control.loop import ControlLoop, Replacement, motor_commands
from robot.control.telemetry import TelemetryWriter
from robot.errors import ConfigError, SpecMismatchError
from robot.learning.learner import Learner, LearnerSettings
from robot.runtime.compose import describe_running, open_bundle, open_policy, with_writable_defaults
from robot.systemd.sdnotify import Notifier
from shared.bundle import Bundle, sha256_file
from shared.errors import BundleError, Sim2PiError

_log = logging.getLogger(__name__)


def prepare_replacement(
    current: RobotConfig,
    current_bundle: Bundle,
    config_path: Path,
    telemetry: TelemetryWriter | None,
    *,
    load: Callable[[Path], RobotConfig] = load_config,
    running_learner: object | None = None,
    learn: bool = False,
) -> tuple[Replacement, RobotConfig, Bundle]:
    """Validate ``config_path`` and its bundle completely against what runs; raise on any error.

    Args:
        current: the config that runs now.
        current_bundle: the bundle that runs now (its channels fix the hardware's order).
        config_path: the config file to reload.
        telemetry: the telemetry writer that runs now (kept if ``[telemetry]`` is unchanged).
        load: reads a config file (tests inject failures).
        running_learner: the loop's learner now, or None (kept if nothing it learns on changed).
        learn: ``--learn`` was given: learn whatever ``[learning] enabled`` says.

    Returns:
        The replacement for the loop, the new config and the new bundle.
    """
    config = with_writable_defaults(load(config_path))
    if config.hardware != current.hardware:
        raise ConfigError(
            f"{config.source}: [hardware] changed; a reload keeps the devices open, so it "
            "cannot apply that: restart the service (systemctl restart sim2pi-robot) instead"
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
    if isinstance(config.hardware, GymConfig) and commands != motor_commands(running):
        raise SpecMismatchError(
            f"{config.source}: the new bundle's action table differs from the one the gym "
            "world was made with; restart to change it"
        )
    policy = open_policy(config, bundle, learning=learn or config.learning.enabled)
    new_telemetry = telemetry
    if config.telemetry != current.telemetry:
        new_telemetry = TelemetryWriter(config.telemetry) if config.telemetry.enabled else None
    keep, open_next = plan_learning(config, bundle, running_learner, learn=learn)
    replacement = Replacement(
        policy=policy,
        spec=bundle.spec,
        config=config.loop,
        telemetry=new_telemetry,
        label=describe_running(bundle, policy),
        open_learner=None if keep else open_next,
    )
    return replacement, config, bundle


def learner_recipe(config: RobotConfig, bundle: Bundle) -> Callable[[], Learner]:
    """Check that ``bundle`` can be learned on with ``config``'s ``[learning]``; return its opener.

    Reads and checks the Q-table and the settings now (ConfigError naming the config if they do
    not fit); the returned callable only builds the learner, which reads the state directory.
    """
    try:
        settings = LearnerSettings.from_config(config.learning)
        values = bundle.load_qtable()
        sha = sha256_file(bundle.file(bundle.qtable_file))
    except (BundleError, ValueError) as exc:
        raise ConfigError(
            f"{config.source}: [learning] learns on the bundle's Q-table, but {exc}; "
            "use a bundle exported with a Q-table or turn learning off"
        ) from None
    expected = (bundle.discretizer.n_states, len(bundle.spec.actions))
    if values.shape != expected:
        raise ConfigError(
            f"{config.source}: [learning] the bundle {bundle.path}'s Q-table has shape "
            f"{values.shape}, expected {expected} (states × actions); re-export the bundle"
        )

    def open_learner() -> Learner:
        learner = Learner(bundle.spec, bundle.discretizer, values, sha, settings)
        _log.info("learning on: state in %s, starting from %s", settings.state_dir, learner.source)
        return learner

    return open_learner


def plan_learning(
    config: RobotConfig, bundle: Bundle, running: object | None, *, learn: bool
) -> tuple[bool, Callable[[], Learner | None]]:
    """Whether the running learner carries on, and else what opens the next one (or None).

    Args:
        config: the new config.
        bundle: the new bundle.
        running: the loop's learner now (None when not learning).
        learn: ``--learn`` was given (learning on whatever ``[learning] enabled`` says).
    """
    if not (config.learning.enabled or learn):
        return running is None, lambda: None
    open_next = learner_recipe(config, bundle)
    if isinstance(running, Learner):
        same = (
            running.bundle_sha256 == sha256_file(bundle.file(bundle.qtable_file))
            and running.spec == bundle.spec
            and running.discretizer == bundle.discretizer
            and running.settings == LearnerSettings.from_config(config.learning)
        )
        if same:
            return True, open_next
    return False, open_next


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
        learn: bool = False,
    ) -> None:
        """Reload into ``loop``, which runs ``config`` and ``bundle`` now; call ``start``.

        ``learn``: the run was started with ``--learn`` (every reload learns too).
        """
        self.loop = loop
        self.learn = learn
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
                self.config,
                self.bundle,
                path,
                self.loop.telemetry,
                load=self._load,
                running_learner=self.loop.learner,
                learn=self.learn,
            )
        except Exception as exc:  # any failure, expected or not, leaves the old ones running
            self.refused += 1
            expected = isinstance(exc, Sim2PiError | OSError)
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
        previous = self.config, self.bundle

        def refused_at_switch() -> None:  # the loop kept the old ones (the learner failed)
            self.refused += 1
            if self.config is config and self.bundle is bundle:
                self.config, self.bundle = previous

        replacement = dataclasses.replace(replacement, on_refused=refused_at_switch)
        self.config, self.bundle = config, bundle
        self.switched += 1
        # The loop logs the switch and sends READY=1 when it has happened.
        self.loop.replace(replacement)

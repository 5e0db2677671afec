"""SIGHUP: reload ``robot.toml`` and the bundle, validated completely before anything switches.

The signal handler only sets an event. A worker thread then does everything that can fail —
parse the config, read and verify the bundle, compose what it runs (``robot.runtime.compose``:
the policy's TFLite interpreter, or the learner's checked Q-table), check the spec against the
running hardware, open a new telemetry file — while the loop keeps ticking with the old ones.
Only a complete, valid replacement is handed to the loop, which switches at a tick boundary
(``ControlLoop.replace``). Any error is logged and the old config, bundle and decider keep
running. ``[hardware]`` is not reloaded: the devices stay open, so a
change there is refused with a request to restart the service. On the ``gym`` backend (software
in the loop) the env stays open too: a new bundle must have the running one's actions and env
keyword arguments; one without motor commands reloads there like any other.

Learning (``[learning] enabled`` or ``--learn``) survives a reload: a bundle with the same Q-table
(sha256), spec and grid and unchanged ``[learning]`` settings keeps the running learner and its
state; otherwise, at the switch, the running learner saves and closes and a new one opens on the new
bundle (resuming from the state directory if its snapshot belongs to that bundle;
``robot.learning.snapshots`` moves another bundle's snapshots aside). Everything that can fail is
checked here first; the state directory itself is only touched on the loop's thread at the switch.

Whoever opens closes: this side opened the replacement's telemetry, so it closes the old writer
once the loop has switched (or the new one when the switch is refused after all).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from robot.config import EnvKwargs, GymConfig, RobotConfig, load_config
from robot.control.decider import Decider
from robot.control.loop import ControlLoop, Replacement
from robot.control.telemetry import TelemetryWriter
from robot.errors import ConfigError, SpecMismatchError
from robot.runtime.compose import Composition, LearnerRecipe, compose, open_bundle
from robot.runtime.state_dirs import with_writable_defaults
from robot.systemd.sdnotify import Notifier
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
    running: Decider | None = None,
    learn: bool = False,
) -> tuple[Replacement, RobotConfig, Bundle]:
    """Validate ``config_path`` and its bundle completely against what runs; raise on any error.

    Args:
        current: the config that runs now.
        current_bundle: the bundle that runs now (its channels fix the hardware's order).
        config_path: the config file to reload.
        telemetry: the telemetry writer that runs now (kept if ``[telemetry]`` is unchanged).
        load: reads a config file (tests inject failures).
        running: the loop's decider now, or None (a learner carries on if nothing it learns on
            changed).
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
    _check_against_running(config, bundle, current_bundle)
    composition = compose(config, bundle, learn=learn)
    new_telemetry = telemetry
    if config.telemetry != current.telemetry:
        new_telemetry = composition.open_telemetry()

    def switched() -> None:  # on the loop's thread: the old writer is written no more
        if telemetry is not None and telemetry is not new_telemetry:
            telemetry.close()

    def refused() -> None:  # on the loop's thread: the old writer runs on
        if new_telemetry is not None and new_telemetry is not telemetry:
            new_telemetry.close()

    replacement = Replacement(
        spec=bundle.spec,
        config=config.loop,
        telemetry=new_telemetry,
        label=composition.label,
        open_decider=next_decider(composition, running),
        on_switched=switched,
        on_refused=refused,
        supervisor=composition.open_supervisor(),
    )
    return replacement, config, bundle


def _check_against_running(config: RobotConfig, bundle: Bundle, running: Bundle) -> None:
    """SpecMismatchError unless ``bundle`` fits the open hardware as ``running`` does.

    On every backend the channels must be the running bundle's, in order. On ``gym`` the env
    was made for the running bundle: its actions (a Discrete env's, each action by its index,
    with its motor command or none) and its env keyword arguments (``EnvKwargs.of``) must stay.
    Which bundles a robot's backend can drive at all is ``compose.check_actions``'s rule.
    """
    if bundle.spec.observation.names != running.spec.observation.names:
        raise SpecMismatchError(
            f"{config.source}: the new bundle {bundle.path} observes channels "
            f"{list(bundle.spec.observation.names)}, the running hardware reads "
            f"{list(running.spec.observation.names)} in that order; restart the service to "
            "change them"
        )
    if isinstance(config.hardware, GymConfig):
        _check_gym_world(config, config.hardware, bundle, running)


def _check_gym_world(
    config: RobotConfig, section: GymConfig, bundle: Bundle, running: Bundle
) -> None:
    """SpecMismatchError unless the gym env, made for ``running``, is the one ``bundle`` needs."""
    restart = "restart `python -m trainer sil run` to change it"
    if bundle.spec.actions != running.spec.actions:
        raise SpecMismatchError(
            f"{config.source}: the new bundle {bundle.path} has actions "
            f"{_actions(bundle)}, the gym world {section.env_id} was made for the running "
            f"bundle's {_actions(running)}; export the new one with the same actions, or "
            f"{restart}"
        )
    new, made = EnvKwargs.of(section, bundle).values, EnvKwargs.of(section, running).values
    if new != made:
        raise SpecMismatchError(
            f"{config.source}: the new bundle {bundle.path} was trained with env kwargs "
            f"{dict(new)}, the gym world {section.env_id} was made with {dict(made)}; set "
            f"[hardware.gym] env_kwargs to the one world both should run in, or {restart}"
        )


def _actions(bundle: Bundle) -> list[str]:
    """The bundle's actions as the refusal shows them: each name, and its motor command."""
    return [
        action.name
        if action.motor is None
        else f"{action.name} ({action.motor.left:g}, {action.motor.right:g})"
        for action in bundle.spec.actions
    ]


def next_decider(composition: Composition, running: Decider | None) -> Callable[[], Decider]:
    """What the loop's thread calls at the switch for the decider to run from then on.

    The running learner carries on, state and all, if it learns exactly what ``composition``
    does. Otherwise the running decider is closed first (a learner saves: the next one may
    resume from that state, and no two learners ever touch one state directory), then the
    composition's opens.
    """
    recipe = composition.decider
    if running is not None and isinstance(recipe, LearnerRecipe) and recipe.runs_in(running):
        return lambda: running

    def close_running_then_open() -> Decider:
        if running is not None:
            running.close()
        return composition.open_decider()

    return close_running_then_open


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
                running=self.loop.decider,
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
        if self._closing:  # the process is ending: the replacement is never handed over
            if replacement.on_refused is not None:
                replacement.on_refused()
            return
        previous = self.config, self.bundle
        close_unused = replacement.on_refused

        def refused_at_switch() -> None:  # the loop kept the old ones (the learner failed)
            self.refused += 1
            if close_unused is not None:
                close_unused()
            if self.config is config and self.bundle is bundle:
                self.config, self.bundle = previous

        replacement = dataclasses.replace(replacement, on_refused=refused_at_switch)
        self.config, self.bundle = config, bundle
        self.switched += 1
        # The loop logs the switch and sends READY=1 when it has happened.
        self.loop.replace(replacement)

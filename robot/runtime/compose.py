"""The composition root: a config and its bundle become what a run drives with.

``compose`` is used alike by ``robot run`` at start-up and by the SIGHUP reload
(``robot.runtime.reload``); ``robot check`` reports on the same pieces (``open_bundle``,
``open_policy``). It checks everything that can fail before anything runs, and opens on demand
only what holds a resource: the decider (a learner locks, reads and writes its state directory)
and the telemetry file. Whoever opens one closes it. Where the run writes (the telemetry file,
the learner's state directory) is proven writable first (``robot.runtime.writable``), so a run
that could not keep its telemetry or what it learns is refused before a motor moves.

With learning on, the learner decides: the configured policy is not built (no TFLite
interpreter, no child-process probe), only named in the label.

A bundle whose actions have no motor commands (CartPole's, say) drives only a simulated world by
action index: the ``gym`` backend, software in the loop on the laptop. ``check_actions`` is the
one rule for that, called by ``compose`` (``run``, the reload) and by ``check``, so the two can
never disagree; on ``gpio``, ``serial`` and ``sim`` such a bundle is refused before anything
opens, and with it there is no supervisor (no motor command to recover or shield with) and no
learner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from robot.config import LEARNED_POLICY, GymConfig, RobotConfig, check_channels
from robot.config.learning import STATE_DIR_FIX
from robot.control.decider import Decider, GreedyDecider
from robot.control.supervisor import Supervisor
from robot.control.telemetry import TelemetryWriter
from robot.control.world import has_motor_commands
from robot.errors import ConfigError, PolicyLoadError, SpecMismatchError
from robot.hardware.base import STOP
from robot.inference.policy import POLICY_KINDS, Policy, QTablePolicy, load_policy
from robot.inference.tflite_runtimes import TFLiteRuntime, choose_runtime
from robot.learning import Learner, learned_table
from robot.runtime.writable import TELEMETRY_FIX, run_problems
from shared.bundle import Bundle, read_bundle, sha256_file
from shared.errors import BundleError, NoSnapshotError, Sim2PiError
from shared.files import os_reason

_log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LearnerRecipe:
    """A bundle's Q-table checked for learning with a config's ``[learning]``; ``open`` builds
    the learner (which reads the state directory)."""

    config: RobotConfig
    bundle: Bundle
    values: np.ndarray
    #: sha256 of the bundle's Q-table file: a learner's snapshots belong to that table.
    qtable_sha256: str

    def open(self) -> Learner:
        """The learner, resumed from its state directory if a snapshot there fits this table.

        ``StateDirBusyError`` when another process learns in that directory; a ConfigError
        naming it when it cannot be read or written.
        """
        learning, bundle, sha = self.config.learning, self.bundle, self.qtable_sha256
        try:
            learner = Learner(
                bundle.spec,
                bundle.discretizer,
                self.values,
                sha,
                learning,
                supervisor=self.config.supervisor,
            )
        except OSError as exc:
            if isinstance(exc, Sim2PiError):  # another run holds the directory: says so already
                raise
            raise ConfigError(
                f"{self.config.source}: [learning] state_dir {learning.state_dir}: cannot open "
                f"it ({os_reason(exc)}); {STATE_DIR_FIX}"
            ) from None
        _log.info("learning on: state in %s, starting from %s", learning.state_dir, learner.source)
        return learner

    def runs_in(self, decider: Decider) -> bool:
        """Whether ``decider`` is a learner that learns exactly this (so it may carry on)."""
        return (
            isinstance(decider, Learner)
            and decider.bundle_sha256 == self.qtable_sha256
            and decider.spec == self.bundle.spec
            and decider.discretizer == self.bundle.discretizer
            and decider.learns_as(self.config.learning, self.config.supervisor)
        )


@dataclass(frozen=True)
class Composition:
    """What a config and its bundle run, all checked; the decider and telemetry open on demand."""

    config: RobotConfig
    bundle: Bundle
    #: What decides: the greedy policy (built now: it holds no state), or the learner's recipe.
    decider: GreedyDecider | LearnerRecipe
    #: What runs, for logs and ``STATUS=``: the bundle and the configured policy.
    label: str

    @property
    def learning(self) -> bool:
        """Whether the on-robot learner decides."""
        return isinstance(self.decider, LearnerRecipe)

    def describe(self) -> str:
        """One line for the log: the policy and its bundle, or that the learner decides."""
        bundle = self.bundle.path
        if isinstance(self.decider, LearnerRecipe):
            policy = self.config.bundle.policy
            return f"policy {policy} from {bundle} not loaded: the on-robot learner decides"
        return f"policy {self.decider.policy.describe()} from {bundle}"

    def open_decider(self) -> Decider:
        """The decider to drive with (a learner reads its state directory; close it after)."""
        if isinstance(self.decider, LearnerRecipe):
            return self.decider.open()
        return self.decider

    @property
    def by_index(self) -> bool:
        """Whether the bundle's actions have no motor commands: they drive a simulated world
        (the ``gym`` backend) by action index; ``check_actions`` allowed nothing else."""
        return not has_motor_commands(self.bundle.spec)

    def open_supervisor(self) -> Supervisor | None:
        """A new supervisor for the bundle's actions and channels (``[supervisor]`` on), or None.

        None too for a bundle that drives by action index: there is no motor command to recover
        or shield with, and its channels are no robot's ranges."""
        settings = self.config.supervisor
        if not settings.enabled or self.by_index:
            return None
        return Supervisor.for_spec(settings, self.bundle.spec, self.config.loop.rate_hz)

    def open_telemetry(self) -> TelemetryWriter | None:
        """The telemetry writer (``[telemetry]`` enabled), or None; close it after."""
        telemetry = self.config.telemetry
        if not telemetry.enabled:
            return None
        try:
            return TelemetryWriter(telemetry)
        except OSError as exc:
            raise ConfigError(
                f"{self.config.source}: [telemetry] path {telemetry.path}: cannot open it for "
                f"appending ({os_reason(exc)}); {TELEMETRY_FIX}"
            ) from None


def compose(config: RobotConfig, bundle: Bundle, *, learn: bool = False) -> Composition:
    """What ``config`` runs on ``bundle``: the learner if ``learn`` (``--learn``) or ``[learning]
    enabled``, else the configured policy (a TFLite one on the runtime the probe picks).

    First, where it writes must take data: ConfigError (one line: the key, what was found, the
    fix) for an enabled telemetry path or a learning state directory that cannot be written.
    """
    learning = learn or config.learning.enabled
    by_index = check_actions(config, bundle, learning=learning)
    problems = run_problems(config, learning=learning, create=True)
    if problems:
        raise ConfigError(problems[0])
    if learning:
        # The learner starts from the bundle's Q-table: ``qtable-learned`` names that table too.
        name = "qtable" if config.bundle.policy == LEARNED_POLICY else config.bundle.policy
        return Composition(config, bundle, learner_recipe(config, bundle), label(bundle, name))
    policy = open_policy(config, bundle)
    if by_index:
        # The loop drives each choice's action index (``robot.control.world``); the command
        # beside it moves nothing, should anything ever drive it.
        decider = GreedyDecider(policy, [STOP] * len(bundle.spec.actions))
    else:
        decider = GreedyDecider.for_spec(policy, bundle.spec)
    return Composition(config, bundle, decider, label(bundle, policy.name))


def check_actions(config: RobotConfig, bundle: Bundle, *, learning: bool) -> bool:
    """Whether ``bundle``'s actions drive the world by action index (they have no motor
    commands); SpecMismatchError (one line: the key, expected, found, the fix) where they
    cannot drive what ``config`` names.

    The one rule, for ``run`` (through ``compose``), the reload and ``check`` alike: actions
    without motor commands drive only the ``gym`` backend (software in the loop), never the
    motors of ``gpio``, ``serial`` or ``sim``, and nothing can learn on them.
    """
    spec = bundle.spec
    if has_motor_commands(spec):
        return False
    found = (
        f"the bundle {bundle.path} ({spec.env_id}) has actions {list(spec.actions.names)} "
        "without motor commands"
    )
    backend = config.hardware.backend
    if not isinstance(config.hardware, GymConfig):
        raise SpecMismatchError(
            f"{config.source}: [hardware] backend = {backend!r}: expected a bundle whose actions "
            f"have motor commands (a robot task's), but {found}, so they cannot drive motors; "
            "export a robot task's bundle, or run this one in software in the loop "
            "(backend = 'gym', python -m trainer sil run)"
        )
    if learning:
        raise SpecMismatchError(
            f"{config.source}: [learning] (or --learn): on-robot learning needs actions with "
            f"motor commands, but {found}; turn learning off"
        )
    return True


def label(bundle: Bundle, policy_name: str) -> str:
    """What runs, for logs and ``STATUS=``: the bundle's directory and the policy's name."""
    # Resolved: deploy points a fixed link (/opt/sim2pi/bundle) at bundles/<name>-<sha>.
    return f"bundle {bundle.path.resolve().name}, policy {policy_name}"


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
    probe of the configured model (verdicts cached in ``$STATE_DIRECTORY`` under systemd, see
    ``robot.inference.probe.default_state_dir``), or the forced one.
    ``learning``: the learner will decide (``--learn``); a ``qtable-learned`` policy is then the
    bundle's Q-table (the learner resumes from the newest snapshot itself, or starts from it).
    """
    if config.bundle.policy == LEARNED_POLICY:
        if learning:
            return load_policy(bundle, "qtable")
        return open_learned_policy(config, bundle)
    kind = POLICY_KINDS.get(config.bundle.policy)
    if runtime is None and kind is not None and kind in bundle.models:
        runtime = choose_runtime(bundle.path, kind, probe=True)
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


def learner_recipe(config: RobotConfig, bundle: Bundle) -> LearnerRecipe:
    """Check that ``bundle`` can be learned on with ``config``'s ``[learning]``.

    Reads and checks the Q-table now (ConfigError naming the config if it does not fit); the
    recipe's ``open`` only builds the learner, which reads the state directory.
    """
    try:
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
    return LearnerRecipe(config, bundle, values, sha)

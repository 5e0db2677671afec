"""On-robot tabular Q-learning: the ``Decider`` that learns while it drives.

One ``Learner.decide`` per control tick does everything, so the loop stays simple: it takes the
raw observation (channel units), finishes the previous tick's transition (reward from
``shared.reward`` on this observation and the command sent), and returns the command to drive
now. The supervisor (``robot.control.supervisor``) decides what is a collision, for every mode
alike: on a contact it calls ``interrupted``, which learns the previous transition as terminal
(the TD target is the reward alone) and ends the episode; it then drives its recovery manoeuvre,
during which the learner is not asked and learns nothing.

The parts, one module each: the update rule (``update``: Q(λ)), ε-greedy exploration
(``exploration``; its choices pass the supervisor's ``robot.control.shield``), episodes and the
rollback window (``episodes``) and the state on disk (``snapshots``, in a directory no other
process learns in: ``state_lock``; saved every ``save_every`` updates and by ``close()``; while
saves fail the robot learns on in memory and retries: ``saving``). When the mean return of the
last ``rollback_window`` episodes falls ``rollback_drop`` below the best window so far, the best
snapshot's values are restored and ε is multiplied by ``rollback_epsilon_factor``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from robot.config import LearningConfig, SupervisorConfig
from robot.control.decider import Choice
from robot.control.shield import Shield
from robot.control.supervisor import CONTACT
from robot.inference.policy import Decision
from robot.learning.episodes import BEST, ROLLBACK, RunTotals, Stats
from robot.learning.exploration import EpsilonGreedy
from robot.learning.saving import Saver
from robot.learning.snapshots import META_VERSION, SnapshotStore, state_digest
from robot.learning.update import QLambda
from shared.discretize import Discretizer
from shared.qtable import QTable
from shared.reward import RewardFunction
from shared.spec import TaskSpec

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Update:
    """What one tick's update did: its reward (total and weighted terms), TD error and α."""

    reward: float
    reward_terms: dict[str, float]
    td_error: float
    alpha: float


class Learner:
    """Tabular Q-learning on a bundle's Q-table, one ``decide`` per control tick."""

    name = "learning on qtable"
    #: Each ``decide`` learns from the tick before it (see ``robot.control.decider.Decider``).
    learns = True

    def __init__(
        self,
        spec: TaskSpec,
        discretizer: Discretizer,
        bundle_values: np.ndarray,
        bundle_sha256: str,
        config: LearningConfig,
        *,
        supervisor: SupervisorConfig | None = None,
        seed: int | None = None,
        on_save: Callable[[str, int, str], None] | None = None,
        rule: QLambda | None = None,
    ) -> None:
        """Load the newest good snapshot from ``config.state_dir`` (else the bundle's table).

        ``on_save(stage, updates, digest)`` is called with stage ``"saving"`` before and
        ``"saved"`` after each snapshot is written (tests and benchmarks follow saves by it).
        ``rule``: the update rule (default: ``QLambda(config)``). ``supervisor``: the loop's
        ``[supervisor]`` (default: its defaults); its shield distance applies to every choice,
        so the learner shields its own choices alike and learns from what is driven.
        """
        if any(action.motor is None for action in spec.actions):
            raise ValueError(
                f"learner: every action of {spec.env_id!r} needs a motor command, found none on "
                "some; on-robot learning needs a robot spec"
            )
        self.spec = spec
        self.config = config
        self.discretizer = discretizer
        self.bundle_sha256 = bundle_sha256
        self.commands = [action.motor for action in spec.actions if action.motor is not None]
        self.reward_fn = RewardFunction(spec)
        self.supervisor = supervisor if supervisor is not None else SupervisorConfig()
        self.shield = Shield(self.commands, [c.unit for c in spec.observation.channels])
        self.rule = rule if rule is not None else QLambda(config)
        n_actions = len(spec.actions)
        values = np.asarray(bundle_values, np.float64)
        if values.shape != (discretizer.n_states, n_actions):
            raise ValueError(
                f"learner: bundle Q-table shape {values.shape}, expected "
                f"({discretizer.n_states}, {n_actions}) (states × actions); re-export the bundle"
            )
        self.store = SnapshotStore(
            Path(config.state_dir),
            config.keep,
            discretizer,
            n_actions,
            bundle_sha256,
            on_save=on_save,
        )
        self.table, self.source = self.store.open(values)
        meta = self.table.meta
        self.saver = Saver(self.store, config.save_every, int(meta.get("updates", 0)), self.source)
        epsilon = float(meta.get("epsilon", config.epsilon_start))
        self.exploration = EpsilonGreedy(config, epsilon, np.random.default_rng(seed))
        self.stats = Stats.from_meta(meta)
        self.best: QTable | None = self.store.best()
        self._prev: tuple[int, int] | None = None  # (state, action) awaiting its reward
        #: This tick's update (None: it made none) and events, for the telemetry.
        self.last_update: Update | None = None
        self._events: list[str] = []
        self._run = RunTotals()
        #: (updates, snapshot) of the last ``close``: closing again without learning writes nothing.
        self._closed: tuple[int, Path] | None = None

    @classmethod
    def from_bundle(cls, bundle: Any, config: LearningConfig, **kwargs: Any) -> Learner:
        """A learner on ``shared.bundle.Bundle``'s Q-table and discretiser."""
        from shared.bundle import sha256_file

        values = bundle.load_qtable()
        sha = sha256_file(bundle.file(bundle.qtable_file))
        return cls(bundle.spec, bundle.discretizer, values, sha, config, **kwargs)

    @property
    def epsilon(self) -> float:
        """The exploration rate now."""
        return self.exploration.epsilon

    def learns_as(self, config: LearningConfig, supervisor: SupervisorConfig) -> bool:
        """Whether ``config`` tunes learning exactly as this learner runs (``enabled`` aside),
        and ``supervisor`` shields as it does."""
        same = replace(config, enabled=self.config.enabled) == self.config
        return same and supervisor.shield_distance_m == self.supervisor.shield_distance_m

    # -- persistence -----------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        return {
            "meta_version": META_VERSION,
            "bundle_qtable_sha256": self.bundle_sha256,
            "epsilon": self.epsilon,
            **self.stats.meta(),
        }

    def digest(self) -> str:
        """``state_digest`` of the live table."""
        return state_digest(self.table.values, self.table.visits)

    def save(self) -> Path | None:
        """Write a snapshot of the table and learner state now (atomic; keeps the newest K); None
        when the disk refused it (logged once per spell of failures, retried later)."""
        self.table.meta = self._meta()
        return self.saver.save(self.table)

    def close(self) -> Path:
        """Save the final state and let go of the state directory (call at every exit of the
        loop); a second call that follows no new update writes nothing and returns the same
        snapshot. ``StateNotSavedError`` (one line: what was not kept) when the save fails."""
        if self._closed is not None and self._closed[0] == self.stats.updates:
            return self._closed[1]
        self.table.meta = self._meta()
        try:
            path = self.saver.final(self.table)
        finally:
            self.store.close()
        self._closed = (self.stats.updates, path)
        _log.info("learning state saved to %s (%d updates)", path, self.stats.updates)
        return path

    # -- acting and learning ---------------------------------------------------------------

    def decide(self, observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        """Learn from the last tick (reward of this observation) and choose this tick's command
        (``bumper`` and ``now_s`` are not used: the supervisor judges contacts)."""
        raw = np.asarray(observation, np.float64)
        self.stats.ticks += 1
        self.last_update = None
        self._events = []
        state = self.discretizer.index(raw)
        if self._prev is not None:
            self._update(raw, state, terminal=False)
        return self._choose(self.shield.nearest_m(raw), state)

    def interrupted(self, observation: np.ndarray, reason: str) -> None:
        """The supervisor takes over: learn the previous transition (terminal on a contact, which
        also ends the episode); nothing is learnt from the manoeuvre that follows."""
        raw = np.asarray(observation, np.float64)
        self.last_update = None
        self._events = []
        contact = reason == CONTACT
        if self._prev is not None:
            self._update(raw, self.discretizer.index(raw), terminal=contact)
        if contact:
            self._end_episode()
        self._prev = None
        self.rule.cut_trace()

    def _update(self, raw: np.ndarray, state: int, terminal: bool) -> None:
        """Learn the previous (state, action) from this tick's reward; save every N updates."""
        assert self._prev is not None
        reward = self.reward_fn(raw, self.commands[self._prev[1]], terminal)
        td_error, alpha = self.rule.update(self.table, self._prev, state, reward.total, terminal)
        s = self.stats
        s.updates += 1
        s.episode_return += reward.total
        self._run.add(td_error, reward.terms)
        s.episode_length += 1
        self.exploration.decay()
        self.last_update = Update(reward.total, dict(reward.terms), td_error, alpha)
        self._prev = None
        if self.saver.due(s.updates):
            self.save()

    def _choose(self, nearest_m: float, state: int) -> Choice:
        """ε-greedy with the shields; remembers (state, action) for the next update."""
        q = self.table.values[state]
        greedy = int(q.argmax())
        action, explored = self.exploration.draw(greedy, len(self.commands))
        if explored:
            self.stats.explored += 1
            redrawn = self.shield.redrawn(
                action, nearest_m, self.config.shield_distance_m, self.exploration.rng, greedy
            )
            if redrawn is not None:
                self.stats.shielded += 1
                self._events.append("shielded")
                action = redrawn
        distance = self.supervisor.shield_distance_m if self.supervisor.enabled else 0.0
        overridden = self.shield.overridden(action, nearest_m, distance, q)
        if overridden is not None:
            # The shield overrides the choice itself: the best-valued action that does not
            # drive forward is driven, and its update is the one learnt (the pair remembered).
            self.stats.overridden += 1
            self._events.append("overridden")
            action = overridden
        if action != greedy:
            self.rule.cut_trace()  # Watkins: what came before did not lead to a greedy action
        self._prev = (state, action)
        return Choice(self.commands[action], Decision(action, q.copy()), explored=explored)

    def _end_episode(self) -> None:
        """Close the episode (a collision): record its return, keep the best window, roll back."""
        verdict, mean = self.stats.end_episode(
            self.config.rollback_window, self.config.rollback_drop
        )
        self._events.append("episode_end")
        self._prev = None
        self.rule.cut_trace()
        if verdict == BEST:
            self.table.meta = self._meta()
            self.best = self.table.copy()
            self.saver.save_best(self.best)
        elif verdict == ROLLBACK:
            self._rollback(mean)

    def _rollback(self, mean: float) -> None:
        """Restore the best window's values and lower ε."""
        old_epsilon = self.epsilon
        self.exploration.lower()
        if self.best is not None:
            self.table.values[...] = self.best.values
            self.table.visits[...] = self.best.visits
        self.stats.rolled_back()
        self.rule.cut_trace()
        self._events.append("rollback")
        _log.warning(
            "learning rollback: mean return %.3f over %d episodes is more than %.3f below the best "
            "window %.3f; restored the best table, epsilon %.4f -> %.4f",
            mean,
            self.config.rollback_window,
            self.config.rollback_drop,
            self.stats.best_window_return,
            old_epsilon,
            self.epsilon,
        )

    # -- telemetry -------------------------------------------------------------------------

    def telemetry_fields(self) -> dict[str, Any]:
        """Per-tick fields for the telemetry record: ε and the updates so far, then the TD error,
        reward terms and events of the update made since the last record (each reported once:
        the ticks of a supervisor's takeover, when the learner is not asked, carry none)."""
        fields: dict[str, Any] = {
            "epsilon": round(self.epsilon, 6),
            "updates": self.stats.updates,
        }
        update, self.last_update = self.last_update, None
        if update is not None:
            fields["td_error"] = round(float(update.td_error), 6)
            fields["alpha"] = round(float(update.alpha), 6)
            fields["reward"] = round(float(update.reward), 6)
            for term, value in update.reward_terms.items():
                fields[f"reward_{term}"] = round(float(value), 6)
        if self._events:
            fields["learn_events"] = self._events
            self._events = []
        return fields

    def summary(self) -> dict[str, Any]:
        """Totals for the exit summary: the learner's (all runs) and this run's TD error and reward.

        ``run_reward_terms`` sums each reward term's weighted contribution over this run's
        updates (their sum is ``run_reward``), so a run on the robot compares with the simulator.
        """
        s = self.stats
        return {
            **self._run.summary(),
            "source": self.source,
            "updates": s.updates,
            "episodes": s.episodes,
            "collisions": s.collisions,
            "explored": s.explored,
            "shielded": s.shielded,
            "overridden": s.overridden,
            "rollbacks": s.rollbacks,
            "save_failures": self.saver.failures,
            "epsilon": self.epsilon,
            "best_window_return": s.best_window_return,
            "recent_mean_return": float(np.mean(s.recent_returns)) if s.recent_returns else None,
        }

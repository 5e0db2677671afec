"""On-robot tabular Q-learning: ε-greedy with a safety shield, episodes with recovery, rollback.

One ``Learner.step`` per control tick does everything, so the loop stays simple: it takes the
raw observation (channel units) and whether the robot collided, finishes the previous tick's
transition (reward from ``shared.reward`` on this observation and the command sent; the TD target
is the reward alone when the tick collided), and returns the command to drive now.

- **Update**: Watkins's Q(λ). Q(s, a) moves by α × TD error, as in Q-learning, and so does
  each (state, action) before it in the episode, scaled by its eligibility trace (1 when taken,
  × γλ every tick after; ``trace_lambda`` = λ, 0: one-step Q-learning). The trace is cut when
  exploration takes a non-greedy action and when the episode ends; it is not saved. A collision
  is seldom the fault of the last tick alone: the trace charges the ticks that drove into it.
  With ``huber_delta`` > 0 the TD error of a tick that did not collide is clipped to
  ±huber_delta before it moves anything (the gradient of the Huber loss, as the trainer's DQN
  uses): in a state of three binned ranges one tick's surprise is mostly what the bins hide, and
  unclipped it moves the values as far as a real lesson. A collision's TD error is never clipped:
  it is the lesson the learner is there for.
  ``state_share`` of each move is also applied to the other actions of the same state. The
  bundle's table comes from the simulator: in a shifted world the action taken soon looks worse
  than the untried ones only because they were not tried; sharing the state's correction keeps
  the bundle's preferences until experience of each action changes them.

- **Episodes**: a collision (bumper, or a metre channel below ``collision_distance_m``) ends one;
  the ``recovery`` manoeuvre (a sequence of (MotorCommand, duration_s)) then runs, outside
  learning (no updates), before the next episode starts.
- **Shield**: an exploratory choice never drives forward (left + right > 0) while any range is
  below ``shield_distance_m``; such draws are redrawn among the allowed actions and counted.
  With ``shield_greedy_distance_m`` > 0 no choice, greedy ones included, drives forward while a
  range is below that: the best-valued action that does not is driven instead, learnt from (its
  pair gets the update) and counted (``overridden``). A learner that has not yet learnt where
  its new preferences are unsafe otherwise drives them into obstacles while it learns.
- **Rollback**: when the mean return of the last ``rollback_window`` episodes falls
  ``rollback_drop`` below the best window so far, the best snapshot's values are restored and ε
  is multiplied by ``rollback_epsilon_factor``.
- **Persistence**: values, visits and the learner state are saved with
  ``shared.qtable.save_snapshot`` every ``save_every`` updates and by ``close()``, in
  ``state_dir`` (the best window's table in ``state_dir/best``). At start the newest snapshot
  whose checksum holds is loaded, the bundle's table if none. A snapshot made for another bundle
  (other grid, action count or bundle Q-table sha256) is never used: the snapshots are moved
  aside to ``state_dir/stale-<UTC time>/`` with a warning and learning restarts from the bundle.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from robot.config import LearningConfig
from shared.discretize import Discretizer
from shared.errors import NoSnapshotError
from shared.qtable import QTable, list_snapshots, load_latest, save_snapshot
from shared.reward import RewardFunction
from shared.spec import MotorCommand, TaskSpec

_log = logging.getLogger(__name__)

META_VERSION = 1
BEST_DIR = "best"
#: A trace below this is dropped (λ = 0.9, γ = 0.99: about 40 ticks, 2 s at 20 Hz).
TRACE_CUTOFF = 0.01
#: Phases a tick can be in.
LEARN, RECOVER = "learn", "recover"


@dataclass(frozen=True)
class RecoveryStep:
    """One step of the recovery manoeuvre: a motor command held for ``duration_s`` seconds."""

    command: MotorCommand
    duration_s: float


def recovery_from(steps: Sequence[tuple[float, float, float]]) -> tuple[RecoveryStep, ...]:
    """Recovery steps from (left duty, right duty, duration_s) triples (as a config lists them)."""
    return tuple(RecoveryStep(MotorCommand(left, right), dur) for left, right, dur in steps)


#: The ``[learning]`` defaults: the settings below take theirs from here, so they are stated once.
_CONFIG_DEFAULTS = LearningConfig()


@dataclass(frozen=True)
class LearnerSettings:
    """Everything the learner is tuned by (``from_config`` takes the ``[learning]`` section).

    Each field means what the ``LearningConfig`` field of the same name says, with its default.
    """

    state_dir: Path
    epsilon_start: float = _CONFIG_DEFAULTS.epsilon_start
    epsilon_floor: float = _CONFIG_DEFAULTS.epsilon_floor
    epsilon_decay: float = _CONFIG_DEFAULTS.epsilon_decay
    alpha: float = _CONFIG_DEFAULTS.alpha
    alpha_omega: float = _CONFIG_DEFAULTS.alpha_omega
    alpha_floor: float = _CONFIG_DEFAULTS.alpha_floor
    gamma: float = _CONFIG_DEFAULTS.gamma
    state_share: float = _CONFIG_DEFAULTS.state_share
    trace_lambda: float = _CONFIG_DEFAULTS.trace_lambda
    huber_delta: float = _CONFIG_DEFAULTS.huber_delta
    save_every: int = _CONFIG_DEFAULTS.save_every
    keep: int = _CONFIG_DEFAULTS.keep
    shield_distance_m: float = _CONFIG_DEFAULTS.shield_distance_m
    shield_greedy_distance_m: float = _CONFIG_DEFAULTS.shield_greedy_distance_m
    collision_distance_m: float = _CONFIG_DEFAULTS.collision_distance_m
    #: Stop, back off, turn on the spot (``LearningConfig.recovery`` as motor commands).
    recovery: tuple[RecoveryStep, ...] = recovery_from(_CONFIG_DEFAULTS.recovery)
    rollback_window: int = _CONFIG_DEFAULTS.rollback_window
    rollback_drop: float = _CONFIG_DEFAULTS.rollback_drop
    rollback_epsilon_factor: float = _CONFIG_DEFAULTS.rollback_epsilon_factor

    def __post_init__(self) -> None:
        checks = (
            ("epsilon_floor", 0.0 <= self.epsilon_floor <= self.epsilon_start <= 1.0),
            ("epsilon_decay", 0.0 < self.epsilon_decay <= 1.0),
            ("alpha", 0.0 < self.alpha <= 1.0 and 0.0 <= self.alpha_floor <= self.alpha),
            ("alpha_omega", self.alpha_omega >= 0.0),
            ("gamma", 0.0 <= self.gamma <= 1.0),
            ("state_share", 0.0 <= self.state_share < 1.0),
            ("trace_lambda", 0.0 <= self.trace_lambda < 1.0),
            ("huber_delta", self.huber_delta >= 0.0),
            ("shield_greedy_distance_m", self.shield_greedy_distance_m >= 0.0),
            ("save_every", self.save_every >= 1),
            ("keep", self.keep >= 1),
            ("rollback_window", self.rollback_window >= 1),
            ("rollback_drop", self.rollback_drop >= 0.0),
            ("rollback_epsilon_factor", 0.0 <= self.rollback_epsilon_factor <= 1.0),
            ("recovery", all(step.duration_s >= 0.0 for step in self.recovery)),
        )
        for name, ok in checks:
            if not ok:
                raise ValueError(
                    f"learner setting {name}: invalid value in {self!r}; expected 0 <= floor <= "
                    "start <= 1 for epsilon/alpha, 0 < decay <= 1, gamma in [0, 1], counts >= 1, "
                    "durations >= 0"
                )

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> LearnerSettings:
        """Settings from ``robot.config.LearningConfig`` (plus keyword overrides)."""
        values = {f.name: getattr(config, f.name) for f in fields(cls)}
        values["state_dir"] = Path(values["state_dir"])
        values["recovery"] = recovery_from(config.recovery)
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class Choice:
    """What to drive this tick: the action (None during recovery) and its motor command."""

    action_index: int | None
    command: MotorCommand
    phase: str
    explored: bool = False
    #: The learner's Q-values of the state it chose in (a copy; None during recovery).
    q_values: np.ndarray | None = None


@dataclass
class _Stats:
    """Counters kept in the snapshot's meta."""

    updates: int = 0
    ticks: int = 0
    episodes: int = 0
    collisions: int = 0
    explored: int = 0
    shielded: int = 0
    overridden: int = 0
    rollbacks: int = 0
    episode_return: float = 0.0
    episode_length: int = 0
    recent_returns: list[float] = field(default_factory=list)
    best_window_return: float | None = None


def state_digest(values: np.ndarray, visits: np.ndarray) -> str:
    """A short sha256 of a table's values and visits (identifies one saved version)."""
    digest = hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes())
    digest.update(np.ascontiguousarray(visits, np.int64).tobytes())
    return digest.hexdigest()[:16]


class Learner:
    """Tabular Q-learning on a bundle's Q-table, one ``step`` per control tick."""

    def __init__(
        self,
        spec: TaskSpec,
        discretizer: Discretizer,
        bundle_values: np.ndarray,
        bundle_sha256: str,
        settings: LearnerSettings,
        *,
        seed: int | None = None,
        on_save: Callable[[str, int, str], None] | None = None,
    ) -> None:
        """Load the newest good snapshot from ``settings.state_dir`` (else the bundle's table).

        ``on_save(stage, updates, digest)`` is called with stage ``"saving"`` before and
        ``"saved"`` after each snapshot is written (tests and benchmarks follow saves by it).
        """
        if any(action.motor is None for action in spec.actions):
            raise ValueError(
                f"learner: every action of {spec.env_id!r} needs a motor command, found none on "
                "some; on-robot learning needs a robot spec"
            )
        self.spec = spec
        self.settings = settings
        self.discretizer = discretizer
        self.bundle_sha256 = bundle_sha256
        self.commands = [action.motor for action in spec.actions]
        self._forward = np.array([c.left + c.right > 0.0 for c in self.commands])  # type: ignore[union-attr]
        #: The actions that do not drive forward: what a shield leaves (none: it never acts).
        self._turns = np.flatnonzero(~self._forward)
        self.reward_fn = RewardFunction(spec)
        self._metre = [i for i, c in enumerate(spec.observation.channels) if c.unit == "m"]
        self.rng = np.random.default_rng(seed)
        self.on_save = on_save
        n_actions = len(spec.actions)
        values = np.asarray(bundle_values, np.float64)
        if values.shape != (discretizer.n_states, n_actions):
            raise ValueError(
                f"learner: bundle Q-table shape {values.shape}, expected "
                f"({discretizer.n_states}, {n_actions}) (states × actions); re-export the bundle"
            )
        self.table, self.source = self._load(values)
        meta = self.table.meta
        self.epsilon = float(meta.get("epsilon", settings.epsilon_start))
        self.stats = _Stats(
            **{
                k: meta[k]
                for k in _Stats.__dataclass_fields__
                if k in meta and k != "episode_return"
            }
        )
        self.stats.episode_length = 0
        self.best: QTable | None = self._load_best()
        self._prev: tuple[int, int] | None = None  # (state, action) awaiting its reward
        #: Eligibility traces of the pairs before ``_prev`` in this episode (not saved).
        self._trace: dict[tuple[int, int], float] = {}
        self._recovery_until: list[float] = []  # end times of the remaining recovery steps
        self._recovery_steps: list[RecoveryStep] = []
        self._last: dict[str, Any] = {}
        self._events: list[str] = []
        # This run's totals for the summary (the snapshot's counters span every run).
        self._run_updates = 0
        self._run_abs_td_error = 0.0
        self._run_reward_terms: dict[str, float] = {}

    @classmethod
    def from_bundle(cls, bundle: Any, settings: LearnerSettings, **kwargs: Any) -> Learner:
        """A learner on ``shared.bundle.Bundle``'s Q-table and discretiser."""
        from shared.bundle import sha256_file

        values = bundle.load_qtable()
        sha = sha256_file(bundle.file(bundle.qtable_file))
        return cls(bundle.spec, bundle.discretizer, values, sha, settings, **kwargs)

    # -- persistence -----------------------------------------------------------------------

    def _matches(self, table: QTable) -> str | None:
        """Why a snapshot does not belong to this bundle, or None if it does."""
        return snapshot_mismatch(table, self.discretizer, len(self.commands), self.bundle_sha256)

    def _load(self, bundle_values: np.ndarray) -> tuple[QTable, str]:
        """The newest good matching snapshot, or a fresh table from the bundle; logs the choice."""
        state_dir = self.settings.state_dir
        try:
            result = load_latest(state_dir)
        except NoSnapshotError as exc:
            _log.info("learning starts from the bundle's Q-table (%s)", exc)
            return self._fresh(bundle_values), "bundle"
        for path, reason in result.skipped:
            _log.warning("learning: skipped snapshot %s: %s", path.name, reason)
        why = self._matches(result.qtable)
        if why is not None:
            stale = state_dir / time.strftime("stale-%Y%m%dT%H%M%SZ", time.gmtime())
            stale.mkdir(parents=True, exist_ok=True)
            for path in list_snapshots(state_dir):
                path.rename(stale / path.name)
            if (state_dir / BEST_DIR).is_dir():
                (state_dir / BEST_DIR).rename(stale / BEST_DIR)
            _log.warning(
                "learning: snapshot %s belongs to another bundle (%s); moved the snapshots to %s "
                "and starting from this bundle's Q-table",
                result.path.name,
                why,
                stale,
            )
            return self._fresh(bundle_values), "bundle"
        _log.info(
            "learning resumes from snapshot %s (%d updates; %d newer skipped)",
            result.path.name,
            int(result.qtable.meta.get("updates", 0)),
            len(result.skipped),
        )
        return result.qtable, str(result.path)

    def _fresh(self, values: np.ndarray) -> QTable:
        """A table with the bundle's values, no visits, and this bundle's sha256 in its meta."""
        return QTable(
            values.copy(),
            np.zeros(values.shape, np.int64),
            self.discretizer,
            {"bundle_qtable_sha256": self.bundle_sha256, "meta_version": META_VERSION},
        )

    def _load_best(self) -> QTable | None:
        """The best window's table, if one was saved for this bundle."""
        try:
            best = load_latest(self.settings.state_dir / BEST_DIR).qtable
        except NoSnapshotError:
            return None
        return best if self._matches(best) is None else None

    def _meta(self) -> dict[str, Any]:
        s = self.stats
        return {
            "meta_version": META_VERSION,
            "bundle_qtable_sha256": self.bundle_sha256,
            "epsilon": self.epsilon,
            "updates": s.updates,
            "ticks": s.ticks,
            "episodes": s.episodes,
            "collisions": s.collisions,
            "explored": s.explored,
            "shielded": s.shielded,
            "overridden": s.overridden,
            "rollbacks": s.rollbacks,
            "recent_returns": list(s.recent_returns),
            "best_window_return": s.best_window_return,
        }

    def digest(self) -> str:
        """``state_digest`` of the live table."""
        return state_digest(self.table.values, self.table.visits)

    def save(self) -> Path:
        """Write a snapshot of the table and learner state now (atomic; keeps the newest K)."""
        self.table.meta = self._meta()
        digest = self.digest()
        if self.on_save is not None:
            self.on_save("saving", self.stats.updates, digest)
        path = save_snapshot(self.settings.state_dir, self.table, self.settings.keep)
        if self.on_save is not None:
            self.on_save("saved", self.stats.updates, digest)
        return path

    def close(self) -> Path:
        """Save the final state (call at every exit of the loop)."""
        path = self.save()
        _log.info("learning state saved to %s (%d updates)", path, self.stats.updates)
        return path

    # -- acting and learning ---------------------------------------------------------------

    def nearest_m(self, raw_observation: np.ndarray) -> float:
        """The nearest range a metre channel reads (inf without any)."""
        return min((float(raw_observation[i]) for i in self._metre), default=np.inf)

    def collided(self, raw_observation: np.ndarray, bumper: bool | None) -> bool:
        """A bump, or a range channel closer than ``collision_distance_m``."""
        return self._collided(bumper, self.nearest_m(raw_observation))

    def _collided(self, bumper: bool | None, nearest_m: float) -> bool:
        return bool(bumper) or nearest_m < self.settings.collision_distance_m

    def _shielded(self, action: int, nearest_m: float, distance_m: float) -> bool:
        """Whether a shield at ``distance_m`` forbids ``action`` (driving forward) here."""
        return nearest_m < distance_m and bool(self._forward[action])

    def alpha_for(self, visits: Any) -> Any:
        """The learning rate for a (state, action) visited ``visits`` times before (or an array)."""
        s = self.settings
        return np.maximum(s.alpha_floor, s.alpha / (1.0 + visits) ** s.alpha_omega)

    def step(self, raw_observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        """Learn from the last tick (reward of this observation) and choose this tick's command."""
        raw = np.asarray(raw_observation, np.float64)
        self.stats.ticks += 1
        self._last = {}
        self._events = []
        if self._recovery_until:
            choice = self._recover(now_s)
            if choice is not None:
                return choice
        nearest = self.nearest_m(raw)  # once a tick: the collision check and both shields
        hit = self._collided(bumper, nearest)
        state = self.discretizer.index(raw)
        if self._prev is not None:
            self._update(raw, state, hit)
        if hit:
            self._end_episode()
            self._start_recovery(now_s)
            choice = self._recover(now_s)
            if choice is not None:
                return choice
            return Choice(None, MotorCommand(0.0, 0.0), RECOVER)  # an empty recovery: stop once
        return self._choose(nearest, state)

    def _update(self, raw: np.ndarray, state: int, terminal: bool) -> None:
        """One Q(λ) update with this tick's reward: the previous (state, action) and its trace."""
        prev_state, prev_action = self._prev  # type: ignore[misc]
        reward = self.reward_fn(raw, self.commands[prev_action], terminal)
        values, visits = self.table.values, self.table.visits
        target = reward.total
        if not terminal:
            target += self.settings.gamma * float(values[state].max())
        td_error = target - float(values[prev_state, prev_action])
        alpha = self.alpha_for(int(visits[prev_state, prev_action]))
        step = td_error
        if self.settings.huber_delta > 0.0 and not terminal:
            step = min(max(td_error, -self.settings.huber_delta), self.settings.huber_delta)
        # Part of the correction is the state's value, which every action shares; moving only
        # the action taken would make the actions not tried look better than they are (their
        # values are the simulator's) and flip the greedy choice on no evidence.
        share = self.settings.state_share
        if self.settings.trace_lambda == 0.0:
            # One-step: the pair alone, in scalars (the trace's array work would double the
            # learner's time per tick for the same numbers).
            correction = alpha * step
            values[prev_state] += share * correction
            values[prev_state, prev_action] += (1.0 - share) * correction
        else:
            states, actions, traces = self._trace_with(prev_state, prev_action)
            corrections = self.alpha_for(visits[states, actions]) * traces * step
            np.add.at(values, states, share * corrections[:, None])
            np.add.at(values, (states, actions), (1.0 - share) * corrections)
            self._decay_trace(terminal)
        visits[prev_state, prev_action] += 1
        s = self.stats
        s.updates += 1
        s.episode_return += reward.total
        self._run_updates += 1
        self._run_abs_td_error += abs(td_error)
        for term, value in reward.terms.items():
            self._run_reward_terms[term] = self._run_reward_terms.get(term, 0.0) + value
        s.episode_length += 1
        self.epsilon = max(self.settings.epsilon_floor, self.epsilon * self.settings.epsilon_decay)
        self._last = {
            "td_error": td_error,
            "alpha": alpha,
            "reward": reward.total,
            **{f"reward_{k}": v for k, v in reward.terms.items()},
        }
        self._prev = None
        if s.updates % self.settings.save_every == 0:
            self.save()

    def _trace_with(self, state: int, action: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The trace with (state, action) set to 1 (replacing traces): states, actions, traces."""
        pairs = self._trace
        pairs[(state, action)] = 1.0
        keys = np.array(list(pairs), np.int64).reshape(-1, 2)
        return keys[:, 0], keys[:, 1], np.fromiter(pairs.values(), np.float64, len(pairs))

    def _decay_trace(self, terminal: bool) -> None:
        """Age the trace by γλ a tick; drop what falls below ``TRACE_CUTOFF``, all at an end."""
        decay = self.settings.gamma * self.settings.trace_lambda
        if terminal or decay == 0.0:  # decay 0: γ = 0
            self._trace = {}
            return
        self._trace = {k: e * decay for k, e in self._trace.items() if e * decay > TRACE_CUTOFF}

    def _choose(self, nearest_m: float, state: int) -> Choice:
        """ε-greedy with the shields; remembers (state, action) for the next update."""
        q = self.table.values[state]
        greedy = int(q.argmax())
        action, explored = greedy, False
        if self.rng.random() < self.epsilon:
            explored = True
            self.stats.explored += 1
            action = int(self.rng.integers(len(self.commands)))
            if self._shielded(action, nearest_m, self.settings.shield_distance_m):
                self.stats.shielded += 1
                self._events.append("shielded")
                action = int(self.rng.choice(self._turns)) if self._turns.size else greedy
        greedy_shield = self.settings.shield_greedy_distance_m
        if self._turns.size and self._shielded(action, nearest_m, greedy_shield):
            # The shield overrides the choice itself: the best-valued action that does not
            # drive forward is driven, and its update is the one learnt (the pair remembered).
            self.stats.overridden += 1
            self._events.append("overridden")
            action = int(self._turns[q[self._turns].argmax()])
        if action != greedy:
            self._trace = {}  # Watkins: what came before did not lead to a greedy action
        self._prev = (state, action)
        return Choice(
            action,
            self.commands[action],  # type: ignore[arg-type]
            LEARN,
            explored,
            q.copy(),
        )

    def _end_episode(self) -> None:
        """Close the episode (a collision): record its return, check for a rollback."""
        s = self.stats
        s.episodes += 1
        s.collisions += 1
        s.recent_returns.append(s.episode_return)
        s.recent_returns = s.recent_returns[-self.settings.rollback_window :]
        _log.info("episode %d ended by a collision: return %.3f", s.episodes, s.episode_return)
        self._events.append("episode_end")
        s.episode_return, s.episode_length = 0.0, 0
        self._prev, self._trace = None, {}
        if len(s.recent_returns) < self.settings.rollback_window:
            return
        mean = float(np.mean(s.recent_returns))
        if s.best_window_return is None or mean > s.best_window_return:
            s.best_window_return = mean
            self.table.meta = self._meta()
            self.best = self.table.copy()
            save_snapshot(self.settings.state_dir / BEST_DIR, self.best, 1)
        elif mean < s.best_window_return - self.settings.rollback_drop:
            self._rollback(mean)

    def _rollback(self, mean: float) -> None:
        """Restore the best window's values and lower ε."""
        s = self.stats
        old_epsilon = self.epsilon
        self.epsilon = max(
            self.settings.epsilon_floor, self.epsilon * self.settings.rollback_epsilon_factor
        )
        if self.best is not None:
            self.table.values[...] = self.best.values
            self.table.visits[...] = self.best.visits
        s.rollbacks += 1
        s.recent_returns = []
        self._trace = {}
        self._events.append("rollback")
        _log.warning(
            "learning rollback: mean return %.3f over %d episodes is more than %.3f below the best "
            "window %.3f; restored the best table, epsilon %.4f -> %.4f",
            mean,
            self.settings.rollback_window,
            self.settings.rollback_drop,
            s.best_window_return,
            old_epsilon,
            self.epsilon,
        )

    def _start_recovery(self, now_s: float) -> None:
        ends, t = [], now_s
        for step in self.settings.recovery:
            t += step.duration_s
            ends.append(t)
        self._recovery_until = ends
        self._recovery_steps = list(self.settings.recovery)

    def _recover(self, now_s: float) -> Choice | None:
        """The recovery step due at ``now_s`` (no learning), None once the manoeuvre is over."""
        while self._recovery_until and now_s >= self._recovery_until[0]:
            self._recovery_until.pop(0)
            self._recovery_steps.pop(0)
        if not self._recovery_steps:
            return None
        return Choice(None, self._recovery_steps[0].command, RECOVER)

    # -- telemetry -------------------------------------------------------------------------

    def telemetry_fields(self) -> dict[str, Any]:
        """Per-tick fields for the telemetry record: ε, TD error, reward terms, events."""
        fields: dict[str, Any] = {"epsilon": round(self.epsilon, 6)}
        fields["phase"] = RECOVER if self._recovery_steps else LEARN
        for key, value in self._last.items():
            fields[key] = round(float(value), 6)
        if self._events:
            fields["learn_events"] = list(self._events)
        return fields

    def summary(self) -> dict[str, Any]:
        """Totals for the exit summary: the learner's (all runs) and this run's TD error and reward.

        ``run_reward_terms`` sums each reward term's weighted contribution over this run's
        updates (their sum is ``run_reward``), so a run on the robot compares with the simulator.
        """
        s = self.stats
        run_updates = self._run_updates
        return {
            "run_updates": run_updates,
            "run_mean_abs_td_error": self._run_abs_td_error / run_updates if run_updates else None,
            "run_reward": sum(self._run_reward_terms.values()),
            "run_reward_terms": dict(self._run_reward_terms),
            "source": self.source,
            "updates": s.updates,
            "episodes": s.episodes,
            "collisions": s.collisions,
            "explored": s.explored,
            "shielded": s.shielded,
            "overridden": s.overridden,
            "rollbacks": s.rollbacks,
            "epsilon": self.epsilon,
            "best_window_return": s.best_window_return,
            "recent_mean_return": float(np.mean(s.recent_returns)) if s.recent_returns else None,
        }


def snapshot_mismatch(
    table: QTable, discretizer: Discretizer, n_actions: int, bundle_sha256: str
) -> str | None:
    """Why a snapshot was not learnt from this bundle's Q-table, or None if it was."""
    if table.discretizer != discretizer:
        return f"its grid {table.discretizer.n_bins} is not the bundle's"
    if table.n_actions != n_actions:
        return f"it has {table.n_actions} actions, the bundle {n_actions}"
    found = table.meta.get("bundle_qtable_sha256")
    if found != bundle_sha256:
        return f"it was learned from bundle Q-table sha256 {found}, not {bundle_sha256}"
    return None


def learned_table(bundle: Any, state_dir: Path) -> tuple[QTable, Path]:
    """The newest good snapshot in ``state_dir``, learnt from ``bundle``'s Q-table, and its path.

    What ``[bundle] policy = "qtable-learned"`` drives. Raises ``NoSnapshotError`` when no
    snapshot's checksum holds, ``ValueError`` when the newest good one was learnt from another
    bundle (the learner moves such snapshots aside the next time it starts; this never moves
    anything).
    """
    from shared.bundle import sha256_file

    result = load_latest(state_dir)
    for path, reason in result.skipped:
        _log.warning("learned table: skipped snapshot %s: %s", path.name, reason)
    sha = sha256_file(bundle.file(bundle.qtable_file))
    why = snapshot_mismatch(result.qtable, bundle.discretizer, len(bundle.spec.actions), sha)
    if why is not None:
        raise ValueError(f"{result.path}: not learnt from this bundle: {why}")
    return result.qtable, result.path


def with_state_dir(settings: LearnerSettings, state_dir: Path) -> LearnerSettings:
    """``settings`` writing to another state directory."""
    return replace(settings, state_dir=state_dir)

"""The update rule: Watkins's Q(λ) with a shared state correction, Huber clipping and an α schedule.

Q(s, a) moves by α × TD error, as in Q-learning, and so does each (state, action) before it in
the episode, scaled by its eligibility trace (1 when taken, × γλ every tick after;
``trace_lambda`` = λ, 0: one-step Q-learning). The trace is cut when exploration takes a
non-greedy action and when the episode ends; it is not saved. A collision is seldom the fault of
the last tick alone: the trace charges the ticks that drove into it.

With ``huber_delta`` > 0 the TD error of a tick that did not collide is clipped to ±huber_delta
before it moves anything (the gradient of the Huber loss, as the trainer's DQN uses): in a state
of three binned ranges one tick's surprise is mostly what the bins hide, and unclipped it moves
the values as far as a real lesson. A collision's TD error is never clipped: it is the lesson the
learner is there for.

``state_share`` of each move is also applied to the other actions of the same state. The bundle's
table comes from the simulator: in a shifted world the action taken soon looks worse than the
untried ones only because they were not tried; sharing the state's correction keeps the bundle's
preferences until experience of each action changes them.

α per (state, action) is ``max(alpha_floor, alpha / (1 + visits) ** alpha_omega)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot.config import LearningConfig
from shared.qtable import QTable

#: A trace below this is dropped (λ = 0.9, γ = 0.99: about 40 ticks, 2 s at 20 Hz).
TRACE_CUTOFF = 0.01


class QLambda:
    """Watkins's Q(λ) on a ``QTable``, tuned by the ``[learning]`` config; holds the trace."""

    def __init__(self, config: LearningConfig) -> None:
        """The rule with ``config``'s γ, λ, Huber δ, state share and α schedule."""
        self.config = config
        #: Eligibility traces of the pairs before the one being updated, this episode.
        self.trace: dict[tuple[int, int], float] = {}

    def alpha_for(self, visits: Any) -> Any:
        """The learning rate for a (state, action) visited ``visits`` times before (or an array)."""
        c = self.config
        return np.maximum(c.alpha_floor, c.alpha / (1.0 + visits) ** c.alpha_omega)

    def cut_trace(self) -> None:
        """Forget the trace (an exploratory action, an episode's end, a rollback)."""
        self.trace = {}

    def update(
        self, table: QTable, pair: tuple[int, int], state: int, reward: float, terminal: bool
    ) -> tuple[float, Any]:
        """Move ``pair`` (and its trace) towards ``reward`` (+ γ max Q(``state``) unless terminal).

        Counts the visit; returns the TD error and the α of ``pair``.
        """
        c = self.config
        prev_state, prev_action = pair
        values, visits = table.values, table.visits
        target = reward
        if not terminal:
            target += c.gamma * float(values[state].max())
        td_error = target - float(values[prev_state, prev_action])
        alpha = self.alpha_for(int(visits[prev_state, prev_action]))
        step = td_error
        if c.huber_delta > 0.0 and not terminal:
            step = min(max(td_error, -c.huber_delta), c.huber_delta)
        # Part of the correction is the state's value, which every action shares; moving only
        # the action taken would make the actions not tried look better than they are (their
        # values are the simulator's) and flip the greedy choice on no evidence.
        share = c.state_share
        if c.trace_lambda == 0.0:
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
        return td_error, alpha

    def _trace_with(self, state: int, action: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The trace with (state, action) set to 1 (replacing traces): states, actions, traces."""
        pairs = self.trace
        pairs[(state, action)] = 1.0
        keys = np.array(list(pairs), np.int64).reshape(-1, 2)
        return keys[:, 0], keys[:, 1], np.fromiter(pairs.values(), np.float64, len(pairs))

    def _decay_trace(self, terminal: bool) -> None:
        """Age the trace by γλ a tick; drop what falls below ``TRACE_CUTOFF``, all at an end."""
        decay = self.config.gamma * self.config.trace_lambda
        if terminal or decay == 0.0:  # decay 0: γ = 0
            self.trace = {}
            return
        self.trace = {k: e * decay for k, e in self.trace.items() if e * decay > TRACE_CUTOFF}

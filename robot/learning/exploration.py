"""ε-greedy exploration: ε starts at ``epsilon_start``, decays per update to ``epsilon_floor``.

A rollback multiplies ε by ``rollback_epsilon_factor`` (never below the floor). The random
stream is the learner's one: the shields redraw from it too, so a seed fixes every choice.
"""

from __future__ import annotations

import numpy as np

from robot.config import LearningConfig


class EpsilonGreedy:
    """The exploration rate and the draw between the greedy action and a random one."""

    def __init__(self, config: LearningConfig, epsilon: float, rng: np.random.Generator) -> None:
        """Explore at ``epsilon`` (a resumed learner's, else the config's start), from ``rng``."""
        self.config = config
        self.epsilon = epsilon
        self.rng = rng

    def draw(self, greedy: int, n_actions: int) -> tuple[int, bool]:
        """The action to take and whether it was explored (drawn uniformly, maybe the greedy)."""
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(n_actions)), True
        return greedy, False

    def decay(self) -> None:
        """One update's decay of ε towards the floor."""
        self.epsilon = max(self.config.epsilon_floor, self.epsilon * self.config.epsilon_decay)

    def lower(self) -> None:
        """A rollback's cut of ε (by ``rollback_epsilon_factor``, not below the floor)."""
        self.epsilon = max(
            self.config.epsilon_floor, self.epsilon * self.config.rollback_epsilon_factor
        )

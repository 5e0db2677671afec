"""What decides a tick: one interface for the greedy policy and the on-robot learner.

The loop asks exactly one ``Decider`` per tick for a ``Choice`` and drives its command; it never
knows whether a network, a Q-table or a learner chose it. Whoever opens a decider closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from robot.errors import SpecMismatchError
from robot.inference.policy import Decision, Policy
from shared.spec import MotorCommand, TaskSpec


@dataclass(frozen=True)
class Choice:
    """What to drive this tick, and why.

    ``decision`` is the action index and the Q-values it was chosen on (None: no action of the
    table was chosen).
    """

    command: MotorCommand
    decision: Decision | None
    #: Drawn to explore (the learner's ε), not chosen for its value: the supervisor does not
    #: count it as the policy oscillating.
    explored: bool = False


class Decider(Protocol):
    """Chooses each tick's motor command from the observation (raw units, the spec's order)."""

    #: What decides, for logs and ``STATUS=`` (e.g. ``policy tflite`` or ``learning on qtable``).
    name: str
    #: Whether each ``decide`` learns from the tick before it (the on-robot learner). The loop
    #: asks such a decider only on ticks whose choice it drives, so it never learns from a
    #: choice that was not acted on; a greedy policy is asked on held ticks too.
    learns: bool

    def decide(self, observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        """This tick's choice; ``bumper`` is the snapshot's bumper (None: the robot has none)."""
        ...

    def interrupted(self, observation: np.ndarray, reason: str) -> None:
        """The supervisor takes the motors from this tick on (``reason``: ``contact``,
        ``no_progress``, ``oscillation``); the decider is not asked again until it gives them
        back. The learner ends its episode on a contact and learns nothing from the manoeuvre."""
        ...

    def telemetry_fields(self) -> dict[str, Any]:
        """Fields merged into this tick's telemetry record (empty for a plain policy)."""
        ...

    def summary(self) -> dict[str, Any] | None:
        """Totals for the exit summary (under ``learning`` for the learner), or None."""
        ...

    def close(self) -> object:
        """Release what the decider holds (the learner saves its state); safe to call twice."""
        ...


def motor_commands(spec: TaskSpec) -> list[MotorCommand]:
    """The motor command of each action of ``spec``; SpecMismatchError if one has none."""
    commands = [action.motor for action in spec.actions if action.motor is not None]
    if len(commands) != len(spec.actions):
        raise SpecMismatchError(
            f"bundle spec {spec.env_id!r}: its actions {list(spec.actions.names)} have no "
            "motor commands, so they cannot drive a robot; export a robot task's bundle"
        )
    return commands


class GreedyDecider:
    """The bundle's greedy policy: the action with the highest Q-value, as its motor command."""

    learns = False

    def __init__(self, policy: Policy, commands: list[MotorCommand]) -> None:
        """``commands[i]`` is what action ``i`` of the policy's action table drives."""
        self.policy = policy
        self.commands = commands
        self.name = f"policy {policy.name}"

    @classmethod
    def for_spec(cls, policy: Policy, spec: TaskSpec) -> GreedyDecider:
        """``policy`` driving the motor commands of ``spec``'s actions (SpecMismatchError: none)."""
        return cls(policy, motor_commands(spec))

    def decide(self, observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        """The policy's greedy action (``bumper`` and ``now_s`` are not used)."""
        decision = self.policy.decide(observation)
        return Choice(self.commands[decision.action_index], decision)

    def interrupted(self, observation: np.ndarray, reason: str) -> None:
        """Nothing to do: a greedy policy keeps no state between ticks."""

    def telemetry_fields(self) -> dict[str, Any]:
        """Nothing beyond the loop's own record."""
        return {}

    def summary(self) -> dict[str, Any] | None:
        """A greedy policy keeps no totals."""
        return None

    def close(self) -> None:
        """Nothing to release: a policy holds no file or device."""

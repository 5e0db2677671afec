"""Software in the loop: the robot's runtime with any Gymnasium env as its world, on the laptop.

``python -m trainer sil run --config robot.toml`` (or ``check``) is ``python -m robot run`` (or
``check``) with one more backend, ``[hardware] backend = "gym"``, which this module passes to the
robot's own CLI (``robot.cli.main(argv, backends={"gym": open_gym})``). It lives here, on the
laptop's side, because Gymnasium is a laptop-only dependency: nothing under ``robot/`` ever
imports it, and ``python -m robot run`` on a gym config says to come here.

The loop, the policy, the fail-safe and the telemetry are the robot's own; only the hardware is
a Gymnasium env behind the robot's ``Hardware`` interface (``GymHardware``). The env moves
only when it is stepped: ``drive`` steps it with the action whose motor command was asked for
(a ``Discrete`` action space indexed like the bundle's action table) or with the two duties (a
``Box`` of shape (2,)); ``stop`` does not step it, so a stopped robot is a paused world, and its
newest observation is always current. An episode that ends is reset.
Env ids from sim2pi's trainer register on import: ``trainer.envs:sim2pi/ObstacleAvoid-v0``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from robot.config import GymConfig
from robot.errors import HardwareError
from robot.hardware import Hardware, Snapshot
from shared.spec import MotorCommand, TaskSpec

_log = logging.getLogger(__name__)
Clock = Callable[[], float]


class GymHardware(Hardware):
    """A Gymnasium env behind the hardware interface."""

    name = "gym"

    def __init__(self, config: GymConfig, spec: TaskSpec, *, clock: Clock) -> None:
        """Make and reset the env; check its spaces against the bundle's spec."""
        self.config = config
        self._clock = clock
        mapping = dict(config.channels)
        self._indices = [mapping[name] for name in spec.observation.names]
        try:
            self.env = gym.make(config.env_id)
        except Exception as exc:  # gymnasium raises many kinds for a bad id
            raise HardwareError(
                f"[hardware.gym.env_id] cannot make {config.env_id!r}: {exc}; give a registered "
                "id, or 'module:EnvId' to import its module first"
            ) from exc
        self._commands = [action.motor for action in spec.actions]
        space = self.env.action_space
        if isinstance(space, gym.spaces.Discrete):
            if int(space.n) != len(self._commands):
                self.env.close()
                raise HardwareError(
                    f"[hardware.gym] {config.env_id}: action space Discrete({space.n}), but the "
                    f"bundle has {len(self._commands)} actions {list(spec.actions.names)}"
                )
            self._discrete = True
        elif isinstance(space, gym.spaces.Box) and space.shape == (2,):
            self._discrete = False
        else:
            self.env.close()
            raise HardwareError(
                f"[hardware.gym] {config.env_id}: action space {space} is neither Discrete("
                f"{len(self._commands)}) nor a Box of two duties"
            )
        shape = self.env.observation_space.shape
        size = int(np.prod(shape)) if shape else 0
        if self._indices and max(self._indices) >= size:
            self.env.close()
            raise HardwareError(
                f"[hardware.gym.channels] index {max(self._indices)} is outside the env's "
                f"observation of shape {shape}"
            )
        self.episodes = 0
        self.steps = 0
        self.episode_return = 0.0
        self._closed = False
        self._names = list(spec.actions.names)
        self._approximated: set[MotorCommand] = set()
        self._observation, _ = self.env.reset(seed=config.seed)

    def snapshot(self) -> Snapshot:
        """The env's current observation (always current: the world waits while stopped)."""
        flat = np.asarray(self._observation, dtype=np.float64).reshape(-1)
        values = tuple(float(flat[i]) for i in self._indices)
        now = self._clock()
        return Snapshot(values, (now,) * len(values))

    def drive(self, command: MotorCommand) -> None:
        """Step the env once with ``command``; reset it when the episode ends.

        A Discrete env can only take the bundle's actions. A command that is none of them (the
        supervisor's recovery manoeuvre) becomes the nearest action by its duties, said once
        per command in the log; a stop (both duties 0) steps nothing, as ``stop`` does.
        """
        if self._discrete:
            action: Any = self._action_for(command)
            if action is None:
                return
        else:
            action = np.array([command.left, command.right], dtype=np.float32)
        observation, reward, terminated, truncated, _ = self.env.step(action)
        self.steps += 1
        self.episode_return += float(reward)
        if terminated or truncated:
            self.episodes += 1
            _log.info(
                "gym episode %d ended after %d steps, return %.3f",
                self.episodes,
                self.steps,
                self.episode_return,
            )
            self.episode_return = 0.0
            observation, _ = self.env.reset()
        self._observation = observation

    def _action_for(self, command: MotorCommand) -> int | None:
        """The action index of ``command``, or the nearest action's; None for a stop."""
        if command in self._commands:
            return self._commands.index(command)
        if command.left == 0.0 and command.right == 0.0:
            return None
        nearest = min(
            range(len(self._commands)),
            key=lambda i: (
                (self._commands[i].left - command.left) ** 2
                + (self._commands[i].right - command.right) ** 2
            ),
        )
        if command not in self._approximated:
            self._approximated.add(command)
            _log.info(
                "gym backend: %s is none of the env's actions; driving the nearest, %s",
                command,
                self._names[nearest],
            )
        return nearest

    def stop(self) -> None:
        """Nothing to do: the world does not move until the next ``drive``."""

    def close(self) -> None:
        """Close the env; safe to call twice."""
        if not self._closed:
            self._closed = True
            self.env.close()

    def describe(self) -> list[str]:
        """The env id and the channel indices."""
        return [f"gym: {self.config.env_id}, observation indices {self._indices}"]


def open_gym(config: GymConfig, spec: TaskSpec, clock: Clock) -> GymHardware:
    """The ``gym`` backend's factory, as ``robot.cli.main`` takes it in ``backends``."""
    return GymHardware(config, spec, clock=clock)


def main(argv: Sequence[str]) -> int:
    """Run the robot's CLI (``run``, ``check``, ...) with the ``gym`` backend passed in."""
    from robot.cli import main as robot_main

    return robot_main(list(argv), backends={"gym": open_gym})

"""Software in the loop: the robot's runtime with any Gymnasium env as its world, on the laptop.

``python -m trainer sil run --config robot.toml`` (or ``check``) is ``python -m robot run`` (or
``check``) with one more backend, ``[hardware] backend = "gym"``, which this module passes to the
robot's own CLI (``robot.cli.main(argv, backends={"gym": open_gym})``). It lives here, on the
laptop's side, because Gymnasium is a laptop-only dependency: nothing under ``robot/`` ever
imports it, and ``python -m robot run`` on a gym config says to come here.

The loop, the policy, the fail-safe and the telemetry are the robot's own; only the hardware is
a Gymnasium env behind the robot's ``Hardware`` interface (``GymHardware``), which is also a
``robot.control.world.EpisodicWorld``. The env moves only when it is stepped:

- a bundle whose actions have no motor commands (CartPole's, Acrobot's, ...) steps a
  ``Discrete`` env by action index (``drive_action``, called by the loop);
- a robot bundle's motor command steps a ``Discrete`` env with the action whose command it is
  (the nearest for a manoeuvre of the supervisor's), or a ``Box`` of shape (2,) with the duties.

``stop`` does not step it, so a stopped robot is a paused world, and its newest observation is
always current. Episode i starts from ``env.reset(seed=base + i)``: ``base`` is ``[hardware.gym]
seed``, or the evaluation seeds' (1,000,000) when it is left out, so software in the loop plays
the very episodes ``python -m trainer eval-bundle`` does. The loop runs on simulated time unless
``--real-time`` (``robot.cli.run.loop_clock``).

The env is made as ``eval-bundle`` makes it (``trainer.sil_env``): with the keyword arguments the
bundle's training run recorded (``--env-arg``, a preset's env table) when ``env_id`` names the
bundle's env, and ``[hardware.gym] env_kwargs`` laid over them key by key
(``robot.config.gym.EnvKwargs``). Env ids from sim2pi's trainer register on import:
``trainer.envs:sim2pi/ObstacleAvoid-v0``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.config import EnvKwargs, GymConfig
from robot.errors import HardwareError
from robot.hardware import Hardware, Snapshot
from shared.bundle import Bundle
from shared.spec import MotorCommand, TaskSpec
from trainer.evaluation import EVAL_SEED_BASE
from trainer.sil_env import check_spaces, make_sil_env

_log = logging.getLogger(__name__)
Clock = Callable[[], float]


@dataclass(frozen=True)
class Episode:
    """One ended episode: its reset seed, return and length (env steps)."""

    seed: int | None
    ret: float
    length: int


class GymHardware(Hardware):
    """A Gymnasium env behind the hardware interface, and an episodic world for the loop."""

    name = "gym"

    def __init__(
        self,
        config: GymConfig,
        spec: TaskSpec,
        *,
        clock: Clock,
        env_kwargs: EnvKwargs | None = None,
    ) -> None:
        """Make the env with ``env_kwargs`` and reset it; check its spaces against ``spec``.

        ``env_kwargs``: ``EnvKwargs.of(config, bundle)`` (``open_gym``); None: the config's
        ``env_kwargs`` alone. ConfigError for an env that cannot be made or channels outside
        its observation, SpecMismatchError for an action space the bundle's actions cannot
        drive: like every bad config or bundle, one line and exit 2 in ``run`` and ``check``.
        """
        self.config = config
        self._clock = clock
        mapping = dict(config.channels)
        self._indices = [mapping[name] for name in spec.observation.names]
        self.env_kwargs = env_kwargs if env_kwargs is not None else EnvKwargs.of(config, None)
        self.env = make_sil_env(config, self.env_kwargs)
        self._closed = False
        try:
            self._discrete = check_spaces(config, self.env, spec, self._indices)
        except Exception:
            self.close()
            raise
        self._names = list(spec.actions.names)
        self._commands = [action.motor for action in spec.actions if action.motor is not None]
        self._by_index = not self._commands
        self._approximated: set[MotorCommand] = set()
        self._seed_base = EVAL_SEED_BASE if config.seed is None else config.seed
        self.ended: list[Episode] = []
        self.steps = 0  # env steps in all episodes
        self.episode_steps = 0
        self.episode_return = 0.0
        self._reset()

    @property
    def seed(self) -> int:
        """The reset seed of the episode now running."""
        return self._seed_base + len(self.ended)

    @property
    def episodes(self) -> int:
        """Episodes ended so far."""
        return len(self.ended)

    def _reset(self) -> None:
        self._observation, _ = self.env.reset(seed=self.seed)
        self.episode_steps = 0
        self.episode_return = 0.0

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
        per command in the log; a stop (both duties 0) steps nothing, as ``stop`` does. A bundle
        without motor commands is driven by ``drive_action``: any other command than a stop is
        refused (HardwareError).
        """
        if self._discrete:
            action: Any = self._action_for(command)
            if action is None:
                return
        else:
            action = np.array([command.left, command.right], dtype=np.float32)
        self._step(action)

    def drive_action(self, index: int) -> None:
        """Step the env once with action ``index`` (the bundle's actions have no motor
        commands: the loop drives them so); reset it when the episode ends."""
        if not 0 <= index < len(self._names):
            raise HardwareError(
                f"gym backend: action {index} is outside the bundle's {len(self._names)} actions"
            )
        self._step(index)

    def _step(self, action: Any) -> None:
        observation, reward, terminated, truncated, _ = self.env.step(action)
        self.steps += 1
        self.episode_steps += 1
        self.episode_return += float(reward)
        self._observation = observation
        if terminated or truncated:
            episode = Episode(self.seed, self.episode_return, self.episode_steps)
            self.ended.append(episode)
            _log.info(
                "gym episode %d (seed %s) ended after %d steps, return %.3f",
                len(self.ended),
                episode.seed,
                episode.length,
                episode.ret,
            )
            self._reset()

    def episodes_ended(self) -> int:
        """Episodes ended so far (``run --episodes N`` stops after N)."""
        return len(self.ended)

    def episodes_summary(self) -> dict[str, Any]:
        """The ended episodes for the exit summary (``--summary-json``), in order: reset
        ``seeds``, ``returns``, ``lengths``; the one running at exit in ``unfinished``."""
        unfinished = None
        if self.episode_steps:
            unfinished = {
                "seed": self.seed,
                "steps": self.episode_steps,
                "return": self.episode_return,
            }
        return {
            "env_id": self.config.env_id,
            "count": len(self.ended),
            "seeds": [e.seed for e in self.ended],
            "returns": [e.ret for e in self.ended],
            "lengths": [e.length for e in self.ended],
            "unfinished": unfinished,
        }

    def _action_for(self, command: MotorCommand) -> int | None:
        """The action index of ``command``, or the nearest action's; None for a stop."""
        if command in self._commands:
            return self._commands.index(command)
        if command.left == 0.0 and command.right == 0.0:
            return None
        if self._by_index:
            raise HardwareError(
                f"gym backend: {command} cannot drive {self.config.env_id}: the bundle's "
                "actions have no motor commands; they drive the env by action index"
            )
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
        """The env id, the channel indices, how actions drive it and the episodes' seeds."""
        how = "by action index" if self._by_index else "by motor command"
        return [
            f"gym: {self.config.env_id}, observation indices {self._indices}",
            f"gym: {self.env_kwargs.describe()}",
            f"gym: actions {self._names} drive it {how}; episode i resets on seed "
            f"{self._seed_base} + i",
        ]


def open_gym(config: GymConfig, bundle: Bundle, clock: Clock) -> GymHardware:
    """The ``gym`` backend's factory, as ``robot.cli.main`` takes it in ``backends``: the env
    made with the keyword arguments of the bundle's training run (``EnvKwargs.of``)."""
    env_kwargs = EnvKwargs.of(config, bundle)
    return GymHardware(config, bundle.spec, clock=clock, env_kwargs=env_kwargs)


def main(argv: Sequence[str]) -> int:
    """Run the robot's CLI (``run``, ``check``, ...) with the ``gym`` backend passed in."""
    from robot.cli import main as robot_main

    return robot_main(list(argv), backends={"gym": open_gym})

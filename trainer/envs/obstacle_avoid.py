"""``sim2pi/ObstacleAvoid-v0``: the reference robot roams a walled arena without collisions."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from shared.reference_robot import obstacle_avoid_spec
from shared.reward import RewardFunction
from shared.spec import MotorCommand
from shared.world import (
    MOTOR_DEAD_BAND,
    MOTOR_TIME_CONSTANT_S,
    ROBOT_RADIUS_M,
    Arena,
    DriveParams,
    Pose,
    World,
    reference_sensors,
    turned_side_ranger,
)
from trainer.envs.obstacle_avoid_render import draw_top_view

#: Smallest gap (m) between the robot's body and any surface at the start of an episode.
START_CLEARANCE_M = 0.3
#: Tries at a free start pose per layout, and layouts per reset, before giving up.
_POSE_TRIES = 200
_LAYOUT_TRIES = 50
#: The reference robot's side rangers: degrees off straight ahead (``side_ranger_deg``'s default).
SIDE_RANGER_DEG = 45.0
#: What a collision does to the episode (``collision``): end it, or cost its penalty and go on.
COLLISION_MODES = ("terminate", "continue")


class ObstacleAvoidEnv(gym.Env[np.ndarray, np.int64]):
    """A two-wheeled robot with three ultrasonic rangers learns to roam without collisions.

    The world is ``shared.world``: a differential drive (TT gear motors behind an H-bridge, a
    dead band and a first-order lag) in a walled arena with disc and box obstacles placed at
    random each episode, and three HC-SR04 rangers facing forward-left (+45°), forward and
    forward-right (-45°; ``side_ranger_deg`` turns the side pair). The task spec (channels,
    actions, reward terms) is ``shared.reference_robot.obstacle_avoid_spec()``, also on
    ``env.unwrapped.task_spec``.

    ## Action space
    ``Discrete(5)``; each action holds a (left, right) PWM duty for one control period:

    | # | name       | left | right |
    |---|------------|------|-------|
    | 0 | forward    | 0.8  | 0.8   |
    | 1 | veer_left  | 0.4  | 0.8   |
    | 2 | veer_right | 0.8  | 0.4   |
    | 3 | spin_left  | -0.6 | 0.6   |
    | 4 | spin_right | 0.6  | -0.6  |

    ## Observation space
    ``Box(0.02, 2.0, (3,), float32)``: the **raw** ranges in metres, what the robot's sensors
    report (the trainer normalises with ``task_spec.observation.normalize``, as the robot does):

    | # | channel          | unit | min  | max |
    |---|------------------|------|------|-----|
    | 0 | left_distance_m  | m    | 0.02 | 2.0 |
    | 1 | front_distance_m | m    | 0.02 | 2.0 |
    | 2 | right_distance_m | m    | 0.02 | 2.0 |

    Farther than 2 m reads 2 m; a missed echo (beyond the sensor's 4 m, or a dropout) reads as the
    maximum, 2 m, which is what gpiozero's ``DistanceSensor`` reports when no echo arrives.

    ## Reward
    ``shared.reward`` applied to the spec's terms, from the raw observation after the tick, the
    command the agent chose and the collision flag: ``1.0 × forward_progress - 10 × collision
    - 0.1 × turning - 0.5 × proximity(0.25 m)`` (the weights are the spec's). Each term's
    contribution is in ``info["reward_terms"]``.

    ## Starting state
    A new layout each episode: the arena (4 m × 4 m by default) with 6 obstacles (discs and boxes,
    0.2-0.5 m across) at uniform random places; the robot at a uniform random pose at least
    0.3 m from every surface, at rest.

    ## Episode end
    Terminated when the robot collides with a wall or obstacle (``collision="terminate"``, the
    default); truncated after ``max_episode_s`` of simulated time (60 s = 1200 steps by default).
    With ``collision="continue"`` a collision costs its penalty and the episode goes on: the world
    holds the robot at the surface, and every step that drives into it collides again (and pays
    again) until the policy backs or turns out. Such an episode ends by truncation, or, with
    ``max_contact_s``, terminated once the robot has collided on every step for that long (stuck).

    ## Arguments
    - ``render_mode``: ``None`` or ``"rgb_array"`` (a 400 × 400 top view: walls, obstacles,
      robot, and each sensor's ray to its reading, red where no echo came back).
    - ``control_period_s``: simulated seconds per step (0.05 s, the robot's 20 Hz).
    - ``max_episode_s``: truncation time (60 s).
    - ``arena_size_m``, ``obstacles``: the fixed layout size (4.0 m) and obstacle count (6).
    - ``collision``: ``"terminate"`` (default) ends the episode at a collision; ``"continue"``
      charges the collision penalty and goes on, so a policy can learn to get out of a contact.
    - ``max_contact_s``: with ``collision="continue"``, end the episode (terminated) after this
      many seconds of consecutive colliding steps; ``None`` (default): no limit.
    - ``motor_gain``: both motors' gain, in (0, 2] (1.0): wheel speed per unit duty relative to
      the reference drive's, e.g. 0.6 for a robot that drives 40 % slower at the same duty.
      Multiplies each motor's gain after ``motor_gain_spread``'s draw.
    - ``left_motor_gain``, ``right_motor_gain``: one motor's gain, in (0, 2] (1.0), times
      ``motor_gain``: mismatched motors, e.g. a fitted robot (``python -m trainer fit-robot``).
    - ``motor_time_constant_s``: the wheels' first-order lag, in [0.01, 2] s (0.1).
    - ``side_ranger_deg``: the side rangers' angle off straight ahead, in (0, 90] degrees (45),
      on the same 0.08 m mount circle; the front ranger is unchanged. The observation's channels
      stay left, front, right.

    Domain randomisation, all off by default; each is drawn once per episode from ``np_random``:
    - ``sensor_noise_m``: Gaussian noise σ (m) on each reading (HC-SR04: ~0.003).
    - ``dropout_prob``: probability that a reading misses its echo (reads 2 m).
    - ``motor_gain_spread``: each motor's gain drawn from [1 - s, 1 + s] (mismatched motors).
    - ``dead_band_range``: (low, high) duty; the dead band is drawn from it (default fixed 0.15).
    - ``latency_ticks``: the chosen action reaches the motors k steps later (the motors start
      stopped); (low, high) draws k per episode.
    - ``arena_size_range_m``: (low, high) side of a square arena, drawn per episode.
    - ``obstacles_range``: (low, high) obstacle count, drawn per episode (inclusive).

    ``info`` has ``reward_terms``, ``pose`` (x_m, y_m, heading_rad), ``speed_m_s`` (actual
    forward speed of the centre over the step), ``collided``, ``time_s`` and ``true_ranges_m``.

    ## Version history
    - v0: first version; ``collision="continue"`` added later (the default keeps v0's episodes).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 20}  # noqa: RUF012

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        control_period_s: float = 0.05,
        max_episode_s: float = 60.0,
        arena_size_m: float = 4.0,
        obstacles: int = 6,
        sensor_noise_m: float = 0.0,
        dropout_prob: float = 0.0,
        motor_gain_spread: float = 0.0,
        dead_band_range: tuple[float, float] | None = None,
        latency_ticks: int | tuple[int, int] = 0,
        arena_size_range_m: tuple[float, float] | None = None,
        obstacles_range: tuple[int, int] | None = None,
        motor_gain: float = 1.0,
        left_motor_gain: float = 1.0,
        right_motor_gain: float = 1.0,
        motor_time_constant_s: float = MOTOR_TIME_CONSTANT_S,
        side_ranger_deg: float = SIDE_RANGER_DEG,
        collision: str = "terminate",
        max_contact_s: float | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode: expected None or one of {self.metadata['render_modes']}, "
                f"found {render_mode!r}"
            )
        if not control_period_s > 0:
            raise ValueError(f"control_period_s: expected > 0, found {control_period_s!r}")
        if not max_episode_s >= control_period_s:
            raise ValueError(
                f"max_episode_s: expected >= control_period_s ({control_period_s}), "
                f"found {max_episode_s!r}"
            )
        if not arena_size_m >= 1.0:
            raise ValueError(f"arena_size_m: expected >= 1.0 m, found {arena_size_m!r}")
        if obstacles < 0:
            raise ValueError(f"obstacles: expected >= 0, found {obstacles!r}")
        if sensor_noise_m < 0:
            raise ValueError(f"sensor_noise_m: expected >= 0 m, found {sensor_noise_m!r}")
        if not 0.0 <= dropout_prob <= 1.0:
            raise ValueError(f"dropout_prob: expected in [0, 1], found {dropout_prob!r}")
        if not 0.0 <= motor_gain_spread < 1.0:
            raise ValueError(f"motor_gain_spread: expected in [0, 1), found {motor_gain_spread!r}")
        _check_robot(
            motor_gain, left_motor_gain, right_motor_gain, motor_time_constant_s, side_ranger_deg
        )
        #: Consecutive colliding steps that end a "continue" episode (0: no limit).
        self.max_contact_steps = _contact_limit_steps(collision, max_contact_s, control_period_s)
        self._dead_band_range = _range(
            dead_band_range, (MOTOR_DEAD_BAND, MOTOR_DEAD_BAND), "dead_band_range", 0.0, 0.99
        )
        latency = (
            (latency_ticks, latency_ticks) if isinstance(latency_ticks, int) else latency_ticks
        )
        self._latency_range = _range(latency, latency, "latency_ticks", 0, 100)
        self._arena_range = _range(
            arena_size_range_m, (arena_size_m, arena_size_m), "arena_size_range_m", 1.0, 100.0
        )
        self._obstacles_range = _range(
            obstacles_range, (obstacles, obstacles), "obstacles_range", 0, 1000
        )
        self.render_mode = render_mode
        self.control_period_s = float(control_period_s)
        self.max_steps = max(1, round(max_episode_s / control_period_s))
        self.sensor_noise_m = float(sensor_noise_m)
        self.dropout_prob = float(dropout_prob)
        self.motor_gain_spread = float(motor_gain_spread)
        self.motor_gain = float(motor_gain)
        self.left_motor_gain = float(left_motor_gain)
        self.right_motor_gain = float(right_motor_gain)
        self.motor_time_constant_s = float(motor_time_constant_s)
        self.side_ranger_deg = float(side_ranger_deg)
        self.collision = collision
        self._contact_steps = 0

        self.task_spec = obstacle_avoid_spec()
        self._reward = RewardFunction(self.task_spec)
        self._commands = [action.motor for action in self.task_spec.actions.actions]
        lows = self.task_spec.observation.lows.astype(np.float32)
        highs = self.task_spec.observation.highs.astype(np.float32)
        self._low, self._high = lows, highs
        self.observation_space = spaces.Box(lows, highs, dtype=np.float32)
        self.action_space = spaces.Discrete(len(self.task_spec.actions))
        forward = self._commands[self.task_spec.actions.index("forward")]
        #: Steady-state speed (m/s) of the ``forward`` action with nominal motors.
        self.forward_top_speed_m_s = DriveParams().steady_speed_m_s(forward.left, forward.right)
        self.world: World | None = None
        self._pending: deque[MotorCommand] = deque()
        self._steps = 0
        self._observation = np.zeros(len(lows), dtype=np.float32)

    # --- Gymnasium API -------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode in a new random layout; returns the first raw observation."""
        super().reset(seed=seed)
        rng = self.np_random
        gain_low, gain_high = 1.0 - self.motor_gain_spread, 1.0 + self.motor_gain_spread
        drive = DriveParams(
            time_constant_s=self.motor_time_constant_s,
            dead_band=float(rng.uniform(*self._dead_band_range)),
            left_gain=float(rng.uniform(gain_low, gain_high))
            * self.motor_gain
            * self.left_motor_gain,
            right_gain=float(rng.uniform(gain_low, gain_high))
            * self.motor_gain
            * self.right_motor_gain,
        )
        arena, pose = self._layout(rng)
        sensors = reference_sensors(self.sensor_noise_m, self.dropout_prob)
        if self.side_ranger_deg != SIDE_RANGER_DEG:
            sensors = tuple(turned_side_ranger(sensor, self.side_ranger_deg) for sensor in sensors)
        self.world = World(arena, rng, pose, drive=drive, sensors=sensors)
        latency = int(rng.integers(self._latency_range[0], self._latency_range[1] + 1))
        self._pending = deque([MotorCommand(0.0, 0.0)] * latency)
        self._steps = 0
        self._contact_steps = 0
        self._observation = self._observe()
        return self._observation.copy(), self._info(None, 0.0)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Hold ``action``'s duties for one control period; reward, end and info as documented."""
        if self.world is None:
            raise RuntimeError("step() before reset(): call env.reset() first")
        if not self.action_space.contains(action):
            raise ValueError(
                f"action: expected an int in [0, {self.action_space.n}), found {action!r}"
            )
        command = self._commands[int(action)]
        self._pending.append(command)
        applied = self._pending.popleft()
        world = self.world
        odometer_m = world.odometer_m
        world.set_duties(applied.left, applied.right)
        world.step(self.control_period_s)
        self._steps += 1
        self._observation = self._observe()
        reward = self._reward(self._observation, command, world.collided)
        self._contact_steps = self._contact_steps + 1 if world.collided else 0
        terminated = world.collided and (
            self.collision == "terminate" or self._contact_steps == self.max_contact_steps
        )
        truncated = not terminated and self._steps >= self.max_steps
        speed_m_s = (world.odometer_m - odometer_m) / self.control_period_s
        return (
            self._observation.copy(),
            reward.total,
            terminated,
            truncated,
            self._info(reward.terms, speed_m_s),
        )

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """A top view as an RGB array (``render_mode="rgb_array"``), else None."""
        if self.render_mode != "rgb_array" or self.world is None:
            return None
        return draw_top_view(self.world, self._observation)

    # --- internals -----------------------------------------------------------------------------

    def _layout(self, rng: np.random.Generator) -> tuple[Arena, Pose]:
        """A random arena and a free start pose in it."""
        for _ in range(_LAYOUT_TRIES):
            side = float(rng.uniform(*self._arena_range))
            count = int(rng.integers(self._obstacles_range[0], self._obstacles_range[1] + 1))
            arena = Arena.random(rng, width_m=side, height_m=side, obstacles=count)
            for _ in range(_POSE_TRIES):
                x, y = rng.uniform(0.0, side, size=2)
                if arena.clearance_m(float(x), float(y), ROBOT_RADIUS_M) > START_CLEARANCE_M:
                    heading = float(rng.uniform(-math.pi, math.pi))
                    return arena, Pose(float(x), float(y), heading)
        raise RuntimeError(
            f"no free start pose in {_LAYOUT_TRIES} random layouts of {self._obstacles_range} "
            f"obstacles in a {self._arena_range} m arena; use fewer obstacles or a larger arena"
        )

    def _observe(self) -> np.ndarray:
        """The raw observation: each reading in metres, a missed echo as the maximum range."""
        assert self.world is not None
        readings = [self._high[i] if r is None else r for i, r in enumerate(self.world.ranges_m())]
        return np.clip(np.asarray(readings, dtype=np.float32), self._low, self._high)

    def _info(self, terms: Any, speed_m_s: float) -> dict[str, Any]:
        assert self.world is not None
        pose = self.world.pose
        return {
            "reward_terms": dict(terms) if terms is not None else {},
            "pose": (pose.x_m, pose.y_m, pose.heading_rad),
            "speed_m_s": speed_m_s,
            "collided": self.world.collided,
            "time_s": self.world.time_s,
            "true_ranges_m": self.world.true_ranges_m(),
        }


def _check_robot(
    motor_gain: float,
    left_motor_gain: float,
    right_motor_gain: float,
    motor_time_constant_s: float,
    side_ranger_deg: float,
) -> None:
    """Validate the robot's keywords (one ``ValueError`` naming the first bad one)."""
    if not 0.0 < motor_gain <= 2.0:
        raise ValueError(f"motor_gain: expected in (0, 2], found {motor_gain!r}")
    for name, gain in (
        ("left_motor_gain", left_motor_gain),
        ("right_motor_gain", right_motor_gain),
    ):
        if not 0.0 < gain <= 2.0:
            raise ValueError(f"{name}: expected in (0, 2], found {gain!r}")
    if not 0.01 <= motor_time_constant_s <= 2.0:
        raise ValueError(
            f"motor_time_constant_s: expected in [0.01, 2] s, found {motor_time_constant_s!r}"
        )
    if not 0.0 < side_ranger_deg <= 90.0:
        raise ValueError(
            f"side_ranger_deg: expected in (0, 90] degrees off ahead, found {side_ranger_deg!r}"
        )


def _contact_limit_steps(
    collision: str, max_contact_s: float | None, control_period_s: float
) -> int:
    """Validate ``collision`` and ``max_contact_s``; the contact limit in steps (0: none)."""
    if collision not in COLLISION_MODES:
        raise ValueError(
            f"collision: expected one of {', '.join(map(repr, COLLISION_MODES))}, "
            f"found {collision!r}"
        )
    if max_contact_s is None:
        return 0
    if not max_contact_s >= control_period_s:
        raise ValueError(
            f"max_contact_s: expected None or >= control_period_s ({control_period_s}), "
            f"found {max_contact_s!r}"
        )
    return max(1, round(max_contact_s / control_period_s))


def _range(
    value: tuple[float, float] | None,
    default: tuple[float, float],
    name: str,
    lowest: float,
    highest: float,
) -> tuple[Any, Any]:
    """A validated (low, high) pair within [lowest, highest]; ``default`` when None."""
    pair = default if value is None else value
    if len(pair) != 2 or not lowest <= pair[0] <= pair[1] <= highest:
        raise ValueError(
            f"{name}: expected (low, high) with {lowest} <= low <= high <= {highest}, "
            f"found {value!r}"
        )
    return pair[0], pair[1]

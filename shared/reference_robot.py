"""The reference robot's task spec: three HC-SR04 ranges in, a differential drive out.

The simulator (``trainer/envs``) trains against this spec and the robot runtime builds the very
same observation from its sensors, so both import it from here.
"""

from __future__ import annotations

from shared.spec import (
    Action,
    ActionTable,
    Channel,
    MotorCommand,
    ObservationSpec,
    RewardSpec,
    RewardTerm,
    TaskSpec,
)

ENV_ID = "sim2pi/ObstacleAvoid-v0"

# HC-SR04 datasheet: 2 cm to 400 cm. sim2pi caps the range at 2 m (gpiozero's DistanceSensor
# default max_distance is 1 m; 2 m covers a living-room arena and keeps the echo wait short:
# 2 m → 11.7 ms round trip at 343 m/s). A missed echo reads as the maximum range.
RANGE_MIN_M = 0.02
RANGE_MAX_M = 2.0

#: Observation channels in order: ranges of the sensors facing forward-left, forward, forward-right.
RANGE_CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")

#: Actions as (name, left duty, right duty); duty in [-1, 1], 1 = full speed ahead.
ACTIONS = (
    ("forward", 0.8, 0.8),
    ("veer_left", 0.55, 0.8),
    ("veer_right", 0.8, 0.55),
    ("spin_left", -0.6, 0.6),
    ("spin_right", 0.6, -0.6),
)

#: Reward terms (name, weight, params); ``shared.reward`` defines what each term measures.
REWARD_TERMS: tuple[tuple[str, float, dict[str, float]], ...] = (
    ("forward_progress", 1.0, {}),
    ("collision", -50.0, {}),
    ("turning", -0.2, {}),
    ("proximity", -1.0, {"threshold_m": 0.4}),
)


def obstacle_avoid_spec() -> TaskSpec:
    """The task spec of ``sim2pi/ObstacleAvoid-v0`` and of the reference robot."""
    return TaskSpec(
        env_id=ENV_ID,
        observation=ObservationSpec(
            tuple(Channel(name, "m", RANGE_MIN_M, RANGE_MAX_M) for name in RANGE_CHANNELS)
        ),
        actions=ActionTable(
            tuple(Action(name, MotorCommand(left, right)) for name, left, right in ACTIONS)
        ),
        reward=RewardSpec(
            "terms", tuple(RewardTerm(name, w, params) for name, w, params in REWARD_TERMS)
        ),
    )

"""sim2pi's Gymnasium environments; importing this package registers them.

- ``sim2pi/ObstacleAvoid-v0`` (``trainer.envs.obstacle_avoid.ObstacleAvoidEnv``): the reference
  robot, three ultrasonic rangers and a differential drive, roaming an arena without collisions.
"""

from __future__ import annotations

import gymnasium

from shared.reference_robot import ENV_ID as OBSTACLE_AVOID_ID
from trainer.envs.obstacle_avoid import ObstacleAvoidEnv

__all__ = ["OBSTACLE_AVOID_ID", "ObstacleAvoidEnv"]

if OBSTACLE_AVOID_ID not in gymnasium.registry:
    # No TimeLimit wrapper: the env truncates itself after max_episode_s of simulated time, so
    # the limit follows control_period_s.
    gymnasium.register(
        id=OBSTACLE_AVOID_ID,
        entry_point="trainer.envs.obstacle_avoid:ObstacleAvoidEnv",
    )

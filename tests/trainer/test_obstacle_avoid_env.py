"""sim2pi/ObstacleAvoid-v0: Gymnasium conformance, determinism, spaces, reward, episode end."""

from __future__ import annotations

import inspect
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import trainer.envs
from shared.reference_robot import ENV_ID, obstacle_avoid_spec
from shared.reward import RewardFunction
from trainer.envs.obstacle_avoid import ObstacleAvoidEnv
from trainer.envs.obstacle_avoid_render import FRAME_PX

pytestmark = pytest.mark.trainer

RANDOMISED = {
    "sensor_noise_m": 0.003,
    "dropout_prob": 0.05,
    "motor_gain_spread": 0.1,
    "dead_band_range": (0.05, 0.25),
    "latency_ticks": (0, 2),
    "arena_size_range_m": (2.5, 4.0),
    "obstacles_range": (3, 9),
    "collision": "continue",
    "max_contact_s": 2.0,
}
FORWARD, SPIN_LEFT = 0, 3


def rollout(env: gym.Env, seed: int, steps: int) -> list[tuple]:
    """(obs, reward, terminated, truncated, pose) per step under a seeded random policy."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = [(obs.tolist(), 0.0, False, False, None)]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trace.append((obs.tolist(), reward, terminated, truncated, info["pose"]))
        if terminated or truncated:
            obs, _ = env.reset()
            trace.append((obs.tolist(), 0.0, False, False, None))
    return trace


def test_registered_on_import_and_carries_the_task_spec() -> None:
    assert trainer.envs.OBSTACLE_AVOID_ID == ENV_ID == "sim2pi/ObstacleAvoid-v0"
    env = gym.make(ENV_ID)
    assert isinstance(env.unwrapped, ObstacleAvoidEnv)
    assert env.unwrapped.task_spec == obstacle_avoid_spec()
    spec = env.unwrapped.task_spec
    assert env.action_space == gym.spaces.Discrete(len(spec.actions))
    assert env.observation_space.dtype == np.float32
    assert np.array_equal(env.observation_space.low, spec.observation.lows.astype(np.float32))
    assert np.array_equal(env.observation_space.high, spec.observation.highs.astype(np.float32))


@pytest.mark.parametrize("kwargs", [{}, RANDOMISED], ids=["default", "randomised"])
def test_check_env_passes(kwargs: dict) -> None:
    env = gym.make(ENV_ID, render_mode="rgb_array", **kwargs)
    check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("kwargs", [{}, RANDOMISED], ids=["default", "randomised"])
def test_same_seed_same_trajectory(kwargs: dict) -> None:
    first = rollout(ObstacleAvoidEnv(**kwargs), seed=7, steps=300)
    second = rollout(ObstacleAvoidEnv(**kwargs), seed=7, steps=300)
    assert first == second
    assert rollout(ObstacleAvoidEnv(**kwargs), seed=8, steps=300) != first


def test_observations_are_raw_metres_and_a_missed_echo_reads_the_maximum() -> None:
    env = ObstacleAvoidEnv()
    obs, info = env.reset(seed=3)
    true_m = info["true_ranges_m"]
    assert obs == pytest.approx(np.minimum(true_m, 2.0), abs=1e-6)  # raw, not normalised
    deaf = ObstacleAvoidEnv(dropout_prob=1.0)
    obs, _ = deaf.reset(seed=3)
    assert obs.tolist() == [2.0, 2.0, 2.0]
    obs, *_ = deaf.step(FORWARD)
    assert obs.tolist() == [2.0, 2.0, 2.0]


def test_reward_is_the_shared_reward_of_the_observation_and_command() -> None:
    env = ObstacleAvoidEnv()
    reward_fn = RewardFunction(env.task_spec)
    env.reset(seed=4)
    for action in [FORWARD] * 30 + [SPIN_LEFT] * 10 + [1, 2] * 20:
        obs, reward, terminated, truncated, info = env.step(action)
        expected = reward_fn(obs, env.task_spec.actions[action].motor, info["collided"])
        assert reward == pytest.approx(expected.total)
        assert info["reward_terms"] == pytest.approx(dict(expected.terms))
        if terminated or truncated:
            env.reset()


def test_a_collision_terminates_with_the_collision_penalty() -> None:
    env = ObstacleAvoidEnv()
    env.reset(seed=5)
    for _ in range(400):  # 20 s straight ahead must hit something in a 4 m arena
        _, reward, terminated, truncated, info = env.step(FORWARD)
        if terminated:
            break
    assert terminated and not truncated
    assert info["collided"]
    weight = {term.name: term.weight for term in env.task_spec.reward.terms}["collision"]
    assert weight < 0
    assert info["reward_terms"]["collision"] == weight
    assert reward <= weight + 0.8  # forward progress adds at most 0.8


def _drive_into_a_wall(env: ObstacleAvoidEnv, seed: int) -> list[tuple[float, bool, dict]]:
    """Forward until the third colliding step in an empty arena: (reward, terminated, info)."""
    env.reset(seed=seed)
    steps, collisions = [], 0
    for _ in range(400):  # 20 s straight ahead must reach a wall of a 4 m arena
        _, reward, terminated, _, info = env.step(FORWARD)
        steps.append((reward, terminated, info))
        collisions += info["collided"]
        if terminated or collisions == 3:
            break
    return steps


@pytest.mark.parametrize("seed", [5, 9])
def test_collision_continue_charges_each_colliding_step_and_spinning_frees_the_robot(
    seed: int,
) -> None:
    weight = {term.name: term.weight for term in obstacle_avoid_spec().reward.terms}["collision"]
    ended = _drive_into_a_wall(ObstacleAvoidEnv(obstacles=0), seed)
    assert ended[-1][1] and ended[-1][2]["collided"]  # the default ends at the first collision
    env = ObstacleAvoidEnv(obstacles=0, collision="continue")
    steps = _drive_into_a_wall(env, seed)
    assert len(steps) >= len(ended) + 2  # went on past the collision that ended the default
    assert not any(terminated for _, terminated, _ in steps)
    for reward, _, info in steps:
        assert info["reward_terms"]["collision"] == (weight if info["collided"] else 0.0)
        assert (reward < weight + 1.0) is info["collided"]  # progress adds at most 0.8
    assert env.world is not None and env.world.in_contact
    # Spin away from the wall: the lag's forward push still collides for a few ticks, then the
    # robot turns freely; once it faces open space, forward no longer collides.
    spins, front_m, collided = 0, 0.0, True
    while front_m <= 0.5 or collided:
        observation, _, terminated, truncated, info = env.step(SPIN_LEFT)
        assert not terminated and not truncated
        front_m, collided, spins = float(observation[1]), info["collided"], spins + 1
        assert spins < 200, "spinning never freed the robot"
    for _ in range(10):
        _, reward, terminated, _, info = env.step(FORWARD)
        assert not info["collided"] and not terminated and reward > 0
    assert env.world.clearance_m > 0.05 and not env.world.in_contact


def test_max_contact_s_ends_a_continue_episode_stuck_that_long() -> None:
    env = ObstacleAvoidEnv(obstacles=0, collision="continue", max_contact_s=0.5)  # 10 steps
    assert env.max_contact_steps == 10
    env.reset(seed=5)
    in_a_row, steps = 0, 0
    while True:
        _, _, terminated, truncated, info = env.step(FORWARD)  # press on the wall ahead
        in_a_row = in_a_row + 1 if info["collided"] else 0
        steps += 1
        assert not truncated and steps < 400
        assert terminated is (in_a_row == 10)
        if terminated:
            break
    # Without the limit the same press goes on.
    env = ObstacleAvoidEnv(obstacles=0, collision="continue")
    env.reset(seed=5)
    assert not any(env.step(FORWARD)[2] for _ in range(steps + 20))


def test_truncates_after_max_episode_s_of_simulated_time() -> None:
    env = ObstacleAvoidEnv(max_episode_s=1.0)
    env.reset(seed=6)
    for step in range(1, 21):
        _, _, terminated, truncated, info = env.step(SPIN_LEFT)  # spinning in place: no contact
        assert not terminated
        assert truncated is (step == 20)
    assert info["time_s"] == pytest.approx(1.0)


def test_forward_speed_approaches_the_forward_actions_top_speed() -> None:
    env = ObstacleAvoidEnv(arena_size_m=20.0, obstacles=0)
    env.reset(seed=1)
    speeds = [env.step(FORWARD)[4]["speed_m_s"] for _ in range(12)]
    assert 0.0 < speeds[0] < speeds[-1]  # the lag: it takes a few ticks to get going
    assert speeds[-1] == pytest.approx(env.forward_top_speed_m_s, rel=0.01)
    assert env.forward_top_speed_m_s == pytest.approx(0.5285, abs=1e-3)


def test_action_latency_delays_the_motors_by_k_ticks() -> None:
    env = ObstacleAvoidEnv(latency_ticks=3, arena_size_m=20.0, obstacles=0)
    env.reset(seed=1)
    speeds = [env.step(FORWARD)[4]["speed_m_s"] for _ in range(5)]
    assert speeds[:3] == [0.0, 0.0, 0.0]
    assert speeds[3] > 0.0


def test_motor_randomisation_changes_the_drive_per_episode() -> None:
    env = ObstacleAvoidEnv(motor_gain_spread=0.2, dead_band_range=(0.05, 0.3))
    drives = set()
    for seed in range(5):
        env.reset(seed=seed)
        drive = env.world.drive
        assert 0.8 <= drive.left_gain <= 1.2 and 0.8 <= drive.right_gain <= 1.2
        assert 0.05 <= drive.dead_band <= 0.3
        drives.add((drive.left_gain, drive.right_gain, drive.dead_band))
    assert len(drives) == 5


def test_layout_randomisation_changes_size_and_obstacle_count() -> None:
    env = ObstacleAvoidEnv(arena_size_range_m=(2.0, 5.0), obstacles_range=(0, 10))
    sizes, counts = set(), set()
    for seed in range(10):
        env.reset(seed=seed)
        arena = env.world.arena
        assert 2.0 <= arena.width_m <= 5.0 and arena.width_m == arena.height_m
        sizes.add(arena.width_m)
        counts.add(len(arena.discs) + len(arena.boxes))
    assert len(sizes) == 10 and len(counts) > 3


def test_render_draws_the_arena_and_the_robot() -> None:
    env = ObstacleAvoidEnv(render_mode="rgb_array")
    env.reset(seed=2)
    frame = env.render()
    assert frame.shape == (FRAME_PX, FRAME_PX, 3) and frame.dtype == np.uint8
    colours = {tuple(c) for c in frame.reshape(-1, 3)}
    assert (40, 90, 200) in colours  # the robot
    assert (60, 60, 60) in colours  # the walls
    assert (30, 170, 60) in colours  # the sensor rays
    assert ObstacleAvoidEnv().render() is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"render_mode": "human"}, "found 'human'"),
        ({"control_period_s": 0.0}, "control_period_s: expected > 0, found 0.0"),
        ({"dropout_prob": 1.5}, "dropout_prob: expected in \\[0, 1\\], found 1.5"),
        ({"latency_ticks": (3, 1)}, "latency_ticks: .* found \\(3, 1\\)"),
        ({"obstacles": -1}, "obstacles: expected >= 0, found -1"),
        (
            {"collision": "bounce"},
            "collision: expected one of 'terminate', 'continue', found 'bounce'",
        ),
    ],
)
def test_bad_arguments_are_refused_with_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ObstacleAvoidEnv(**kwargs)


@pytest.mark.slow
def test_dqn_learns_a_better_than_random_policy_on_a_small_budget(tmp_path: Path) -> None:
    """20,000 steps of the trainer's real DQN (~30 s) already roam far longer than random."""
    pytest.importorskip("tensorflow")
    from trainer.evaluation import eval_seeds, evaluate
    from trainer.hyperparams import preset_env_kwargs
    from trainer.rundir import RunDir
    from trainer.training import TrainingRun

    # The default env (episodes end at the first collision), not the preset's cluttered one.
    defaults = inspect.signature(ObstacleAvoidEnv).parameters
    reference_env = {key: defaults[key].default for key in preset_env_kwargs(ENV_ID, "dqn")}
    training = TrainingRun.create(
        ENV_ID,
        "dqn",
        0,
        ["eval_every=0", "final_eval_episodes=5", "checkpoint_every=20000"],
        tmp_path / "run",
        20_000,
        env_kwargs=reference_env,
    )
    try:
        assert training.run(progress=False)
    finally:
        training.close()
    run = RunDir(tmp_path / "run")
    seeds = eval_seeds(10)
    learned = evaluate(run.make_env(), run.greedy_policy("best"), seeds)
    env = ObstacleAvoidEnv()
    env.action_space.seed(0)
    random = evaluate(env, lambda _: int(env.action_space.sample()), seeds)
    # Episodes end at the first collision: a longer mean episode is a safer policy.
    assert np.mean(learned.lengths) >= 2 * np.mean(random.lengths), (learned, random)
    assert learned.mean >= random.mean + 50, (learned.mean, random.mean)

"""``bench_fit --retrain``'s pieces: the oracle trains on the hidden robot itself, the share's
arithmetic, and the evaluation arenas are ``bench_learning``'s, never a training arena."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bench.fit_retrain import (
    BUNDLE,
    arena_seeds,
    pooled_share,
    share,
    train_and_export,
    truth_env,
)
from bench.fit_robots import robots
from robot.config import SimConfig
from robot.hardware.sim.backend import build_world
from shared.bundle import read_bundle
from trainer.export.staging import policy_q_values
from trainer.gymenv import make_env
from trainer.robot_profile_toml import profile_toml, write_profile

ENV_ID = "sim2pi/ObstacleAvoid-v0"


@pytest.mark.parametrize("name", list(robots()))
def test_the_oracle_env_is_the_hidden_robot(name: str) -> None:
    """The truth profile's env, without the preset's randomisation, builds the world the sim
    backend builds for the hidden robot's ``[hardware.sim]`` keys: the same drive, rangers,
    noise, and the latency."""
    robot = robots()[name]
    env = make_env(ENV_ID, **truth_env(robot)).unwrapped
    env.reset(seed=3)
    hidden = build_world(SimConfig(gpio=None, seed=3, **robot))
    assert env.world is not None
    assert dataclasses.astuple(env.world.drive) == pytest.approx(dataclasses.astuple(hidden.drive))
    assert env.world.sensors == hidden.sensors
    assert len(env._pending) == robot.get("latency_ticks", 0)


def test_truth_env_takes_the_reference_robot_for_a_key_the_robot_leaves_out() -> None:
    """A hidden robot that sets only some keys keeps the simulator's others (no default of
    ours: SimConfig's)."""
    env = truth_env({"motor_gain": 0.5})
    reference = SimConfig(gpio=None)
    assert env["motor_gain"] == 0.5
    assert env["dead_band_range"] == [reference.dead_band] * 2
    assert env["side_ranger_deg"] == reference.side_ranger_deg
    assert env["latency_ticks"] == 0


def test_share_of_the_loss() -> None:
    """(value - shifted) / (nominal - shifted); None where the shift cost nothing."""
    assert share(711.0, 653.0, 738.0) == pytest.approx(0.682, abs=1e-3)
    assert share(778.0, 653.0, 738.0) == pytest.approx(1.471, abs=1e-3)  # beyond nominal
    assert share(600.0, 653.0, 738.0) < 0  # worse than not retraining
    assert share(700.0, 750.0, 738.0) is None


def test_evaluation_arenas_are_bench_learnings_fresh_ones() -> None:
    """Seeds 1..N's fresh arenas (10 000 + 1 000 seed + k), none a trainer or learning seed."""
    seeds = arena_seeds(3, 20)
    assert len(seeds) == len(set(seeds)) == 60
    assert seeds[:2] == [11_000, 11_001] and seeds[-1] == 13_019
    assert np.all(np.asarray(seeds) >= 10_000)


def test_a_fine_tuning_run_starts_from_the_bundle_and_exports_onto_its_grid(
    tmp_path: Path,
) -> None:
    """``--retrain-from-bundle``: a real ``trainer train --init-from`` run (too short to learn:
    learning starts after it ends) on a truth profile, exported by the best checkpoint onto the
    reference grid, gives the reference network's Q-values: the export's float32 model answers
    the bundle's reference observations as the bundle does."""
    profile = write_profile(
        tmp_path / "angled.toml",
        profile_toml(
            name="angled_truth",
            env_id=ENV_ID,
            env={**truth_env(robots()["angled"]), "max_episode_s": 2},
        ),
    )
    bundle = read_bundle(BUNDLE)
    sets = ("eval_every=200", "eval_episodes=2", "confirm_episodes=0", "final_eval_episodes=2")
    out, _ = train_and_export(
        profile,
        tmp_path / "run",
        seed=1,
        steps=400,
        sets=(*sets, "learning_starts=100000"),
        bundle=bundle,
        init_from=BUNDLE,
        checkpoint="best",
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["init_from"]["kind"] == "bundle"
    exported = read_bundle(out)
    assert exported.discretizer == bundle.discretizer
    reference = bundle.models["float32"].extra["reference"]
    got = policy_q_values(exported, "float32", np.asarray(reference["observations"]))
    np.testing.assert_allclose(got, np.asarray(reference["outputs"]).reshape(got.shape), atol=1e-3)


def test_the_pooled_share_weighs_each_robot_by_its_loss() -> None:
    def row(shifted: float, retrained: float) -> dict:
        return {
            "nominal": {"return_per_min": 800.0},
            "shifted": {"return_per_min": shifted},
            "retrained": {"return_per_min": retrained},
        }

    # A loss of 10 won back ninefold and a loss of 300 not at all: a mean of shares says 4.5,
    # the pooled share (90 - 0) / 310.
    rows = [row(790.0, 880.0), row(500.0, 500.0), row(820.0, 700.0)]
    assert pooled_share(rows, "retrained") == pytest.approx(90 / 310, abs=1e-3)
    assert pooled_share([row(820.0, 900.0)], "retrained") is None  # nothing was lost

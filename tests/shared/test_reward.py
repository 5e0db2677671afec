"""shared.reward: each term's formula, the weighted total, and spec checking (numpy only)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shared.errors import SpecError
from shared.reference_robot import obstacle_avoid_spec
from shared.reward import KNOWN_TERMS, RewardFunction, compute_reward
from shared.spec import Action, ActionTable, MotorCommand, RewardSpec, RewardTerm, TaskSpec

FAR = np.array([2.0, 2.0, 2.0])


def with_terms(*terms: RewardTerm, spec: TaskSpec | None = None) -> TaskSpec:
    base = spec if spec is not None else obstacle_avoid_spec()
    return dataclasses.replace(base, reward=RewardSpec("terms", terms))


def one_term(name: str, **params: float) -> RewardFunction:
    return RewardFunction(with_terms(RewardTerm(name, 1.0, params)))


def test_forward_progress_is_the_mean_commanded_duty() -> None:
    term = one_term("forward_progress")
    assert term(FAR, MotorCommand(0.8, 0.8), False).total == pytest.approx(0.8)
    assert term(FAR, MotorCommand(0.4, 0.8), False).total == pytest.approx(0.6)
    assert term(FAR, MotorCommand(-0.6, 0.6), False).total == pytest.approx(0.0)
    assert term(FAR, MotorCommand(-0.5, -0.5), False).total == pytest.approx(-0.5)


def test_collision_is_one_on_a_collision() -> None:
    term = one_term("collision")
    assert term(FAR, MotorCommand(0.8, 0.8), True).total == 1.0
    assert term(FAR, MotorCommand(0.8, 0.8), False).total == 0.0


def test_turning_is_half_the_duty_difference() -> None:
    term = one_term("turning")
    assert term(FAR, MotorCommand(-0.6, 0.6), False).total == pytest.approx(0.6)
    assert term(FAR, MotorCommand(0.8, 0.4), False).total == pytest.approx(0.2)
    assert term(FAR, MotorCommand(0.8, 0.8), False).total == 0.0


def test_proximity_grows_linearly_below_the_threshold_from_the_nearest_range() -> None:
    term = one_term("proximity", threshold_m=0.25)
    stop = MotorCommand(0.0, 0.0)
    assert term(FAR, stop, False).total == 0.0
    assert term(np.array([2.0, 0.25, 2.0]), stop, False).total == 0.0
    assert term(np.array([2.0, 0.5, 0.125]), stop, False).total == pytest.approx(0.5)
    assert term(np.array([0.05, 0.5, 0.1]), stop, False).total == pytest.approx(0.8)
    assert term(np.array([0.0, 0.5, 0.1]), stop, False).total == pytest.approx(1.0)


def test_total_is_the_weighted_sum_and_terms_are_the_contributions() -> None:
    spec = obstacle_avoid_spec()
    weight = {term.name: term.weight for term in spec.reward.terms}
    threshold = dict(spec.reward.terms[3].params)["threshold_m"]
    reward = RewardFunction(spec)(np.array([0.1, 1.0, 2.0]), MotorCommand(0.4, 0.8), True)
    expected = {
        "forward_progress": weight["forward_progress"] * 0.6,
        "collision": weight["collision"] * 1.0,
        "turning": weight["turning"] * 0.2,
        "proximity": weight["proximity"] * (1 - 0.1 / threshold),
    }
    assert reward.terms == pytest.approx(expected)
    assert reward.total == pytest.approx(sum(expected.values()))
    assert list(reward.terms) == list(RewardFunction(spec).term_names)
    same = compute_reward(spec, np.array([0.1, 1.0, 2.0]), MotorCommand(0.4, 0.8), True)
    assert same == reward


def test_unknown_term_names_the_term_and_the_known_ones() -> None:
    with pytest.raises(SpecError) as error:
        RewardFunction(with_terms(RewardTerm("speed_bonus", 1.0)))
    assert "'speed_bonus'" in str(error.value)
    for known in KNOWN_TERMS:
        assert known in str(error.value)


def test_params_are_checked() -> None:
    with pytest.raises(SpecError, match=r"expected params \['threshold_m'\], found \[\]"):
        RewardFunction(with_terms(RewardTerm("proximity", -0.5)))
    with pytest.raises(SpecError, match=r"expected params \[\], found \['scale'\]"):
        RewardFunction(with_terms(RewardTerm("collision", -1.0, {"scale": 2.0})))
    with pytest.raises(SpecError, match=r"threshold_m must be > 0, found 0\.0"):
        RewardFunction(with_terms(RewardTerm("proximity", -0.5, {"threshold_m": 0.0})))


def test_env_reward_and_motorless_actions_are_refused() -> None:
    env_reward = dataclasses.replace(obstacle_avoid_spec(), reward=RewardSpec())
    with pytest.raises(SpecError, match="only the env itself can compute"):
        RewardFunction(env_reward)
    abstract = dataclasses.replace(
        obstacle_avoid_spec(), actions=ActionTable((Action("push_left"), Action("push_right")))
    )
    with pytest.raises(SpecError, match="'forward_progress' needs motor commands"):
        RewardFunction(with_terms(RewardTerm("forward_progress", 1.0), spec=abstract))
    # A collision term alone works without motor commands.
    collision_only = RewardFunction(with_terms(RewardTerm("collision", -1.0), spec=abstract))
    assert collision_only(FAR, None, True).total == -1.0


def test_observation_shape_is_checked() -> None:
    reward = RewardFunction(obstacle_avoid_spec())
    with pytest.raises(SpecError, match=r"expected a raw observation of 3 channels.*\(2,\)"):
        reward(np.array([1.0, 1.0]), MotorCommand(0.8, 0.8), False)

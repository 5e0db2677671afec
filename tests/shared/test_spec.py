"""The task spec: validation messages, normalisation and the JSON round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import SpecError
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


def test_json_round_trip_is_lossless(robot_spec: TaskSpec) -> None:
    text = robot_spec.to_json()
    assert TaskSpec.from_json(text) == robot_spec
    assert json.loads(text)["actions"][1] == {
        "name": "spin_left",
        "motor": {"left": -0.6, "right": 0.6},
    }


def test_abstract_env_has_no_motor_commands() -> None:
    spec = TaskSpec(
        "CartPole-v1",
        ObservationSpec((Channel("x", "m", -4.8, 4.8), Channel("theta", "rad", -0.42, 0.42))),
        ActionTable((Action("push_left"), Action("push_right"))),
    )
    back = TaskSpec.from_dict(spec.to_dict())
    assert back == spec
    assert back.reward.source == "env"
    assert back.actions[0].motor is None


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, "1.0", None, True])
def test_channel_rejects_non_finite_bounds_showing_the_value(bad: object) -> None:
    with pytest.raises(SpecError, match=r"channel 'x'\.low: expected a finite number, found"):
        Channel("x", "m", bad, 1.0)  # type: ignore[arg-type]


def test_channel_rejects_inverted_range() -> None:
    with pytest.raises(SpecError, match=r"low < high, found low=2.0, high=1.0"):
        Channel("x", "m", 2.0, 1.0)


def test_channel_rejects_unknown_normalization() -> None:
    with pytest.raises(SpecError, match=r"found 'zscore'"):
        Channel("x", "m", 0.0, 1.0, "zscore")


def test_duplicate_channel_names_are_rejected() -> None:
    with pytest.raises(SpecError, match=r"duplicate name 'x'"):
        ObservationSpec((Channel("x", "m", 0, 1), Channel("x", "m", 0, 1)))


def test_empty_tables_are_rejected() -> None:
    with pytest.raises(SpecError, match="at least one channel"):
        ObservationSpec(())
    with pytest.raises(SpecError, match="at least one action"):
        ActionTable(())
    with pytest.raises(SpecError, match="at least one term"):
        RewardSpec("terms", ())


def test_duplicate_actions_and_terms_are_rejected() -> None:
    with pytest.raises(SpecError, match=r"action table: duplicate name 'go'"):
        ActionTable((Action("go"), Action("go")))
    with pytest.raises(SpecError, match=r"reward spec: duplicate name 'c'"):
        RewardSpec("terms", (RewardTerm("c", 1.0), RewardTerm("c", 2.0)))


def test_motor_duty_outside_range_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"motor.left: expected a duty in \[-1, 1\], found 1.5"):
        MotorCommand(1.5, 0.0)


def test_mixed_motor_and_abstract_actions_are_rejected() -> None:
    with pytest.raises(SpecError, match=r"found \['b'\] without one"):
        ActionTable((Action("a", MotorCommand(0, 0)), Action("b")))


def test_reward_term_weight_must_be_finite() -> None:
    with pytest.raises(SpecError, match=r"reward term 'collision': expected a finite number"):
        RewardTerm("collision", math.nan)


def test_from_dict_errors_name_the_field_path(robot_spec: TaskSpec) -> None:
    data = robot_spec.to_dict()
    data["observation"]["channels"][2]["high"] = "far"
    with pytest.raises(SpecError, match=r"spec\.observation\.channels\[2\]: .*found 'far'"):
        TaskSpec.from_dict(data)
    data = robot_spec.to_dict()
    del data["actions"][0]["name"]
    with pytest.raises(SpecError, match=r"spec\.actions\[0\]: missing field 'name'"):
        TaskSpec.from_dict(data)
    with pytest.raises(SpecError, match="not valid JSON"):
        TaskSpec.from_json("{")
    with pytest.raises(SpecError, match=r"spec\.actions: expected a list"):
        TaskSpec.from_dict({**robot_spec.to_dict(), "actions": {"a": 1}})


def test_normalize_maps_range_onto_unit_interval(robot_spec: TaskSpec) -> None:
    obs = robot_spec.observation
    np.testing.assert_allclose(obs.normalize(obs.lows), [-1, -1, -1], atol=1e-6)
    np.testing.assert_allclose(obs.normalize(obs.highs), [1, 1, 1], atol=1e-6)
    assert obs.normalize(obs.lows).dtype == np.float32
    with pytest.raises(SpecError, match=r"expected 3 channels"):
        obs.normalize(np.zeros(4))


def test_none_normalization_is_identity() -> None:
    obs = ObservationSpec((Channel("state", "index", 0, 15, "none"),))
    np.testing.assert_array_equal(obs.normalize(np.array([7.0])), [7.0])


@given(st.lists(st.floats(-10, 10), min_size=3, max_size=3))
def test_denormalize_inverts_normalize(values: list[float]) -> None:
    obs = ObservationSpec(
        (Channel("a", "m", -1, 3), Channel("b", "rad", -0.5, 0.5), Channel("c", "", 0, 9, "none"))
    )
    raw = np.array(values, dtype=np.float32)
    np.testing.assert_allclose(obs.denormalize(obs.normalize(raw)), raw, rtol=1e-5, atol=1e-4)

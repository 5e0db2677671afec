"""Snapshots become observations only when fresh and valid; readings saturate to the spec."""

from __future__ import annotations

import math

import numpy as np

from robot.control.observation import FAULT, INVALID, STALE, ObservationBuilder, Refusal
from robot.hardware.base import Snapshot
from shared.reference_robot import obstacle_avoid_spec
from shared.spec import Channel, ObservationSpec

SPEC = obstacle_avoid_spec().observation


def build(values: tuple[float, ...], read_at: tuple[float, ...], faults: tuple[str, ...] = ()):
    return ObservationBuilder(SPEC, max_age_s=0.3).build(
        Snapshot(values, read_at, None, faults), 10.0
    )


def test_fresh_valid_readings_saturate_to_the_spec_range() -> None:
    observation = build((0.0, 1.0, 3.5), (9.9, 9.8, 9.75))
    assert isinstance(observation, np.ndarray)
    np.testing.assert_allclose(observation, [0.02, 1.0, 2.0])


def test_a_reading_older_than_the_limit_is_stale() -> None:
    refusal = build((1.0, 1.0, 1.0), (9.9, 9.6, 9.9))
    assert refusal == Refusal(STALE, "front_distance_m is 0.400 s old (limit 0.3 s)")


def test_a_channel_never_read_is_stale() -> None:
    refusal = build((math.nan, 1.0, 1.0), (-math.inf, 9.9, 9.9))
    assert isinstance(refusal, Refusal) and refusal.reason == STALE
    assert "never read" in refusal.detail


def test_non_finite_values_are_invalid() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        refusal = build((1.0, 1.0, bad), (9.9, 9.9, 9.9))
        assert isinstance(refusal, Refusal) and refusal.reason == INVALID
        assert "right_distance_m" in refusal.detail


def test_wrong_channel_count_is_invalid() -> None:
    refusal = build((1.0, 1.0), (9.9, 9.9))
    assert isinstance(refusal, Refusal) and refusal.reason == INVALID


def test_hardware_faults_win() -> None:
    refusal = build((1.0, 1.0, 1.0), (9.9, 9.9, 9.9), ("serial link down (x)",))
    assert refusal == Refusal(FAULT, "serial link down (x)")


def test_values_are_rounded_to_float32_as_numpy_rounds_them() -> None:
    builder = ObservationBuilder(SPEC, max_age_s=0.3)
    rng = np.random.default_rng(2)
    for values in rng.uniform(-0.5, 2.5, size=(2000, 3)).tolist():
        observation = builder.build(Snapshot(tuple(values), (9.9, 9.9, 9.9)), 10.0)
        assert isinstance(observation, np.ndarray) and observation.dtype == np.float32
        expected = np.clip(np.array(values), SPEC.lows, SPEC.highs).astype(np.float32)
        np.testing.assert_array_equal(observation, expected)


def test_a_range_beyond_float32_saturates_as_numpy_does() -> None:
    wide = ObservationSpec((Channel("x", "m", -1e300, 1e300, "none"),))
    with np.errstate(over="ignore"):  # numpy warns about the overflow it saturates
        observation = ObservationBuilder(wide, max_age_s=1.0).build(Snapshot((1e39,), (0.0,)), 0.0)
    assert isinstance(observation, np.ndarray)
    assert observation[0] == np.inf  # numpy's float32 of 1e39, not an OverflowError

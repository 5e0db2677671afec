"""The calibration drive's plan: still, spins both ways on the ladder, reversals, one-wheel
pivots; never a straight line."""

from __future__ import annotations

import itertools

import pytest

from robot.calibration.plan import (
    PAUSE,
    REVERSAL_S,
    REVERSALS,
    STILL,
    Step,
    Timeline,
    build_plan,
    format_plan,
    plan_duration_s,
    reversal_duty,
)
from robot.config import CalibrationConfig


def test_the_default_plan_stands_still_spins_reverses_and_pivots_each_wheel() -> None:
    config = CalibrationConfig()
    plan = build_plan(config)
    assert plan[0].name == STILL and (plan[0].left, plan[0].right) == (0.0, 0.0)
    assert plan[0].duration_s == config.still_s
    moving = [step for step in plan if step.name not in (STILL, PAUSE)]
    spins = [s for s in moving if s.name.startswith("spin_")]
    reversals = [s for s in moving if s.name.startswith("reverse_")]
    pivots = [s for s in moving if s.name.startswith("pivot_")]
    # Each rung both ways: the left wheel back and the right forward, then the reverse.
    assert [(s.left, s.right) for s in spins] == [
        pair for d in config.duties for pair in ((-d, d), (d, -d))
    ]
    assert {s.duration_s for s in spins} == {config.step_s}
    # Below and above the reference motor's dead band (0.15).
    assert min(config.duties) <= 0.15 < max(config.duties)
    # Pivots: one wheel alone, forward then back, left wheel's first.
    expected = [
        (sign * d, 0.0) if side == "left" else (0.0, sign * d)
        for side in ("left", "right")
        for d in config.pivot_duties
        for sign in (1.0, -1.0)
    ]
    assert [(s.left, s.right) for s in pivots] == expected
    # Reversals: after the ladder, before the pivots, left first, alternating without a stop.
    assert plan.index(reversals[0]) > plan.index(spins[-1])
    assert plan.index(reversals[-1]) < plan.index(pivots[0])
    assert [(s.left, s.right) for s in reversals] == [(-0.7, 0.7), (0.7, -0.7)] * (REVERSALS // 2)
    assert {s.duration_s for s in reversals} == {REVERSAL_S}
    first = plan.index(reversals[0])
    assert plan[first : first + REVERSALS] == tuple(reversals)
    assert len(spins) + len(reversals) + len(pivots) == len(moving)
    # A pause after every moving step but the reversals, which follow one another.
    for before, after in itertools.pairwise(plan[1:]):
        if before.name != PAUSE and before not in reversals[:-1]:
            assert after.name == PAUSE and (after.left, after.right) == (0.0, 0.0)
    # Never both wheels the same way: no straight line, the robot stays on its spot.
    assert all(step.left * step.right <= 0.0 for step in plan)
    assert 30.0 <= plan_duration_s(plan) <= 45.0 <= config.max_duration_s
    # As long each way: the reversals end near the heading they began with.
    assert sum(s.right - s.left for s in reversals) == 0.0
    assert len({s.name for s in moving}) == len(moving)  # every step named apart


def test_the_plan_follows_its_keys() -> None:
    config = CalibrationConfig(
        duties=(0.5,), pivot_duties=(1.0,), step_s=0.5, pivot_s=0.3, pause_s=0.0, still_s=0.0
    )
    plan = build_plan(config)
    assert [(s.name, s.left, s.right, s.duration_s) for s in plan] == [
        ("spin_left_0.50", -0.5, 0.5, 0.5),
        ("spin_right_0.50", 0.5, -0.5, 0.5),
        *[
            (f"reverse_{way}_{i}", -sign * 0.5, sign * 0.5, REVERSAL_S)
            for i, way, sign in (
                (i, "left" if i % 2 else "right", 1 if i % 2 else -1)
                for i in range(1, REVERSALS + 1)
            )
        ],
        ("pivot_left_fwd_1.00", 1.0, 0.0, 0.3),
        ("pivot_left_back_1.00", -1.0, 0.0, 0.3),
        ("pivot_right_fwd_1.00", 0.0, 1.0, 0.3),
        ("pivot_right_back_1.00", 0.0, -1.0, 0.3),
    ]
    assert plan_duration_s(plan) == pytest.approx(2.2 + REVERSALS * REVERSAL_S)


def test_the_reversals_take_the_rung_nearest_their_duty() -> None:
    # The ladder's own duties: a robot whose ladder stops below 0.7 is never driven faster.
    assert reversal_duty((0.15, 0.25, 0.35, 0.5, 0.7, 1.0)) == 0.7
    assert reversal_duty((0.3, 0.5)) == 0.5
    assert reversal_duty((0.6, 0.8)) == 0.8  # as near: the higher
    assert reversal_duty((1.0,)) == 1.0


def test_the_timeline_gives_the_step_under_way_and_none_after_the_end() -> None:
    plan = build_plan(CalibrationConfig(duties=(0.5,), pivot_duties=(1.0,), pause_s=0.5))
    timeline = Timeline(plan)
    assert timeline.step_at(0.0) is plan[0]
    assert timeline.step_at(-1.0) is plan[0]
    assert timeline.step_at(1.999) is plan[0]  # still_s = 2.0
    assert timeline.step_at(2.0) is plan[1]
    assert timeline.step_at(timeline.duration_s - 1e-6) is plan[-1]
    assert timeline.step_at(timeline.duration_s) is None
    assert timeline.duration_s == pytest.approx(plan_duration_s(plan))


def test_the_timeline_adds_short_steps_up_without_a_rounding_tick() -> None:
    # 0.1 + 0.2 is 0.30000000000000004: without rounding the ends, the tick at 0.3 s would drive
    # the first two steps' last one again, and every later step would start a tick late.
    plan = [Step(f"s{i}", 0.0, 0.0, d) for i, d in enumerate((0.1, 0.2, 0.3, 0.3, 0.3))]
    timeline = Timeline(plan)
    assert timeline.step_at(0.3) is plan[2]
    assert timeline.step_at(0.6) is plan[3]
    assert timeline.step_at(0.9) is plan[4]
    assert timeline.step_at(1.2) is None
    assert timeline.duration_s == 1.2


def test_format_plan_lists_every_step_and_the_total() -> None:
    plan = build_plan(CalibrationConfig())
    lines = format_plan(plan, 20.0)
    assert len(lines) == len(plan) + 2
    assert lines[-1] == f"total 44.5 s, {len(plan)} steps, about 890 ticks at 20 Hz"
    assert lines[2].split() == ["spin_left_0.15", "-0.15", "0.15", "1.50"]

"""The supervisor's rules, tick by tick on the reference spec (its HIL tests: tests/hil)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot.config import SupervisorConfig
from robot.control.decider import Choice, motor_commands
from robot.control.supervisor import CONTACT, NO_PROGRESS, OSCILLATION, STUCK, Supervisor
from robot.inference.policy import Decision
from shared.reference_robot import obstacle_avoid_spec
from shared.spec import MotorCommand

SPEC = obstacle_avoid_spec()
COMMANDS = motor_commands(SPEC)
FORWARD, SPIN_LEFT, SPIN_RIGHT = COMMANDS[0], COMMANDS[3], COMMANDS[4]
PERIOD = 0.05
OPEN = [1.0, 1.2, 1.4]  # left, front, right (m)


def make(**settings: object) -> Supervisor:
    config = SupervisorConfig(**settings)  # type: ignore[arg-type]
    return Supervisor(config, COMMANDS, SPEC.observation.channels, PERIOD)


def clean_drive(sv: Supervisor, t: float, ticks: int, seed: int = 0) -> float:
    """``ticks`` ticks of a policy driving up to a wall and turning away, again and again, never
    taken over; the time after."""
    rng = np.random.default_rng(seed)
    front = 2.0
    for _ in range(ticks):
        front = front - 0.02 if front > 0.4 else 1.9
        values = [float(v) for v in rng.normal([0.8, front, 0.9], 0.01)]
        command = FORWARD if front > 0.5 else SPIN_LEFT
        assert sv.check(values, False, t) is None
        sv.driven(command, t)
        t += PERIOD
    return t


def test_a_clean_drive_is_never_taken_over() -> None:
    sv = make()
    clean_drive(sv, 0.0, 2000)
    assert sv.summary() == {
        "takeovers": {CONTACT: 0, NO_PROGRESS: 0, OSCILLATION: 0},
        "failed_recoveries": 0,
        "stuck": 0,
        "shielded": 0,
    }


@pytest.mark.parametrize(
    ("bumper", "values", "turn"),
    [
        (True, OPEN, MotorCommand(0.6, -0.6)),  # the left is nearer: turn right
        (False, [1.0, 0.02, 1.0], MotorCommand(-0.6, 0.6)),  # as written
    ],
)
def test_a_contact_starts_the_recovery_then_gives_the_motors_back(bumper, values, turn) -> None:
    sv = make(recovery=((0.0, 0.0, 0.2), (-0.5, -0.5, 0.4), (-0.6, 0.6, 0.3)))
    first = sv.check(values, bumper, 10.0)
    assert first is not None and first.reason == CONTACT and first.begins
    assert first.command == MotorCommand(0.0, 0.0)
    assert sv.telemetry_fields() == {"supervisor": CONTACT, "takeover_begins": True}
    commands = []
    t = 10.05
    while (takeover := sv.check(OPEN, False, t)) is not None:
        assert takeover.reason == CONTACT and not takeover.begins
        assert sv.telemetry_fields() == {"supervisor": CONTACT}
        commands.append(takeover.command)
        t += PERIOD
    assert t == pytest.approx(10.9)  # 0.2 + 0.4 + 0.3 s
    assert set(commands) == {MotorCommand(0.0, 0.0), MotorCommand(-0.5, -0.5), turn}
    assert sv.takeovers[CONTACT] == 1 and sv.failed_recoveries == 0


def test_the_recovery_turns_away_from_the_nearer_side() -> None:
    sv = make(recovery=((-0.6, 0.6, 0.5),))  # as written: spin left
    left_near = sv.check([0.05, 0.02, 1.5], False, 0.0)
    assert left_near is not None and left_near.command == MotorCommand(0.6, -0.6)
    sv = make(recovery=((-0.6, 0.6, 0.5),))
    right_near = sv.check([1.5, 0.02, 0.05], False, 0.0)
    assert right_near is not None and right_near.command == MotorCommand(-0.6, 0.6)


def test_no_progress_driving_forward_while_nothing_changes() -> None:
    sv = make(progress_window_s=3.0)
    rng = np.random.default_rng(1)
    t, seen = 0.0, []
    for _ in range(100):  # 5 s pushing: the readings noisy (0.02 m) but still
        values = [float(v) for v in rng.normal([0.3, 0.1, 0.5], 0.02)]
        takeover = sv.check(values, False, t)
        if takeover is not None:
            seen.append((t, takeover))
            break
        sv.driven(FORWARD, t)
        t += PERIOD
    assert seen and seen[0][1].reason == NO_PROGRESS
    assert 3.0 <= seen[0][0] <= 3.1


def test_no_judgement_while_a_range_sees_nothing_or_the_robot_turns() -> None:
    rng = np.random.default_rng(2)
    open_front = make()
    for cases in (open_front,):
        t = 0.0
        for _ in range(200):  # a wall at the left, nothing ahead (2 m: no echo), driving on
            values = [float(rng.normal(0.3, 0.01)), 2.0, 2.0]
            assert cases.check(values, False, t) is None
            cases.driven(FORWARD, t)
            t += PERIOD
    turning = make()
    t = 0.0
    for k in range(200):  # every few ticks a turn breaks the forward drive
        values = [0.5, 0.5, 0.5]
        assert turning.check(values, False, t) is None
        turning.driven(SPIN_LEFT if k % 50 == 0 else FORWARD, t)
        t += PERIOD


def test_ranges_that_come_and_go_are_progress() -> None:
    """Weaving between obstacles: every range swings up and down (in phase, the hard case for a
    trend test: at the turning points none is changing)."""
    sv = make()
    t = 0.0
    for _ in range(1200):
        swing = 0.3 * math.sin(2 * math.pi * t / 4.0)
        assert sv.check([0.8 + swing, 1.2 + swing, 0.9 + swing], False, t) is None
        sv.driven(FORWARD, t)
        t += PERIOD


def test_moving_forward_is_progress() -> None:
    sv = make()
    t, front = 0.0, 1.9
    for _ in range(160):  # 8 s at 0.1 m/s towards a wall 1.9 m ahead, the sides steady
        assert sv.check([0.6, front, 0.7], False, t) is None
        sv.driven(FORWARD, t)
        front -= 0.005
        t += PERIOD


def test_spins_alternating_are_an_oscillation_exploration_is_not() -> None:
    sv = make(oscillation_reversals=8, oscillation_window_s=4.0)
    t = 0.0
    for k in range(8):
        assert sv.check(OPEN, False, t) is None  # at most 6 reversals so far
        sv.driven(SPIN_LEFT if k % 2 else SPIN_RIGHT, t)
        t += PERIOD
    assert sv.check(OPEN, False, t) is None  # 7 reversals
    sv.driven(SPIN_RIGHT, t)
    t += PERIOD
    takeover = sv.check(OPEN, False, t)
    assert takeover is not None and takeover.reason == OSCILLATION
    # Its recovery turns on the spot: nothing is touched in front, nothing is seen behind.
    steps = [takeover.command]
    while (more := sv.check(OPEN, False, t := t + PERIOD)) is not None:
        steps.append(more.command)
    assert {(c.left, c.right) for c in steps} == {(0.0, 0.0), (0.6, -0.6)}  # left is nearer
    explorer = make(oscillation_reversals=8)
    for k in range(40):
        assert explorer.check(OPEN, False, k * PERIOD) is None
        explorer.driven(SPIN_LEFT if k % 2 else SPIN_RIGHT, k * PERIOD, explored=True)
    slow = make(oscillation_reversals=8, oscillation_window_s=4.0)
    for k in range(200):  # one reversal a second: outside the window
        assert slow.check(OPEN, False, k * PERIOD) is None
        slow.driven(SPIN_LEFT if (k // 20) % 2 else SPIN_RIGHT, k * PERIOD)


def test_recoveries_that_fail_in_a_row_stop_the_robot_stuck() -> None:
    sv = make(max_failed_recoveries=2, settle_s=3.0, on_stuck="hold")
    t = 0.0
    reasons = []
    for _ in range(4000):
        takeover = sv.check([1.0, 0.02, 1.0], False, t)  # in contact whenever asked
        reasons.append(None if takeover is None else takeover.reason)
        t += PERIOD
    assert sv.takeovers[CONTACT] == 3 and sv.failed_recoveries == 2 and sv.stuck == 1
    first_stuck = reasons.index(STUCK)
    assert set(reasons[first_stuck:]) == {STUCK}  # held for good
    # Backed off once more before stopping: the third recovery (1.2 s) ran in full.
    assert first_stuck * PERIOD == pytest.approx(3 * 1.2, abs=0.11)
    held = sv.check(OPEN, False, t)
    assert held is not None and held.command is None and "held" in held.detail


def test_stuck_retries_after_its_wait_and_exit_says_so() -> None:
    sv = make(max_failed_recoveries=1, settle_s=10.0, stuck_retry_s=5.0)
    t = 0.0
    while sv.stuck == 0:
        sv.check([1.0, 0.02, 1.0], False, t)
        t += PERIOD
    stuck_at = t
    while (takeover := sv.check(OPEN, False, t)) is not None:
        assert takeover.reason == STUCK
        t += PERIOD
    assert t - stuck_at == pytest.approx(5.0, abs=0.06)
    assert not sv.exits_when_stuck and make(on_stuck="exit").exits_when_stuck


def test_a_contact_long_after_the_last_recovery_is_not_a_failure() -> None:
    sv = make(settle_s=3.0)
    t = 0.0
    for k in range(5):
        assert sv.check([1.0, 0.02, 1.0], False, t) is not None  # a contact …
        t += 1.5  # … the recovery …
        t = clean_drive(sv, t, 200, seed=k)  # … then 10 s of clean driving
    assert sv.takeovers[CONTACT] == 5 and sv.failed_recoveries == 0 and sv.stuck == 0


def test_the_shield_replaces_forward_near_an_obstacle_with_the_best_turn() -> None:
    sv = make(shield_distance_m=0.2)
    q = np.array([5.0, 4.0, 3.0, 1.0, 2.0])
    choice = Choice(FORWARD, Decision(0, q))
    shielded = sv.shielded(choice, [1.0, 0.15, 1.0])
    assert shielded.command == SPIN_RIGHT and shielded.decision.action_index == 4
    assert sv.shielded(choice, [1.0, 0.25, 1.0]) is choice
    assert make(shield_distance_m=0.0).shielded(choice, [1.0, 0.15, 1.0]) is choice
    assert sv.summary()["shielded"] == 1
    sv.check(OPEN, False, 0.0)
    sv.shielded(choice, [1.0, 0.1, 1.0])
    assert sv.telemetry_fields() == {"supervisor": None, "shielded": True}


def test_nothing_to_judge_without_ranges() -> None:
    sv = Supervisor(SupervisorConfig(), COMMANDS, (), PERIOD)
    for k in range(200):
        assert sv.check([], False, k * PERIOD) is None
        sv.driven(FORWARD, k * PERIOD)
    assert sv.check([], True, 20.0).reason == CONTACT  # the bumper still counts
    assert math.isinf(sv.shield.nearest_m([]))

"""``[supervisor]``: its keys, defaults and errors, the keys that moved there from ``[learning]``,
and that on-robot learning needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot.config import ON_STUCK, SupervisorConfig, load_config
from robot.errors import ConfigError
from tests.robot.config.test_config import MINIMAL_GPIO, error_for, write


def test_defaults_are_on_and_every_key_reads(tmp_path: Path) -> None:
    defaults = load_config(write(tmp_path, MINIMAL_GPIO)).supervisor
    assert defaults == SupervisorConfig() and defaults.enabled
    assert defaults.recovery == ((0.0, 0.0, 0.1), (-0.5, -0.5, 0.6), (-0.6, 0.6, 0.5))
    assert (defaults.collision_distance_m, defaults.shield_distance_m) == (0.03, 0.2)
    assert (defaults.on_stuck, defaults.max_failed_recoveries) == ("retry", 3)
    text = MINIMAL_GPIO + (
        "\n[supervisor]\nenabled = true\ncollision_distance_m = 0.05\nshield_distance_m = 0\n"
        "recovery = [[-0.4, -0.4, 1], [0.5, -0.5, 0.4]]\nprogress_window_s = 2\n"
        "progress_change_m = 0.05\noscillation_reversals = 6\noscillation_window_s = 3\n"
        'settle_s = 2\nmax_failed_recoveries = 5\non_stuck = "exit"\nstuck_retry_s = 10\n'
    )
    config = load_config(write(tmp_path, text)).supervisor
    assert config.recovery == ((-0.4, -0.4, 1.0), (0.5, -0.5, 0.4))
    assert (config.collision_distance_m, config.shield_distance_m) == (0.05, 0.0)
    assert (config.progress_window_s, config.progress_change_m) == (2.0, 0.05)
    assert (config.oscillation_reversals, config.oscillation_window_s) == (6, 3.0)
    assert (config.settle_s, config.max_failed_recoveries) == (2.0, 5)
    assert (config.on_stuck, config.stuck_retry_s) == ("exit", 10.0)
    assert set(ON_STUCK) == {"retry", "hold", "exit"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("enabled = 1", "[supervisor.enabled] expected a boolean"),
        ("collision_distance_m = -0.1", "[supervisor.collision_distance_m] expected 0.0..1.0 m"),
        ("shield_distance_m = 5", "[supervisor.shield_distance_m] expected 0.0..4.0 m"),
        ("recovery = [[0, 0]]", "[supervisor.recovery] step 0: expected [left duty, right duty"),
        ('recovery = [[0, "a", 1]]', "[supervisor.recovery] step 0: expected [left duty"),
        ("recovery = [[0, 0, 1], [2, 0, 1]]", "[supervisor.recovery] step 1: expected duties in"),
        ("recovery = [[0, 0, -1]]", "a duration in 0..10 s, found [0, 0, -1]"),
        ('recovery = "back off"', "[supervisor.recovery] expected"),
        ("recovery = []", "[supervisor.recovery] expected at least one step, found none"),
        ("progress_window_s = -1", "[supervisor.progress_window_s] expected 0.0..60.0 s"),
        ("progress_change_m = 0", "[supervisor.progress_change_m] expected 0.001..1.0 m"),
        ("oscillation_reversals = -1", "[supervisor.oscillation_reversals] expected 0..1000"),
        ("oscillation_window_s = 0", "[supervisor.oscillation_window_s] expected 0.1..60.0 s"),
        ("settle_s = -1", "[supervisor.settle_s] expected 0.0..600.0 s"),
        ("max_failed_recoveries = 0", "[supervisor.max_failed_recoveries] expected 1..1000"),
        ('on_stuck = "panic"', "[supervisor.on_stuck] expected one of ['retry', 'hold', 'exit']"),
        ("stuck_retry_s = -5", "[supervisor.stuck_retry_s] expected 0.0..86400.0 s"),
        ("typo = 1", "[supervisor.typo] is not a known key"),
    ],
)
def test_each_bad_key_gets_one_error_with_its_fix(tmp_path: Path, line: str, expected: str) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO + f"\n[supervisor]\n{line}\n")
    assert expected in message
    assert message.count("; ") >= 1  # the fix follows


@pytest.mark.parametrize(
    ("line", "now"),
    [
        ("collision_distance_m = 0.05", "supervisor.collision_distance_m"),
        ("shield_greedy_distance_m = 0.2", "supervisor.shield_distance_m"),
        ("recovery = [[0, 0, 1]]", "supervisor.recovery"),
    ],
)
def test_a_key_that_moved_from_learning_says_where_to(tmp_path: Path, line: str, now: str) -> None:
    message = error_for(tmp_path, MINIMAL_GPIO + f"\n[learning]\n{line}\n")
    key = line.split(" = ", maxsplit=1)[0]
    assert f"[learning.{key}] has moved to [{now}]; move the key there" in message


def test_learning_needs_the_supervisor(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + "\n[learning]\nenabled = true\n[supervisor]\nenabled = false\n"
    message = error_for(tmp_path, text)
    assert "[learning.enabled] on-robot learning needs the supervisor" in message
    assert "set [supervisor] enabled = true, or turn learning off" in message
    off = load_config(write(tmp_path, MINIMAL_GPIO + "\n[supervisor]\nenabled = false\n"))
    assert not off.supervisor.enabled
    with pytest.raises(ConfigError, match=r"\[supervisor\.max_failed_recoveries\]"):
        SupervisorConfig(max_failed_recoveries=0)

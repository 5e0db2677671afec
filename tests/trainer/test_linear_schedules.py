"""Linear schedules of ε and learning rates."""

import pytest

from trainer.schedules import LinearSchedule

pytestmark = pytest.mark.trainer


def test_linear_schedule_interpolates_then_holds() -> None:
    eps = LinearSchedule(1.0, 0.1, 100)
    assert eps(0) == 1.0
    assert eps(50) == pytest.approx(0.55)
    assert eps(100) == pytest.approx(0.1)
    assert eps(10_000) == pytest.approx(0.1)


def test_zero_duration_is_the_end_value() -> None:
    assert LinearSchedule(1.0, 0.2, 0)(0) == 0.2


def test_over_fraction_reaches_end_at_that_fraction() -> None:
    s = LinearSchedule.over_fraction(1.0, 0.0, 0.25, 1000)
    assert s.duration == 250
    assert s(125) == pytest.approx(0.5)
    assert s(250) == 0.0


def test_increasing_schedule_works_too() -> None:
    assert LinearSchedule(0.0, 2.0, 10)(5) == pytest.approx(1.0)

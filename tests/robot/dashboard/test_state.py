"""The aggregation behind ``/state.json``: latest values, names, stop and takeover events, the
loop's health over its last second, restarts, the learner's fields."""

from __future__ import annotations

import json

from robot.dashboard.state import (
    MAX_EVENTS,
    MAX_REASONS,
    MAX_TEXT,
    MAX_VALUES,
    DashboardState,
    Layout,
)

LAYOUT = Layout(
    channels=("left_distance_m", "front_distance_m", "right_distance_m"),
    ranger_deg=(45.0, 0.0, -45.0),
    actions=("forward", "veer_left", "veer_right", "spin_left", "spin_right"),
)


def record(tick: int, **fields: object) -> dict:
    """A 20 Hz tick record; ``fields`` override."""
    base = {
        "t_s": round(tick * 0.05, 6),
        "tick": tick,
        "obs": [1.0, 0.5, 0.25],
        "action": 1,
        "q": [0.1, 0.9, 0.2, 0.3, 0.4],
        "compute_us": 400.0,
        "late_us": 100.0 + tick,
        "stopped": None,
        "overrun": False,
        "bumper": False,
        "supervisor": None,
    }
    return {**base, **fields}


def test_an_empty_state_shows_nothing_yet() -> None:
    view = DashboardState(LAYOUT).view(0.0)
    assert (view["records"], view["tick"], view["since_last_record_s"]) == (0, None, None)
    assert view["action"] == {"index": None, "name": None}
    assert view["health"]["rate_hz"] is None and view["learning"] is None


def test_the_latest_record_with_the_action_named() -> None:
    state = DashboardState(LAYOUT)
    state.add([record(t) for t in range(5)], now_s=10.0)
    view = state.view(now_s=10.5)
    assert (view["tick"], view["obs"], view["q"][1]) == (4, [1.0, 0.5, 0.25], 0.9)
    assert view["action"] == {"index": 1, "name": "veer_left"}
    assert view["since_last_record_s"] == 0.5
    assert view["layout"]["ranger_deg"] == [45.0, 0.0, -45.0]
    assert DashboardState(Layout()).view(0.0)["layout"]["actions"] == []


def test_health_covers_the_last_second_of_the_loops_time() -> None:
    state = DashboardState(LAYOUT)
    records = [record(t) for t in range(100)]  # 5 s at 20 Hz
    records[97]["overrun"] = True
    records[10]["overrun"] = True  # long ago: counted in the total only
    state.add(records, now_s=0.0)
    health = state.view(0.0)["health"]
    assert health["rate_hz"] == 20.0
    assert health["window_records"] == 21  # t_s 3.95 .. 4.95
    assert health["late_max_us"] == 199.0 and health["late_p50_us"] == 189.0
    assert (health["overruns_window"], health["overruns_total"]) == (1, 2)


def test_every_tenth_tick_still_gives_the_loops_rate() -> None:
    state = DashboardState(LAYOUT)
    state.add([record(t) for t in range(0, 200, 10)], now_s=0.0)
    assert state.view(0.0)["health"]["rate_hz"] == 20.0


def test_stop_and_takeover_events_are_counted_once_each() -> None:
    state = DashboardState(LAYOUT)
    stops = [None, "stale", "stale", None, "stale", "invalid", "invalid", None]
    takeovers = [None, None, "contact", "contact", None, None, "no_progress", None]
    state.add(
        [
            record(t, stopped=s, supervisor=k)
            for t, (s, k) in enumerate(zip(stops, takeovers, strict=True))
        ],
        now_s=0.0,
    )
    view = state.view(0.0)
    assert view["stop"] == {"current": None, "counts": {"stale": 2, "invalid": 1}}
    assert view["supervisor"]["counts"] == {"contact": 1, "no_progress": 1}
    # One takeover right after another of the same kind: the record says so.
    state.add([record(9, supervisor="contact"), record(10, supervisor="contact")], now_s=0.0)
    state.add([record(11, supervisor="contact", takeover_begins=True)], now_s=0.0)
    assert state.view(0.0)["supervisor"]["counts"]["contact"] == 3
    state.add([record(12, stopped="SIGTERM")], now_s=0.0)  # the run's last record
    view = state.view(0.0)
    assert view["stop"] == {
        "current": "SIGTERM",
        "counts": {"stale": 2, "invalid": 1, "SIGTERM": 1},
    }
    assert (view["restarts"], view["records"]) == (0, 12)


def test_a_restart_is_seen_and_starts_the_health_window_afresh() -> None:
    state = DashboardState(LAYOUT)
    state.add([record(t, stopped="stale") for t in range(100, 140)], now_s=0.0)
    state.add([record(t) for t in range(3)], now_s=1.0)  # ticks from 0 again
    view = state.view(1.0)
    assert (view["restarts"], view["tick"], view["health"]["window_records"]) == (1, 2, 3)
    state.add([record(0, stopped="stale")], now_s=2.0)
    assert state.view(2.0)["stop"]["counts"] == {"stale": 2}


def test_the_learners_fields_and_updates_seen() -> None:
    state = DashboardState(LAYOUT)
    state.add([record(0, epsilon=0.3)], now_s=0.0)
    state.add([record(t, epsilon=0.29, td_error=0.5, reward=-0.1) for t in (1, 2)], now_s=0.0)
    learning = state.view(0.0)["learning"]
    assert learning["epsilon"] == 0.29 and learning["updates"] == 2  # (records without a count)
    assert (learning["td_error"], learning["reward"]) == (0.5, -0.1)
    state.add([record(3, epsilon=0.28, updates=1234)], now_s=0.0)  # the learner's own count
    assert state.view(0.0)["learning"]["updates"] == 1234


def test_what_is_not_a_tick_record_is_ignored() -> None:
    state = DashboardState(LAYOUT)
    state.add([{"tick": "7"}, {"t_s": 1.0}, {"tick": True, "t_s": 0.0}, record(3)], now_s=0.0)
    assert state.view(0.0)["records"] == 1


def strict(view: dict) -> dict:
    """``view`` through JSON as the server writes it (NaN or Infinity raise ValueError)."""
    return json.loads(json.dumps(view, allow_nan=False))


def test_non_finite_numbers_are_served_as_null() -> None:
    state = DashboardState(LAYOUT)
    nan, inf = float("nan"), float("inf")
    state.add([record(0)], now_s=0.0)
    state.add([record(1, obs=[nan, 1.0, -inf], q=[inf, 1, 1, 1, 1], compute_us=nan)], 0.0)
    state.add([record(2, epsilon=nan, td_error=inf, reward=-inf, updates=nan)], now_s=0.0)
    view = strict(state.view(0.0))
    assert view["tick"] == 2 and view["learning"]["epsilon"] is None
    state.add([record(3, obs=[nan, 1.0, -inf], q=[inf, 1, 1, 1, 1], compute_us=nan)], 0.0)
    view = strict(state.view(0.0))
    assert (view["obs"], view["q"]) == ([None, 1.0, None], [None, 1, 1, 1, 1])
    assert view["health"]["compute_us"] is None and view["bad_fields"] == []


def test_odd_shapes_are_null_bounded_and_named() -> None:
    state = DashboardState(LAYOUT)
    state.add([record(0, obs="1,2,3", q=7, action="forward", stopped=["x"], bumper="yes")], 0.0)
    view = strict(state.view(0.0))
    assert (view["obs"], view["q"], view["action"]["index"]) == (None, None, None)
    assert view["bad_fields"] == ["obs", "q", "action"]
    assert (view["stop"]["current"], view["bumper"]) == (None, None)
    long = "x" * 10_000
    state.add(
        [record(1, q=[1.0] * 100_000, stopped=long, learn_events=[long] * 1000, epsilon=0.5)], 0.0
    )
    view = strict(state.view(0.0))
    assert len(view["q"]) == MAX_VALUES and view["bad_fields"] == ["q"]
    assert view["stop"]["current"] == "x" * MAX_TEXT
    assert len(view["learning"]["events"]) == MAX_EVENTS
    assert len(json.dumps(view)) < 10_000
    state.add([record(t, stopped=f"reason {t}") for t in range(2, 200)], now_s=0.0)
    counts = state.view(0.0)["stop"]["counts"]
    assert len(counts) == MAX_REASONS + 1 and counts["other"] > 100


def test_a_gap_in_the_ticks_is_counted_as_missed() -> None:
    state = DashboardState(Layout(every_n_ticks=10))
    state.add([record(t) for t in (0, 10, 20, 60, 70)], now_s=0.0)  # 30, 40, 50 lost
    state.add([record(0), record(10)], now_s=0.0)  # a restart is no gap
    view = state.view(0.0)
    assert (view["records"], view["missed"], view["restarts"]) == (7, 3, 1)

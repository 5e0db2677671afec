"""scripts/bench_arenas on a tiny budget: the JSON has its figures, and a forced contact counts.

The fixture bundle's Q-table in a 2 m arena with 8 obstacles, seed 1001, presses into an
obstacle within 100 ticks (seeded: the same run every time); in the default arena it does not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import arenas
from bench.arenas_suite import parse_arena

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_BUNDLE = ROOT / "tests/fixtures/obstacle_bundle"
FIGURES = (
    "collision_free_minutes",
    "contact_share",
    "longest_contact_s",
    "metres_per_min",
    "stops",
    "runs_with_contact",
)


def test_the_script_runs_the_module() -> None:
    assert "-m bench.arenas " in (ROOT / "scripts/bench_arenas").read_text()


def test_arena_names_parse() -> None:
    arena = parse_arena("3m/11 rough")
    assert (arena.side_m, arena.obstacles, arena.motor_gain, arena.dropout_prob) == (
        3.0,
        11,
        0.8,
        0.05,
    )
    assert parse_arena("4m/6").name == "4m/6 plain"
    with pytest.raises(ValueError, match="expected"):
        parse_arena("4m/6 muddy")


@pytest.fixture
def robot_log_level() -> Iterator[None]:
    """``arenas.main`` quietens the ``robot`` logger as a command should; later tests read it."""
    logger = logging.getLogger("robot")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("robot_log_level")
def test_a_forced_contact_is_counted_and_the_supervisor_ends_it(tmp_path: Path) -> None:
    argv = ["--bundle", str(FIXTURE_BUNDLE), "--policies", "qtable", "--seeds", "1"]
    argv += ["--first-seed", "1001", "--ticks", "100", "--out", str(tmp_path)]
    argv += ["--arena", "4m/6", "--arena", "2m/8"]

    assert arenas.main(argv) == 0  # with the supervisor every bar is met here

    record = json.loads((tmp_path / "arenas.json").read_text())
    assert record["seeds"] == [1001] and record["supervisor"] == "both"
    assert record["ticks"] == 100
    assert {"machine", "versions", "command", "load_average_end"} <= set(record["environment"])
    assert "wall_s" in record
    clear = record["results"]["4m/6 plain"]
    crowded = record["results"]["2m/8 plain"]
    for figures in (*clear.values(), *crowded.values()):
        assert set(FIGURES) <= set(figures)
        assert figures["metres_per_min"] > 0
    assert clear["qtable"]["contact_share"] == clear["qtable (supervisor off)"]["contact_share"]
    assert clear["qtable"]["collision_free_minutes"] == 1.0
    assert sum(clear["qtable"]["takeovers"].values()) == 0
    # Without the supervisor the policy presses into an obstacle; with it, it never does.
    off, on = crowded["qtable (supervisor off)"], crowded["qtable"]
    assert off["contact_share"] > 0.05 and off["longest_contact_s"] > 1.0
    assert off["collision_free_minutes"] == 0.0 and not off["supervisor"]
    assert on["supervisor"] and sum(on["takeovers"].values()) >= 1
    assert on["longest_contact_s"] <= 1.0 and on["contact_share"] < off["contact_share"]
    # The bars judge the runs with the supervisor only.
    assert {b["policy"] for b in record["bars"]} == {"qtable"}

    argv += ["--supervisor", "off", "--out", str(tmp_path / "off")]
    assert arenas.main(argv) == 1  # the crowded arena misses the contact bars without it
    judged = json.loads((tmp_path / "off" / "arenas.json").read_text())["bars"]
    assert {b["policy"] for b in judged} == {"qtable (supervisor off)"}
    assert not all(b["met"] for b in judged)

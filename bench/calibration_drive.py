"""``scripts/bench_calibration``: ``python -m robot calibrate``'s drive on the ``sim`` backend in
the arena suite's default arena and its most cluttered one (plain and rough), over unseen
seeds.

Each drive takes the path the command takes (``robot.calibration.session.run_calibration``:
the readings before the drive, the control loop with the supervisor, the log), with only
``[hardware.sim]`` changed per run (seed, arena, obstacles, the arena's imperfections). Reports
per arena: drives refused before any motor moved (and why), how each drive ended, collisions
(steps the world found the body touching something: must be 0), the longest drive (must be at
most ``max_duration_s``), and the robot's largest distance from where it started (the pivot
circle: one track width, 0.13 m on the reference robot). Time is simulated.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from bench import record
from bench.arenas_suite import CLUTTERED, DEFAULT_ARENA, FIRST_SEED, parse_arena
from robot.calibration.preflight import CalibrationRefusedError
from robot.calibration.session import run_calibration
from robot.config import RobotConfig, SimConfig, load_config

CONFIG = record.ROOT / "robot" / "examples" / "reference_sim.toml"
#: The default arena and the most cluttered, each plain and rough (noisier rangers that miss
#: echoes, weaker motors).
ARENAS = (DEFAULT_ARENA, f"{CLUTTERED} plain", "4m/6 rough", f"{CLUTTERED} rough")


def drive(config: RobotConfig, arena: str, seed: int, log: Path) -> dict[str, Any]:
    """One drive in ``arena`` drawn from ``seed``: how it ended and what the world saw."""
    shape = parse_arena(arena)
    assert isinstance(config.hardware, SimConfig)
    hardware = dataclasses.replace(
        config.hardware,
        seed=seed,
        arena_m=shape.side_m,
        obstacles=shape.obstacles,
        noise_std_m=shape.noise_std_m,
        dropout_prob=shape.dropout_prob,
        motor_gain=shape.motor_gain,
    )
    try:
        result = run_calibration(dataclasses.replace(config, hardware=hardware), log)
    except CalibrationRefusedError as exc:
        return {"seed": seed, "outcome": "refused", "reason": str(exc)}
    assert result.sim is not None
    return {
        "seed": seed,
        "outcome": result.outcome,
        "duration_s": result.summary["duration_s"],
        "ticks": result.summary["ticks"],
        "farthest_m": result.sim["farthest_from_start_m"],
        "contact_steps": result.sim["contact_steps"],
    }


def summarise(runs: list[dict[str, Any]], max_duration_s: float) -> dict[str, Any]:
    """An arena's figures over its runs."""
    driven = [r for r in runs if r["outcome"] != "refused"]
    refused = [r for r in runs if r["outcome"] == "refused"]
    return {
        "runs": len(runs),
        "refused": len(refused),
        "refusals": [f"seed {r['seed']}: {r['reason']}" for r in refused],
        "outcomes": dict(Counter(r["outcome"] for r in driven)),
        "collisions": sum(int(r["contact_steps"] > 0) for r in driven),
        "longest_drive_s": max((r["duration_s"] for r in driven), default=None),
        "max_duration_s": max_duration_s,
        "farthest_from_start_m": max((r["farthest_m"] for r in driven), default=None),
    }


def main(argv: list[str] | None = None) -> int:
    """Drive, print, write ``calibration.json``."""
    parser = argparse.ArgumentParser(prog="scripts/bench_calibration", description=__doc__)
    parser.add_argument("--seeds", type=int, default=20, help="seeds per arena (default 20)")
    parser.add_argument(
        "--out", type=Path, default=record.SCRATCH_DIR, help="where calibration.json goes"
    )
    args = parser.parse_args(argv)
    env = record.environment(
        sys.argv[1:] if argv is None else argv, prog="scripts/bench_calibration"
    )
    record.print_environment(env)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("robot").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="gpiozero")
    config = load_config(CONFIG)
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sim2pi-calibration-") as scratch:
        log = Path(scratch) / "calibration.jsonl"
        for arena in ARENAS:
            runs = [drive(config, arena, seed, log) for seed in seeds]
            figures = summarise(runs, config.calibration.max_duration_s)
            results[arena] = {"figures": figures, "runs": runs}
            print(
                f"{arena}: {figures['runs']} seeds, {figures['refused']} refused, ended "
                f"{figures['outcomes']}, collisions {figures['collisions']}, longest drive "
                f"{figures['longest_drive_s']} s (max {figures['max_duration_s']:g} s), farthest "
                f"from start {figures['farthest_from_start_m']} m"
            )
            for line in figures["refusals"]:
                print(f"  {line}")
    payload = {"seeds": [seeds[0], seeds[-1]], "config": str(CONFIG.relative_to(record.ROOT))}
    payload["results"] = results
    print(f"wrote {record.write_json('calibration', payload, record.finish(env), args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

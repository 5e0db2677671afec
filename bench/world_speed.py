"""``scripts/bench_world``: the simulator's speed, one 50 ms tick of a roaming robot, in µs.

Prints the machine and the figures, and writes them with the record (``bench/record.py``) to
``<out>/world.json`` (default ``runs/bench``; ``scripts/bench_docs`` writes it to
``docs/benchmarks/data`` and renders it into simulator.md). The robot's path is seeded, so the
odometer is the same on every run (pure-Python float geometry; docs/benchmarks/README.md); the
times are this machine's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import record
from shared.world import Arena, Pose, World


def measure(ticks: int) -> dict[str, Any]:
    """``ticks`` ticks of a reactive robot in arena seed 1: per-tick cost and the odometer."""
    arena = Arena.random(np.random.default_rng(1))
    start = next(
        Pose(x, y, 0.0)
        for x in np.linspace(0.3, 2.7, 25)
        for y in np.linspace(0.3, 2.7, 25)
        if arena.clearance_m(x, y, 0.1) > 0.2
    )
    world = World(arena, np.random.default_rng(1), start)
    costs = np.empty(ticks)
    for k in range(ticks):
        begin = time.perf_counter()
        front = world.distance_m(1)
        if world.collided or (front is not None and front < 0.3):
            world.set_duties(-0.6, 0.6)
        else:
            world.set_duties(0.8, 0.8)
        world.step(0.05)
        costs[k] = time.perf_counter() - begin
    p50, p99 = np.percentile(costs, [50, 99]) * 1e6
    return {
        "ticks": ticks,
        "p50_us": round(float(p50), 1),
        "p99_us": round(float(p99), 1),
        "mean_us": round(float(costs.mean() * 1e6), 1),
        "faster_than_real_time": round(float(0.05 / costs.mean())),
        "odometer_m": float(world.odometer_m),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure, print, write ``world.json``."""
    parser = argparse.ArgumentParser(prog="scripts/bench_world", description=__doc__)
    parser.add_argument("ticks", type=int, nargs="?", default=20_000, help="default 20000")
    parser.add_argument(
        "--out", type=Path, default=record.SCRATCH_DIR, help="where world.json goes (runs/bench)"
    )
    args = parser.parse_args(argv)
    env = record.environment(sys.argv[1:] if argv is None else argv, prog="scripts/bench_world")
    record.print_environment(env)
    f = measure(args.ticks)
    print(
        f"world tick (step 50 ms + 3 rangers), {f['ticks']} ticks: p50 {f['p50_us']:.0f} µs, "
        f"p99 {f['p99_us']:.0f} µs, mean {f['mean_us']:.0f} µs; "
        f"{f['faster_than_real_time']}x faster than real time; odometer {f['odometer_m']:.1f} m"
    )
    print(f"wrote {record.write_json('world', {'results': f}, record.finish(env), args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

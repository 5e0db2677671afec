"""``scripts/bench_world``: the simulator's speed, one 50 ms tick of a roaming robot, in µs."""

import sys
import time

import numpy as np

from shared.world import Arena, Pose, World

ticks = int(sys.argv[1])
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
print(
    f"world tick (step 50 ms + 3 rangers), {ticks} ticks: p50 {p50:.0f} µs, p99 {p99:.0f} µs, "
    f"mean {costs.mean() * 1e6:.0f} µs; {0.05 / costs.mean():.0f}x faster than real time; "
    f"odometer {world.odometer_m:.1f} m"
)

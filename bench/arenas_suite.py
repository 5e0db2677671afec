"""The arena suite: a bundle's policies through the robot runtime on the ``sim`` backend.

Each run takes the path ``python -m robot run`` takes: a ``robot.toml`` (default
``robot/examples/reference_sim.toml``) → ``open_bundle`` → ``compose`` (the configured policy in
a ``GreedyDecider``, a TFLite one on the runtime the probe picks) → ``open_backend`` (the ``sim``
backend: gpiozero devices on mock pins wired to a ``shared.world.World``) → ``ControlLoop`` on
the world's clock, for ``ticks`` ticks. Only ``[bundle]`` and ``[hardware.sim]`` are changed, in
the loaded config, per run. Time is simulated, so two simulated minutes take about a second.
The arenas themselves (sizes, variants, ``parse_arena``) are defined in ``shared.arena_suite``,
which the trainer's sweep ranks on too; they are importable from here as before.

Contact is read from the world after every step (a hook on the backend's clock, as the backend's
own ``ContactTally`` counts): a step is in contact when its motion was cut short
(``World.collided``, what the ``sim:`` line of ``robot run`` counts) or the body touches a wall
or obstacle at its end (``World.in_contact``: pressing, or resting against it while turning).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from robot.config import RobotConfig, SimConfig
from robot.control.clock import MonotonicClock
from robot.control.loop import ControlLoop
from robot.runtime.backends import open_backend
from robot.runtime.compose import compose, open_bundle
from shared.arena_suite import CLUTTERED, DEFAULT_ARENA, SUITE, VARIANTS, SuiteArena, parse_arena
from shared.world import World

#: Seeds no training or tuning used: training and its evaluations draw seeds below 1000 (the
#: trainer's run seeds, ``bench_learning``'s 1..3 and its 10 000+/20 000+ arenas are elsewhere).
#: These seed the ``sim`` backend's worlds (``[hardware.sim] seed``); the trainer's sweep ranks
#: on the same arenas in its Gymnasium env from other seeds (``trainer.evaluation``'s
#: ``arena_ranking_seeds``: training's seeds reach up to 1,000,000).
FIRST_SEED = 1000
#: The suite's arenas are ``shared.arena_suite``'s (one definition, also the trainer's sweep's).
Arena = SuiteArena


class ContactProbe:
    """Reads the world's contact state after each step: shares, the longest contact, minutes;
    and where the robot was (to judge the supervisor's no-progress takeovers)."""

    def __init__(self, world: World) -> None:
        """Follow ``world`` (call ``after_step`` after each of its steps)."""
        self.world = world
        #: (time_s, x_m, y_m) after each step.
        self.path: list[tuple[float, float, float]] = []
        self.steps = 0
        self.contact_steps = 0
        self.contact_s = 0.0
        self.events = 0
        self.longest_s = 0.0
        self.minutes_in_contact: set[int] = set()
        self._streak_s = 0.0
        self._last_s = world.time_s

    def after_step(self) -> None:
        """Count the step that just ended."""
        world = self.world
        start_s, self._last_s = self._last_s, world.time_s
        pose = world.pose
        self.path.append((world.time_s, pose.x_m, pose.y_m))
        self.steps += 1
        if not (world.collided or world.in_contact):
            self._streak_s = 0.0
            return
        dt_s = self._last_s - start_s
        self.events += int(self._streak_s == 0.0)
        self.contact_steps += 1
        self.contact_s += dt_s
        self._streak_s += dt_s
        self.longest_s = max(self.longest_s, self._streak_s)
        self.minutes_in_contact.add(int(start_s // 60.0))


#: A no-progress takeover after the robot moved more than this (m) over the window is a false
#: alarm: the figure that says whether the detector takes over from robots that are moving.
MOVED_M = 0.1


class TakeoverLog:
    """Wraps a supervisor's ``check``: when each takeover began, and why."""

    def __init__(self, supervisor: Any) -> None:
        self.begins: list[tuple[str, float]] = []
        self._check = supervisor.check
        supervisor.check = self

    def __call__(self, values: Any, bumper: bool | None, now_s: float) -> Any:
        takeover = self._check(values, bumper, now_s)
        if takeover is not None and takeover.begins:
            self.begins.append((takeover.reason, now_s))
        return takeover

    def moving_no_progress(self, path: list[tuple[float, float, float]], window_s: float) -> int:
        """No-progress takeovers after the robot had moved more than ``MOVED_M`` in the window."""
        false = 0
        for reason, at_s in self.begins:
            if reason != "no_progress":
                continue
            then = [p for p in path if at_s - window_s <= p[0] <= at_s]
            if then and math.dist(then[0][1:], then[-1][1:]) > MOVED_M:
                false += 1
        return false


def arena_config(
    base: RobotConfig,
    bundle: Path,
    policy: str,
    arena: Arena,
    seed: int,
    *,
    supervisor: bool = True,
) -> Any:
    """``base`` with the bundle, policy, ``[hardware.sim]`` and ``[supervisor] enabled`` of one
    run (the rest of ``[supervisor]`` as ``base`` has it)."""
    sim = base.hardware
    if not isinstance(sim, SimConfig):
        raise ValueError(f"{base.source}: expected [hardware] backend = 'sim'")
    sim = dataclasses.replace(
        sim,
        seed=seed,
        arena_m=arena.side_m,
        obstacles=arena.obstacles,
        noise_std_m=arena.noise_std_m,
        dropout_prob=arena.dropout_prob,
        motor_gain=arena.motor_gain,
    )
    chosen = dataclasses.replace(base.bundle, path=bundle, policy=policy)
    watch = dataclasses.replace(base.supervisor, enabled=supervisor)
    return dataclasses.replace(base, bundle=chosen, hardware=sim, supervisor=watch)


def run_arena(
    base: RobotConfig,
    bundle: Path,
    policy: str,
    arena: Arena,
    *,
    seed: int,
    ticks: int,
    supervisor: bool = True,
) -> dict[str, Any]:
    """One run of ``ticks`` ticks from rest (with the supervisor or not); its figures."""
    config = arena_config(base, bundle, policy, arena, seed, supervisor=supervisor)
    opened = open_bundle(config)
    composition = compose(config, opened)
    decider = composition.open_decider()
    try:
        with open_backend(config, opened, MonotonicClock()) as backend:
            hardware: Any = backend.hardware
            probe = ContactProbe(hardware.world)
            backend.clock.after_step.append(probe.after_step)  # type: ignore[attr-defined]
            watch = composition.open_supervisor()
            log = None if watch is None else TakeoverLog(watch)
            loop = ControlLoop(
                hardware,
                decider,
                opened.spec,
                config.loop,
                clock=backend.clock,
                supervisor=watch,
                label=composition.label,
            )
            summary = loop.run(max_ticks=ticks)
            world = hardware.world
            sim = (hardware.collisions, hardware.collision_steps, hardware.steps)
    finally:
        decider.close()
    simulated_s = world.time_s
    minutes = max(1, math.ceil(simulated_s / 60.0 - 1e-9))
    return {
        "seed": seed,
        "ticks": summary["ticks"],
        "simulated_s": round(simulated_s, 3),
        "distance_m": round(world.distance_travelled_m, 3),
        "steps": probe.steps,
        "contact_steps": probe.contact_steps,
        "contact_s": round(probe.contact_s, 3),
        "contact_events": probe.events,
        "longest_contact_s": round(probe.longest_s, 3),
        "minutes": minutes,
        "minutes_in_contact": len(probe.minutes_in_contact),
        "sim_collisions": sim[0],
        "sim_collision_steps": sim[1],
        "stops": summary["stops"],
        "supervisor": summary.get("supervisor"),
        "no_progress_while_moving": None
        if log is None
        else log.moving_no_progress(probe.path, config.supervisor.progress_window_s),
        "exit_reason": summary["exit_reason"],
        "policy_describe": getattr(getattr(decider, "policy", None), "describe", lambda: "")(),
    }


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One arena and policy over its seeds: the figures the bars judge."""
    minutes = sum(r["minutes"] for r in runs)
    steps = sum(r["steps"] for r in runs)
    simulated_s = sum(r["simulated_s"] for r in runs)
    stops: dict[str, dict[str, int]] = {}
    for run in runs:
        for reason, counts in run["stops"].items():
            entry = stops.setdefault(reason, {"events": 0, "ticks": 0})
            entry["events"] += counts["events"]
            entry["ticks"] += counts["ticks"]
    watched = [r["supervisor"] for r in runs if r.get("supervisor")]
    takeovers: dict[str, int] = {}
    for one in watched:
        for reason, n in one["takeovers"].items():
            takeovers[reason] = takeovers.get(reason, 0) + n
    return {
        "runs": len(runs),
        "seeds": [r["seed"] for r in runs],
        "supervisor": bool(watched),
        "takeovers": takeovers,
        "stuck": sum(one["stuck"] for one in watched),
        "shielded": sum(one["shielded"] for one in watched),
        "no_progress_while_moving": sum(r["no_progress_while_moving"] or 0 for r in runs),
        "collision_free_minutes": 1.0 - sum(r["minutes_in_contact"] for r in runs) / minutes,
        "contact_share": sum(r["contact_steps"] for r in runs) / max(steps, 1),
        "longest_contact_s": max(r["longest_contact_s"] for r in runs),
        "metres_per_min": 60.0 * sum(r["distance_m"] for r in runs) / max(simulated_s, 1e-9),
        "runs_with_contact": sum(r["contact_steps"] > 0 for r in runs),
        "contact_events": sum(r["contact_events"] for r in runs),
        "sim_collisions": sum(r["sim_collisions"] for r in runs),
        "stops": stops,
        "simulated_min": simulated_s / 60.0,
    }


__all__ = [
    "CLUTTERED",
    "DEFAULT_ARENA",
    "FIRST_SEED",
    "SUITE",
    "VARIANTS",
    "Arena",
    "ContactProbe",
    "SuiteArena",
    "aggregate",
    "parse_arena",
    "run_arena",
]

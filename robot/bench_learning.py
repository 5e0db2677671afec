"""Does on-robot learning help? The bundle's policy in a shifted world, without and with learning.

Hardware-in-the-loop: the runtime's ``ControlLoop`` drives the ``sim`` backend (gpiozero devices
on mock pins wired to ``shared.world``) on simulated time. "Reality" is the simulator shifted:
motor gain ×0.6, dead band ×2, range noise ×3 and one tick of actuation latency. The sim backend
has no latency setting, so this harness emulates it: the duties the pins hold reach the world one
world step (one tick) later, by wrapping the backend's duty hook on the world clock.

Per seed: (1) learn on the shifted world for ``learn_ticks`` (the unlearned policy runs the same
ticks on the same arena, for the collision comparison); (2) evaluate greedily, without updates,
on a fresh arena: the bundle's table in the nominal world, the bundle's table in the shifted
world, and the learned table in the shifted world. Return is the shared reward spec's reward per
tick (recovery ticks count 0) times ``episode_ticks``; collisions are the world's contacts.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from robot.config import LoopConfig, SimConfig
from robot.hardware.sim import SimHardware, WorldClock, build_world
from robot.learner import Choice, Learner, LearnerSettings
from robot.loop import ControlLoop
from robot.policy import QTablePolicy
from shared.bundle import Bundle, sha256_file
from shared.world import MOTOR_DEAD_BAND, World

RATE_HZ = 20.0


@dataclass(frozen=True)
class Shift:
    """How "reality" differs from the simulator the bundle was trained in."""

    motor_gain: float = 0.6
    dead_band: float = 2 * MOTOR_DEAD_BAND
    noise_std_m: float = 0.03  # 3 × the sim backend's default 0.01 m
    latency_ticks: int = 1


NOMINAL = Shift(motor_gain=1.0, dead_band=MOTOR_DEAD_BAND, noise_std_m=0.01, latency_ticks=0)


class _Recorder(Learner):
    """A learner that records each tick's reward; ``frozen`` makes it greedy with α = 0."""

    def __init__(self, *args: Any, frozen: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frozen = frozen
        self.rewards: list[float] = []

    def alpha_for(self, visits: int) -> float:
        """No update when frozen (α = 0), else the learner's schedule."""
        return 0.0 if self.frozen else super().alpha_for(visits)

    def step(self, raw_observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        """The learner's step, recording the reward it computed (0 on recovery ticks)."""
        choice = super().step(raw_observation, bumper, now_s)
        self.rewards.append(float(self._last.get("reward", 0.0)))
        return choice


def shifted_world(gpio: Any, seed: int, shift: Shift) -> World:
    """The sim backend's seeded world (4 m, 6 obstacles) with the motors and noise of ``shift``."""
    config = SimConfig(gpio=gpio, seed=seed, noise_std_m=shift.noise_std_m)
    world = build_world(replace(config, motor_gain=shift.motor_gain))
    # The sim config has no dead band: the drive is a frozen dataclass read at every step.
    world.drive = replace(world.drive, dead_band=shift.dead_band)
    return world


def delay_duties(clock: WorldClock, hardware: SimHardware, ticks: int) -> None:
    """Emulated latency: the world gets the duties the pins held ``ticks`` steps ago."""
    if ticks == 0:
        return
    apply_now = hardware._apply_duties
    pending: deque[tuple[float, float]] = deque([(0.0, 0.0)] * ticks)

    def apply_late() -> None:
        apply_now()
        pending.append(hardware.world._duty)
        hardware.world.set_duties(*pending.popleft())

    clock.before_step[clock.before_step.index(apply_now)] = apply_late


@dataclass
class RunResult:
    """One closed-loop run: reward per tick, collisions, the learner's summary and table."""

    rewards: np.ndarray
    collisions: int
    simulated_s: float
    distance_m: float
    learning: dict[str, Any]
    values: np.ndarray


def run(
    bundle: Bundle,
    gpio: Any,
    world: World,
    *,
    shift: Shift,
    values: np.ndarray,
    ticks: int,
    learn: bool,
    settings: LearnerSettings,
    seed: int,
) -> RunResult:
    """``ticks`` control ticks of the loop on ``world``, learning on ``values`` or frozen."""
    clock = WorldClock(world)
    hardware = SimHardware(gpio, bundle.spec.observation.names, clock)
    delay_duties(clock, hardware, shift.latency_ticks)
    sha = sha256_file(bundle.file(bundle.qtable_file))
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as state_dir:
        if not learn:
            settings = replace(settings, epsilon_start=0.0, epsilon_floor=0.0)
        settings = replace(settings, state_dir=Path(state_dir))
        learner = _Recorder(
            bundle.spec, bundle.discretizer, values, sha, settings, seed=seed, frozen=not learn
        )
        config = LoopConfig(rate_hz=RATE_HZ, max_sensor_age_s=1.0, max_consecutive_overruns=10**6)
        loop = ControlLoop(
            hardware, QTablePolicy(bundle), bundle.spec, config, clock=clock, learner=learner
        )
        try:
            summary = loop.run(max_ticks=ticks)
        finally:
            hardware.close()
    return RunResult(
        np.asarray(learner.rewards),
        hardware.collisions,
        world.time_s,
        world.distance_travelled_m,
        summary.get("learning", {}),
        learner.table.values.copy(),
    )


def bench_seed(
    bundle: Bundle,
    gpio: Any,
    seed: int,
    *,
    learn_ticks: int,
    eval_ticks: int,
    settings: LearnerSettings,
    shift: Shift = Shift(),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """One seed of the benchmark: learning and unlearned runs, then three greedy evaluations."""
    table = bundle.load_qtable().astype(np.float64)
    kw: dict[str, Any] = {"settings": settings, "seed": seed}
    progress(f"seed {seed}: unlearned, shifted")
    world = shifted_world(gpio, seed, shift)
    frozen = run(
        bundle, gpio, world, shift=shift, values=table, ticks=learn_ticks, learn=False, **kw
    )
    progress(f"seed {seed}: learning, shifted")
    world = shifted_world(gpio, seed, shift)
    learned = run(
        bundle, gpio, world, shift=shift, values=table, ticks=learn_ticks, learn=True, **kw
    )
    eval_seed = seed + 10_000
    out: dict[str, Any] = {"seed": seed, "unlearned": frozen, "learning": learned}
    for name, world_shift, values in (
        ("eval_nominal", NOMINAL, table),
        ("eval_shifted", shift, table),
        ("eval_learned", shift, learned.values),
    ):
        progress(f"seed {seed}: {name}")
        world = shifted_world(gpio, eval_seed, world_shift)
        out[name] = run(
            bundle,
            gpio,
            world,
            shift=world_shift,
            values=values,
            ticks=eval_ticks,
            learn=False,
            **kw,
        )
    return out


def per_minute(result: RunResult) -> float:
    """World collisions per simulated minute."""
    return 60.0 * result.collisions / max(result.simulated_s, 1e-9)


def report(seeds: list[dict[str, Any]], episode_ticks: int) -> dict[str, Any]:
    """Mean return per ``episode_ticks`` ticks and collision rates, across seeds, and the bar."""

    def ret(key: str) -> float:
        return float(np.mean([s[key].rewards.mean() * episode_ticks for s in seeds]))

    def coll(key: str) -> float:
        return float(np.mean([per_minute(s[key]) for s in seeds]))

    def metres(key: str) -> float:
        return float(np.mean([60.0 * s[key].distance_m / s[key].simulated_s for s in seeds]))

    nominal, shifted, learned = ret("eval_nominal"), ret("eval_shifted"), ret("eval_learned")
    lost = nominal - shifted
    recovered = (learned - shifted) / lost if lost > 0 else float("nan")
    during, unlearned = coll("learning"), coll("unlearned")
    return {
        "return_nominal": nominal,
        "return_shifted_before": shifted,
        "return_shifted_after": learned,
        "recovered_fraction": recovered,
        "collisions_per_min_eval_nominal": coll("eval_nominal"),
        "collisions_per_min_eval_before": coll("eval_shifted"),
        "collisions_per_min_eval_after": coll("eval_learned"),
        "collisions_per_min_unlearned": unlearned,
        "collisions_per_min_during_learning": during,
        "metres_per_min_eval_nominal": metres("eval_nominal"),
        "metres_per_min_eval_before": metres("eval_shifted"),
        "metres_per_min_eval_after": metres("eval_learned"),
        "rollbacks": int(sum(s["learning"].learning.get("rollbacks", 0) for s in seeds)),
        "bar_met": bool(recovered >= 0.5 and during <= unlearned),
    }


def learning_curve(rewards: list[np.ndarray], window_ticks: int, episode_ticks: int) -> np.ndarray:
    """Mean return per ``episode_ticks`` in consecutive windows, averaged over runs."""
    n = min(len(r) for r in rewards) // window_ticks
    per_run = [r[: n * window_ticks].reshape(n, window_ticks).mean(axis=1) for r in rewards]
    return np.mean(per_run, axis=0) * episode_ticks


__all__ = ["NOMINAL", "RATE_HZ", "Shift", "bench_seed", "learning_curve", "report", "run"]

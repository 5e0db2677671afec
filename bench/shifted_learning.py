"""Does on-robot learning help? The bundle's policy in a shifted world, without and with learning.

Hardware-in-the-loop: the runtime's ``ControlLoop`` drives the ``sim`` backend (gpiozero devices
on mock pins wired to ``shared.world``) on simulated time. "Reality" is the simulator shifted.
Two shifts are defined:

- ``LITERAL``: motor gain ×0.6 on both motors, dead band ×2, range noise ×3 and one
  tick of actuation latency. The reward counts the *commanded* duty as progress (the robot has no
  wheel encoders), so a uniformly weaker drive is almost invisible to it.
- ``MISMATCHED``: the same plus a left motor 40 % weaker than the right (gain 0.36 vs 0.6), as
  cheap TT gear motors often are. "Forward" becomes a curve to the left, which the reward does
  see: the robot meets walls at angles (proximity penalties, collisions).
- ``ANGLED``: the literal shift on a robot whose side rangers face 25° off straight ahead
  instead of the simulator's 45° (brackets bent or printed otherwise; the same mount circle).
  Obstacles beside the robot fall out of view, so it grazes them: the reward sees the
  collisions, and the ranges it does read are states the table can tell apart.
- ``ANGLED_ONLY``: the side rangers at 25° alone, on the simulator's motors and noise.

Also available as ``Shift`` fields (screened, not adopted): ranges that misread
(``range_scale`` × distance + ``range_offset_m``), a wider body (``radius_factor``) and a wider
ranger beam (``beam_half_deg``, ``beam_rays``).

The sim backend has no latency setting, so this harness emulates it: the duties the pins hold
reach the world one world step (one tick) later, through a hook on the world clock that runs
after the backend's own (which applies the pins' duties). Per-side gains are set on the world's
drive (a frozen dataclass, replaced). Other ranger mounts, beams and bodies rebuild the world
(same arena, pose and random stream) with ``shared.world``'s own parameters; misreading rangers
are a ``World`` subclass whose echo pulse (what the sim backend's echo pins send) says the
misread distance. Nothing in ``shared/`` or ``robot/hardware/`` is changed.

Per seed: (1) learn on the shifted world for ``learn_ticks``, in the seed's own arena throughout
or spread over ``learn_rooms`` rooms one after the other (``run_rooms``: a fresh loop per room
from rest, the learner resuming from the state directory the room before saved, as a robot put
down somewhere else and started again with the same ``--learn`` state would); the unlearned
policy runs the same ticks in the same rooms, for the collision comparison; (2) evaluate
greedily, without updates, on ``eval_arenas`` fresh arenas (other seeds, each from rest, never a
learning room): the bundle's table in the nominal world, the bundle's table in the shifted
world, and the learned table in the shifted world.
Return is the shared reward spec's reward per tick (ticks of the supervisor's recovery count 0)
times ``episode_ticks``; collisions are the world's contacts. Every run has the supervisor
(``[supervisor]``, as ``robot run`` has it): its contacts end the learner's episodes and its
recovery backs out; its shield is off in the "bare" runs.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from robot.config import LearningConfig, LoopConfig, SimConfig, SupervisorConfig
from robot.control.clock import Clock
from robot.control.decider import Choice
from robot.control.loop import ControlLoop
from robot.control.supervisor import Supervisor
from robot.hardware.sim.backend import SimHardware, WorldClock, build_world, delay_duties
from robot.learning import Learner
from robot.learning.update import QLambda
from shared.bundle import Bundle, sha256_file
from shared.world import (
    HC_SR04_BEAM_HALF_ANGLE_RAD,
    MOTOR_DEAD_BAND,
    REFERENCE_SENSOR_ANGLE_RAD,
    ROBOT_RADIUS_M,
    UltrasonicSensor,
    World,
    echo_time_s,
    turned_side_ranger,
)

RATE_HZ = 20.0
#: The simulator's reference robot: side rangers' angle, beam half-angle (degrees), rays cast.
SIDE_RANGER_DEG = math.degrees(REFERENCE_SENSOR_ANGLE_RAD)
BEAM_HALF_DEG = math.degrees(HC_SR04_BEAM_HALF_ANGLE_RAD)
BEAM_RAYS = UltrasonicSensor.rays


@dataclass(frozen=True)
class Shift:
    """How "reality" differs from the simulator the bundle was trained in."""

    name: str = "literal"
    #: Both motors' gain (the simulator's is 1).
    motor_gain: float = 0.6
    #: The left motor's gain relative to the right's (mismatched motors; 1: matched).
    left_motor_factor: float = 1.0
    dead_band: float = 2 * MOTOR_DEAD_BAND
    noise_std_m: float = 0.03  # 3 × the sim backend's default 0.01 m
    latency_ticks: int = 1
    #: Every range reads this much longer than the true distance (metres; 0: none).
    range_offset_m: float = 0.0
    #: And this factor times it (1: none); applied before the offset.
    range_scale: float = 1.0
    #: The robot body's radius relative to the simulator's ``ROBOT_RADIUS_M`` (1: the same).
    radius_factor: float = 1.0
    #: The side rangers' angle off straight ahead (degrees; the simulator's robot: 45).
    side_ranger_deg: float = SIDE_RANGER_DEG
    #: The rangers' beam half-angle (degrees; the simulator's: the datasheet's 7.5) and rays cast.
    beam_half_deg: float = BEAM_HALF_DEG
    beam_rays: int = BEAM_RAYS


LITERAL = Shift()
MISMATCHED = Shift(name="mismatched", left_motor_factor=0.6)
#: The literal shift on a robot whose side rangers face 25° off ahead instead of 45°.
ANGLED = Shift(name="angled", side_ranger_deg=25.0)
#: The side rangers alone (the simulator's motors, dead band, noise and no latency).
ANGLED_ONLY = Shift(
    name="angled_only",
    motor_gain=1.0,
    dead_band=MOTOR_DEAD_BAND,
    noise_std_m=0.01,
    latency_ticks=0,
    side_ranger_deg=25.0,
)
SHIFTS = {shift.name: shift for shift in (LITERAL, MISMATCHED, ANGLED, ANGLED_ONLY)}
#: The shift ``scripts/bench_learning`` measures by default (the bar is judged on it).
ADOPTED = ANGLED
NOMINAL = Shift(
    name="nominal", motor_gain=1.0, dead_band=MOTOR_DEAD_BAND, noise_std_m=0.01, latency_ticks=0
)


class _FrozenRule(QLambda):
    """The update rule with α = 0: updates are counted, values never move."""

    def alpha_for(self, visits: Any) -> Any:
        """No learning rate at all."""
        return 0.0


class _Recorder(Learner):
    """A learner that records each tick's reward (0 on ticks without an update: recovery)."""

    def __init__(self, *args: Any, clock: Clock, ticks: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.rewards = np.zeros(ticks)

    def _record(self) -> None:
        update = self.last_update
        tick = round(self.clock.now() * RATE_HZ)
        if update is not None and 0 <= tick < len(self.rewards):
            self.rewards[tick] = float(update.reward)

    def decide(self, observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        """The learner's choice, recording the reward its update computed."""
        choice = super().decide(observation, bumper, now_s)
        self._record()
        return choice

    def interrupted(self, observation: np.ndarray, reason: str) -> None:
        """The supervisor takes over: record the reward of the update that ends the tick."""
        super().interrupted(observation, reason)
        self._record()


class _MisreadingWorld(World):
    """A world whose rangers' echoes say ``scale × distance + offset_m`` (the true one: scale 1).

    The sim backend times each echo pulse with ``World.echo_time_s``; the measured range (the
    observation, the reward's proximity term, the learner's range collision check) is what the
    pulse says, while contacts, the bumper and the true ranges stay the world's.
    """

    def __init__(self, *args: Any, scale: float, offset_m: float, **kwargs: Any) -> None:
        self.range_scale = scale
        self.range_offset_m = offset_m
        super().__init__(*args, **kwargs)

    def echo_time_s(self, index: int) -> float | None:
        """The echo pulse (s) for the misread range of sensor ``index``; ``None``: no echo."""
        distance = self._ranges_m[index]
        if distance is None:
            return None
        misread_m = distance * self.range_scale + self.range_offset_m
        return echo_time_s(max(misread_m, self.sensors[index].min_range_m))


def shifted_world(gpio: Any, seed: int, shift: Shift) -> World:
    """The sim backend's seeded world (4 m, 6 obstacles) with the robot of ``shift``."""
    config = SimConfig(gpio=gpio, seed=seed, noise_std_m=shift.noise_std_m)
    world = build_world(replace(config, motor_gain=shift.motor_gain))
    sensors = world.sensors
    if shift.side_ranger_deg != SIDE_RANGER_DEG:
        sensors = tuple(turned_side_ranger(sensor, shift.side_ranger_deg) for sensor in sensors)
    if shift.beam_half_deg != BEAM_HALF_DEG or shift.beam_rays != BEAM_RAYS:
        beam = math.radians(shift.beam_half_deg)
        sensors = tuple(
            replace(sensor, beam_half_angle_rad=beam, rays=shift.beam_rays) for sensor in sensors
        )
    if (
        shift.range_offset_m
        or shift.range_scale != 1.0
        or shift.radius_factor != 1.0
        or sensors is not world.sensors
    ):
        # The same arena, start pose, drive and random stream; other rangers or another body
        # (World's own parameters), rangers that misread (a subclass, in this harness).
        world = _MisreadingWorld(
            world.arena,
            world.rng,
            world.pose,
            drive=world.drive,
            sensors=sensors,
            robot_radius_m=ROBOT_RADIUS_M * shift.radius_factor,
            scale=shift.range_scale,
            offset_m=shift.range_offset_m,
        )
    # The sim config has no dead band or per-side gain: the drive is a frozen dataclass read at
    # every step.
    world.drive = replace(
        world.drive,
        dead_band=shift.dead_band,
        left_gain=shift.motor_gain * shift.left_motor_factor,
        right_gain=shift.motor_gain,
    )
    return world


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
    learning: LearningConfig,
    seed: int,
    state_dir: Path | None = None,
    supervisor: SupervisorConfig | None = None,
) -> RunResult:
    """``ticks`` control ticks of the loop on ``world``, learning on ``values`` or frozen.

    Frozen: greedy (ε = 0) with α = 0, so the values stay ``values``.

    ``state_dir``: the learner's state directory, kept (a later run there resumes from its
    newest snapshot instead of ``values``, as ``robot run --learn`` does); default a temporary
    one. ``supervisor``: the loop's ``[supervisor]`` (default: its defaults).
    """
    supervisor = supervisor if supervisor is not None else SupervisorConfig()
    clock = WorldClock(world)
    hardware = SimHardware(gpio, bundle.spec.observation.names, clock)
    delay_duties(clock, shift.latency_ticks)
    sha = sha256_file(bundle.file(bundle.qtable_file))
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as scratch:
        if not learn:
            learning = replace(learning, epsilon_start=0.0, epsilon_floor=0.0)
        learning = replace(learning, state_dir=state_dir or Path(scratch))
        rule = None if learn else _FrozenRule(learning)
        learner = _Recorder(
            bundle.spec,
            bundle.discretizer,
            values,
            sha,
            learning,
            supervisor=supervisor,
            seed=seed,
            rule=rule,
            clock=clock,
            ticks=ticks,
        )
        # Simulated time passes only while the loop waits, so no tick overruns; the limit is moot.
        config = LoopConfig(rate_hz=RATE_HZ, max_sensor_age_s=1.0, max_consecutive_overruns=1000)
        watch = Supervisor.for_spec(supervisor, bundle.spec, RATE_HZ)
        loop = ControlLoop(hardware, learner, bundle.spec, config, clock=clock, supervisor=watch)
        try:
            summary = loop.run(max_ticks=ticks)
        finally:
            learner.close()  # the exit save (a later room resumes from it)
            hardware.close()
    return RunResult(
        learner.rewards[: loop.stats.ticks],
        hardware.collisions,
        world.time_s,
        world.distance_travelled_m,
        summary.get("learning", {}),
        learner.table.values.copy(),
    )


def merge(results: list[RunResult]) -> RunResult:
    """Several runs as one: rewards concatenated, collisions, time and distance summed."""
    return RunResult(
        np.concatenate([r.rewards for r in results]),
        sum(r.collisions for r in results),
        sum(r.simulated_s for r in results),
        sum(r.distance_m for r in results),
        results[-1].learning,
        results[-1].values,
    )


def eval_seeds(seed: int, arenas: int) -> list[int]:
    """The fresh arenas' seeds of a benchmark seed (never a learning seed)."""
    return [10_000 + 1_000 * seed + k for k in range(arenas)]


def room_seeds(seed: int, rooms: int) -> list[int]:
    """The rooms a benchmark seed learns in: the seed's own arena alone, or ``rooms`` others."""
    return [seed] if rooms == 1 else [20_000 + 1_000 * seed + k for k in range(rooms)]


def settings_record(
    learning: LearningConfig, supervisor: SupervisorConfig | None = None
) -> dict[str, Any]:
    """The learner's and the supervisor's settings as JSON (steps as ``[left, right, s]``)."""
    record: dict[str, Any] = {
        f.name: getattr(learning, f.name)
        for f in fields(learning)
        if f.name not in {"enabled", "state_dir"}
    }
    supervisor = supervisor if supervisor is not None else SupervisorConfig()
    watch = {f.name: getattr(supervisor, f.name) for f in fields(supervisor)}
    watch["recovery"] = [[float(v) for v in step] for step in supervisor.recovery]
    record["supervisor"] = watch
    return record


def _numeric(section: Any, prefix: str = "") -> dict[str, type]:
    return {
        prefix + f.name: type(getattr(section, f.name))
        for f in fields(section)
        if type(getattr(section, f.name)) in (int, float)
    }


#: The keys ``--set`` may change: the numeric ``[learning]`` keys, and ``supervisor.KEY`` for the
#: numeric ``[supervisor]`` ones (``setting`` keeps counts ints).
NUMERIC_SETTINGS = _numeric(LearningConfig()) | _numeric(SupervisorConfig(), "supervisor.")


def setting(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` for a numeric ``[learning]`` key or ``supervisor.KEY`` (argparse type)."""
    name, _, value = text.partition("=")
    if name not in NUMERIC_SETTINGS or not value:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with NAME one of {sorted(NUMERIC_SETTINGS)}, found {text!r}"
        )
    number = float(value)
    return name, int(number) if number.is_integer() and NUMERIC_SETTINGS[name] is int else number


def tuned(
    settings: list[tuple[str, float]], learning: LearningConfig
) -> tuple[LearningConfig, SupervisorConfig]:
    """``learning`` and the default ``[supervisor]`` with ``--set``'s settings applied."""
    ours = {k: v for k, v in settings if not k.startswith("supervisor.")}
    theirs = {k.removeprefix("supervisor."): v for k, v in settings if k.startswith("supervisor.")}
    return replace(learning, **ours), replace(SupervisorConfig(), **theirs)


def run_rooms(
    bundle: Bundle,
    gpio: Any,
    arena_seeds: list[int],
    *,
    shift: Shift,
    values: np.ndarray,
    ticks_per_room: int,
    learn: bool,
    learning: LearningConfig,
    seed: int,
    supervisor: SupervisorConfig | None = None,
) -> RunResult:
    """One robot in several rooms, one after the other, its learning carried between them.

    Each room is a fresh loop from rest (the robot put down somewhere else and started again),
    whose learner resumes from the snapshot the previous room saved at its exit, in one state
    directory: the path ``robot run --learn`` takes with the service's state directory.
    """
    with tempfile.TemporaryDirectory(prefix="bench-learning-rooms-") as state_dir:
        results = [
            run(
                bundle,
                gpio,
                shifted_world(gpio, arena_seed, shift),
                shift=shift,
                values=values,
                ticks=ticks_per_room,
                learn=learn,
                learning=learning,
                seed=seed if k == 0 else seed * 1_000 + k,
                state_dir=Path(state_dir),
                supervisor=supervisor,
            )
            for k, arena_seed in enumerate(arena_seeds)
        ]
    return merge(results)


def bench_seed(
    bundle: Bundle,
    gpio: Any,
    seed: int,
    *,
    learn_ticks: int,
    eval_ticks: int,
    learning: LearningConfig,
    shift: Shift = LITERAL,
    eval_arenas: int = 1,
    learn_rooms: int = 1,
    shift_trained: np.ndarray | None = None,
    progress: Callable[[str], None] = lambda _: None,
    supervisor: SupervisorConfig | None = None,
) -> dict[str, Any]:
    """One seed: learning and unlearned runs, then three greedy evaluations on fresh arenas.

    The ``learn_ticks`` are spent in ``learn_rooms`` rooms (``run_rooms``; 1: the seed's own
    arena throughout). ``eval_ticks`` is per arena; each evaluation runs on the same
    ``eval_arenas`` arenas, none of them a learning room. ``shift_trained``: a Q-table on the
    bundle's grid trained for the shifted robot (in a simulator with the shift), evaluated on
    the shifted robot on the same arenas too (``eval_shift_trained``): what a table on this grid
    can return there, for comparison with what learning reached. ``supervisor``: the loop's
    ``[supervisor]`` (default: its defaults).
    """
    supervisor = supervisor if supervisor is not None else SupervisorConfig()
    table = bundle.load_qtable().astype(np.float64)
    rooms = room_seeds(seed, learn_rooms)
    per_room = learn_ticks // len(rooms)
    # The "bare" runs have the supervisor without its shield (its contacts and recovery only).
    # With shield_distance_m > 0 the bundle's table is also run under the shield without
    # learning (what the shield does alone), and the learned table under it too (as ``robot
    # run`` drives it, ``qtable-learned``).
    bare = replace(supervisor, shield_distance_m=0.0)
    shielded = supervisor.shield_distance_m > 0.0
    out: dict[str, Any] = {"seed": seed}
    runs = [
        ("unlearned", False, bare),
        ("learning", True, supervisor),
        *([("unlearned_shielded", False, supervisor)] if shielded else []),
    ]
    for name, learn, watch in runs:
        progress(f"{shift.name} seed {seed}: {name}, shifted, {len(rooms)} room(s)")
        out[name] = run_rooms(
            bundle,
            gpio,
            rooms,
            shift=shift,
            values=table,
            ticks_per_room=per_room,
            learn=learn,
            learning=learning,
            seed=seed,
            supervisor=watch,
        )
    evaluations = [
        ("eval_nominal", NOMINAL, table, bare),
        ("eval_shifted", shift, table, bare),
        ("eval_learned", shift, out["learning"].values, bare),
        *(
            [
                ("eval_shielded", shift, table, supervisor),
                ("eval_learned_shielded", shift, out["learning"].values, supervisor),
            ]
            if shielded
            else []
        ),
    ]
    if shift_trained is not None:
        trained = np.asarray(shift_trained, np.float64)
        evaluations.append(("eval_shift_trained", shift, trained, bare))
    for name, world_shift, values, watch in evaluations:
        progress(f"{shift.name} seed {seed}: {name} on {eval_arenas} fresh arena(s)")
        # Frozen (ε = 0, α = 0): each arena starts from rest with ``values``, whatever the rooms
        # before it, so these are independent greedy runs.
        out[name] = run_rooms(
            bundle,
            gpio,
            eval_seeds(seed, eval_arenas),
            shift=world_shift,
            values=values,
            ticks_per_room=eval_ticks,
            learn=False,
            learning=learning,
            seed=seed,
            supervisor=watch,
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
    recovered = recovered_share(learned, shifted, lost)
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
        "return_during_learning": ret("learning"),
        "return_unlearned_same_ticks": ret("unlearned"),
        "rollbacks": int(sum(s["learning"].learning.get("rollbacks", 0) for s in seeds)),
        "bar_met": bool(recovered >= 0.5 and during <= unlearned),
        **_comparison_figures(seeds, ret, coll, lost, shifted),
        "per_seed": [_seed_figures(s, episode_ticks) for s in seeds],
    }


def recovered_share(value: float, shifted: float, lost: float) -> float:
    """The share of the return lost to the shift that ``value`` wins back (nan: none lost)."""
    return (value - shifted) / lost if lost > 0 else float("nan")


def _comparison_figures(
    seeds: list[dict[str, Any]],
    ret: Callable[[str], float],
    coll: Callable[[str], float],
    lost: float,
    shifted: float,
) -> dict[str, Any]:
    """The runs beside the bar's, when every seed has them: the shift-trained table's return,
    collisions and share of the loss; with the greedy shield, the bundle's table under it without
    learning (the shield alone) and the learned table under it (as the learner drives it)."""
    out: dict[str, Any] = {}
    if all("eval_shift_trained" in s for s in seeds):
        trained = ret("eval_shift_trained")
        out |= {
            "return_shift_trained": trained,
            "recovered_fraction_shift_trained": recovered_share(trained, shifted, lost),
            "collisions_per_min_eval_shift_trained": coll("eval_shift_trained"),
        }
    if all("eval_shielded" in s for s in seeds):
        alone, learned = ret("eval_shielded"), ret("eval_learned_shielded")
        out |= {
            "return_shield_alone": alone,
            "recovered_fraction_shield_alone": recovered_share(alone, shifted, lost),
            "return_learned_shielded": learned,
            "recovered_fraction_learned_shielded": recovered_share(learned, shifted, lost),
            "collisions_per_min_eval_shield_alone": coll("eval_shielded"),
            "collisions_per_min_eval_learned_shielded": coll("eval_learned_shielded"),
            "collisions_per_min_unlearned_shielded": coll("unlearned_shielded"),
            "return_unlearned_shielded_same_ticks": ret("unlearned_shielded"),
        }
    return out


def _seed_figures(seed: dict[str, Any], episode_ticks: int) -> dict[str, Any]:
    """One seed's returns, collisions and recovered fraction (the spread behind the means)."""

    def ret(key: str) -> float:
        return round(float(seed[key].rewards.mean() * episode_ticks), 1)

    nominal, shifted, learned = ret("eval_nominal"), ret("eval_shifted"), ret("eval_learned")
    lost = nominal - shifted
    return {
        "seed": seed["seed"],
        "return_nominal": nominal,
        "return_shifted_before": shifted,
        "return_shifted_after": learned,
        "recovered_fraction": round((learned - shifted) / lost, 2) if lost > 0 else None,
        "collisions_unlearned": seed["unlearned"].collisions,
        "collisions_during_learning": seed["learning"].collisions,
        "collisions_eval_before": seed["eval_shifted"].collisions,
        "collisions_eval_after": seed["eval_learned"].collisions,
        **(
            {
                "return_shift_trained": ret("eval_shift_trained"),
                "collisions_eval_shift_trained": seed["eval_shift_trained"].collisions,
            }
            if "eval_shift_trained" in seed
            else {}
        ),
        **(
            {
                "collisions_unlearned_shielded": seed["unlearned_shielded"].collisions,
                "return_shield_alone": ret("eval_shielded"),
                "return_learned_shielded": ret("eval_learned_shielded"),
                "collisions_eval_shield_alone": seed["eval_shielded"].collisions,
                "collisions_eval_learned_shielded": seed["eval_learned_shielded"].collisions,
            }
            if "eval_shielded" in seed
            else {}
        ),
        "learner": seed["learning"].learning,
    }


def learning_curve(rewards: list[np.ndarray], window_ticks: int, episode_ticks: int) -> np.ndarray:
    """Mean return per ``episode_ticks`` in consecutive windows, averaged over runs."""
    n = min(len(r) for r in rewards) // window_ticks
    per_run = [r[: n * window_ticks].reshape(n, window_ticks).mean(axis=1) for r in rewards]
    return np.mean(per_run, axis=0) * episode_ticks


__all__ = [
    "ADOPTED",
    "ANGLED",
    "ANGLED_ONLY",
    "LITERAL",
    "MISMATCHED",
    "NOMINAL",
    "RATE_HZ",
    "SHIFTS",
    "Shift",
    "bench_seed",
    "learning_curve",
    "report",
    "room_seeds",
    "run",
    "run_rooms",
    "setting",
    "settings_record",
]

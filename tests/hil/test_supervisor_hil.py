"""The supervisor on the ``sim`` backend: gpiozero mock pins wired to the simulated world, the
real ``ControlLoop``, the fixture bundle's real Q-table policy, simulated time.

One path per test: bumper contact, range contact, no progress, oscillation, stuck (stop held
and reported), and a clean run it never interrupts. A policy that always drives forward is the
bundle's own ``QTablePolicy`` on a table whose best action is ``forward`` everywhere; the one
stand-in is ``_Dithering``, a decider that alternates spin left and spin right (no table can
choose that in one state), playing a policy that oscillates.

Pi-only: numpy, gpiozero and the bundle's Q-table (no TensorFlow, no Gymnasium).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot.cli import main
from robot.cli.exit_codes import EXIT_STUCK
from robot.config import LoopConfig, SupervisorConfig, TelemetryConfig, load_config
from robot.control.decider import Choice, GreedyDecider, motor_commands
from robot.control.loop import ControlLoop
from robot.control.supervisor import CONTACT, NO_PROGRESS, OSCILLATION, STUCK, Supervisor
from robot.control.telemetry import TelemetryWriter
from robot.hardware.sim import backend as sim_backend
from robot.hardware.sim.backend import SimHardware, WorldClock
from robot.inference.policy import Decision, QTablePolicy, load_policy
from shared.bundle import Bundle, read_bundle
from shared.world import Arena, DriveParams, Pose, World, reference_sensors

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
SIM_EXAMPLE = ROOT / "robot" / "examples" / "reference_sim.toml"
RATE_HZ = 20.0
TICK_S = 1.0 / RATE_HZ
#: The supervisor's defaults, its shield off: these tests drive into things on purpose.
NO_SHIELD = SupervisorConfig(shield_distance_m=0.0)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return read_bundle(BUNDLE)


def forward_always(bundle: Bundle) -> GreedyDecider:
    """The bundle's Q-table policy on a table whose best action is ``forward`` in every state."""
    values = np.zeros((bundle.discretizer.n_states, len(bundle.spec.actions)))
    values[:, bundle.spec.actions.index("forward")] = 1.0
    return GreedyDecider.for_spec(QTablePolicy(bundle, values), bundle.spec)


class _Dithering(GreedyDecider):
    """Spin left, spin right, spin left, …: a stand-in for a policy that oscillates in place."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(load_policy(bundle, "qtable"), motor_commands(bundle.spec))
        self._spins = [bundle.spec.actions.index(n) for n in ("spin_left", "spin_right")]
        self._n = 0

    def decide(self, observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        action = self._spins[self._n % 2]
        self._n += 1
        return Choice(self.commands[action], Decision(action, np.zeros(len(self.commands))))


def world(
    side_m: float, pose: Pose, *, discs: Any = None, stalled: bool = False, seed: int = 0
) -> World:
    """An empty square arena (or with ``discs``), the reference robot at ``pose``."""
    arena = Arena(side_m, side_m, discs=np.zeros((0, 3)) if discs is None else np.array(discs))
    drive = DriveParams(left_gain=0.0, right_gain=0.0) if stalled else DriveParams()
    sensors = reference_sensors(noise_std_m=0.005)
    return World(arena, np.random.default_rng(seed), pose, drive=drive, sensors=sensors)


class _Trace:
    """Per world step: the duties the pins hold and whether the robot touches something."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.duties: list[tuple[float, float]] = []
        self.contact: list[bool] = []

    def __call__(self) -> None:
        self.duties.append(self.world.duties)
        self.contact.append(self.world.in_contact)

    def longest_contact_s(self, step_s: float) -> float:
        longest = run = 0
        for touching in self.contact:
            run = run + 1 if touching else 0
            longest = max(longest, run)
        return longest * step_s


def run(
    bundle: Bundle,
    the_world: World,
    decider: GreedyDecider,
    ticks: int,
    *,
    supervisor: SupervisorConfig | None = NO_SHIELD,
    bumper: bool = True,
    telemetry: Path | None = None,
) -> tuple[dict[str, Any], _Trace, float]:
    """``ticks`` ticks of the loop on ``the_world``; the summary, the trace, one step's seconds."""
    gpio = load_config(SIM_EXAMPLE).hardware.gpio
    if not bumper:
        gpio = dataclasses.replace(gpio, bumper=None)
    clock = WorldClock(the_world)
    trace = _Trace(the_world)
    clock.after_step.append(trace)
    hardware = SimHardware(gpio, bundle.spec.observation.names, clock)
    watch = None if supervisor is None else Supervisor.for_spec(supervisor, bundle.spec, RATE_HZ)
    writer = None if telemetry is None else TelemetryWriter(TelemetryConfig(True, telemetry))
    loop = ControlLoop(
        hardware,
        decider,
        bundle.spec,
        LoopConfig(rate_hz=RATE_HZ, max_consecutive_overruns=1000),
        clock=clock,
        supervisor=watch,
        telemetry=writer,
    )
    try:
        summary = loop.run(max_ticks=ticks)
    finally:
        hardware.close()
        if writer is not None:
            writer.close()
    step_s = the_world.time_s / max(len(trace.contact), 1)
    return summary, trace, step_s


FACING_A_WALL = Pose(1.0, 0.7, math.pi)  # 0.6 m in front of the wall at x = 0


@pytest.mark.parametrize("bumper", [True, False], ids=["bumper", "range"])
def test_a_contact_is_backed_out_of_within_a_second(bundle: Bundle, bumper: bool) -> None:
    ticks = 300  # 15 s: several walls
    off, pushed, step_s = run(
        bundle, world(2.0, FACING_A_WALL), forward_always(bundle), ticks, supervisor=None
    )
    # Without the supervisor the policy pushes into the wall until the end.
    assert pushed.longest_contact_s(step_s) > 10.0 and "supervisor" not in off
    summary, trace, step_s = run(
        bundle, world(2.0, FACING_A_WALL), forward_always(bundle), ticks, bumper=bumper
    )
    assert summary["supervisor"]["takeovers"][CONTACT] >= 1
    assert 0.0 < trace.longest_contact_s(step_s) <= 1.0
    # An always-forward policy meets a wall every few seconds; it leaves each within a second.
    assert sum(trace.contact) / len(trace.contact) < 0.15
    assert any(left < 0 and right < 0 for left, right in trace.duties)  # backed off
    assert summary["decisions"] < summary["ticks"]  # the recovery's ticks are not decisions


def test_each_tick_record_says_whether_the_supervisor_drove_it(
    bundle: Bundle, tmp_path: Path
) -> None:
    path = tmp_path / "ticks.jsonl"
    the_world = world(2.0, FACING_A_WALL)
    settings = SupervisorConfig(shield_distance_m=0.3)
    summary, _, _ = run(
        bundle, the_world, forward_always(bundle), 200, supervisor=settings, telemetry=path
    )
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 200 and all("supervisor" in r for r in records)
    taken = [r for r in records if r["supervisor"] is not None]
    assert {r["supervisor"] for r in taken} <= {CONTACT, NO_PROGRESS, OSCILLATION, STUCK}
    assert all(r["action"] is None for r in taken)  # the decider was not asked
    free = [r for r in records if r["supervisor"] is None and r["stopped"] is None]
    assert free and all(r["action"] is not None for r in free)
    shielded = [r for r in records if r.get("shielded")]
    assert len(shielded) == summary["supervisor"]["shielded"] > 0
    assert all(r["action"] != bundle.spec.actions.index("forward") for r in shielded)


def test_no_progress_is_recovered_from_then_stuck_is_held_and_reported(
    bundle: Bundle, caplog: pytest.LogCaptureFixture
) -> None:
    # Stalled wheels: the robot in a 1.5 m arena, every ranger echoing, nothing ever changes.
    stalled = world(1.5, Pose(0.75, 0.75, 0.3), stalled=True)
    settings = SupervisorConfig(shield_distance_m=0.0, settle_s=5.0, on_stuck="hold")
    with caplog.at_level(logging.WARNING, logger="robot.control.loop"):
        summary, trace, _ = run(bundle, stalled, forward_always(bundle), 800, supervisor=settings)
    supervised = summary["supervisor"]
    # The first recovery, then three that failed in a row (max_failed_recoveries).
    assert supervised["takeovers"][NO_PROGRESS] == 4 and supervised["failed_recoveries"] == 3
    assert supervised["stuck"] == 1
    stops = summary["stops"][STUCK]
    assert stops["events"] == 1 and stops["ticks"] > 300
    # Four recoveries (3 s of no progress, then 1.2 s of manoeuvre each), then held: the pins
    # drive nothing from the stuck stop on.
    held = stops["ticks"] * len(trace.duties) // summary["ticks"]  # world steps held
    assert all(d == (0.0, 0.0) for d in trace.duties[-(held - 5) :])
    assert any(d != (0.0, 0.0) for d in trace.duties[: -(held + 5)])
    messages = [r.getMessage() for r in caplog.records]
    assert sum("supervisor: no_progress" in m for m in messages) == 4
    assert any(m.startswith("motors stopped: stuck: 3 recoveries failed") for m in messages)


def test_an_oscillating_policy_is_taken_over(bundle: Bundle) -> None:
    open_floor = world(4.0, Pose(2.0, 2.0, 0.0))
    settings = SupervisorConfig(shield_distance_m=0.0, on_stuck="retry", stuck_retry_s=5.0)
    summary, trace, _ = run(bundle, open_floor, _Dithering(bundle), 400, supervisor=settings)
    supervised = summary["supervisor"]
    assert supervised["takeovers"][OSCILLATION] >= 3
    assert supervised["stuck"] >= 1  # it dithers again at once after every recovery
    # Its recoveries turn on the spot, never back off blind: nothing was touched in front.
    assert not any(left + right < 0 for left, right in trace.duties)
    assert not any(trace.contact)
    # Retried after 5 s: the dithering policy drove again after the stuck stop.
    assert summary["stops"][STUCK]["ticks"] < 400 - 100


def test_a_clean_run_is_never_interrupted(bundle: Bundle) -> None:
    """The fixture bundle roams a 4 m arena with a few discs without touching anything: the
    supervisor (its shield off) never takes over, and every duty is the policy's own."""
    discs = [[1.0, 3.0, 0.15], [3.0, 1.0, 0.15], [3.0, 3.2, 0.1]]
    policy = load_policy(bundle, "qtable")
    start = Pose(2.0, 2.0, 0.5)
    free, free_trace, _ = run(
        bundle,
        world(4.0, start, discs=discs),
        GreedyDecider.for_spec(policy, bundle.spec),
        1200,
        supervisor=None,
    )
    assert not any(free_trace.contact), "the unsupervised run must be clean for this test"
    summary, trace, _ = run(
        bundle, world(4.0, start, discs=discs), GreedyDecider.for_spec(policy, bundle.spec), 1200
    )
    assert summary["supervisor"]["takeovers"] == {CONTACT: 0, NO_PROGRESS: 0, OSCILLATION: 0}
    assert summary["supervisor"]["stuck"] == 0 and STUCK not in summary["stops"]
    assert trace.duties == free_trace.duties
    assert summary["decisions"] == summary["ticks"] == free["decisions"]


def test_robot_run_exits_3_when_stuck_with_on_stuck_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``robot run`` end to end: the sim backend's world has stalled wheels, the config says
    ``on_stuck = "exit"``: the run ends by itself, exit 3, the summary says why."""
    config = tmp_path / "robot.toml"
    text = (
        SIM_EXAMPLE.read_text()
        .replace('path = "../../tests/fixtures/obstacle_bundle"', f'path = "{BUNDLE}"')
        .replace('policy = "tflite"', 'policy = "qtable"')
    )
    for old, new in (
        ('on_stuck = "retry"', 'on_stuck = "exit"'),
        ("shield_distance_m = 0.2 ", "shield_distance_m = 0 "),
        ("settle_s = 3.0 ", "settle_s = 5.0 "),
    ):
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)
    stalled = world(1.5, Pose(0.75, 0.75, 0.3), stalled=True)
    monkeypatch.setattr(sim_backend, "build_world", lambda _config: stalled)
    monkeypatch.setenv("SIM2PI_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "summary.json"
    args = ["run", "--config", str(config), "--max-ticks", "5000", "--summary-json", str(out)]
    with caplog.at_level(logging.INFO, logger="robot"):
        code = main(args)
    assert code == EXIT_STUCK == 3
    summary = json.loads(out.read_text())
    assert summary["exit_reason"] == STUCK and summary["ticks"] < 5000
    assert summary["supervisor"]["stuck"] == 1
    assert summary["stops"][STUCK]["events"] == 1
    assert any("supervisor: took over for contact" in r.getMessage() for r in caplog.records)

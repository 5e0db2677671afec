"""The learner in the control loop (gpio backend on gpiozero's MockFactory, simulated clock)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from robot.cli.bench import simulated_gpio
from robot.config import LearningConfig, LoopConfig, SupervisorConfig, TelemetryConfig
from robot.control.clock import SimulatedClock
from robot.control.loop import ControlLoop, Replacement
from robot.control.supervisor import Supervisor
from robot.control.telemetry import TelemetryWriter
from robot.hardware.gpio import GpioHardware
from robot.inference.policy import QTablePolicy
from robot.learning import Learner
from robot.learning.update import QLambda
from shared.bundle import Bundle
from shared.qtable import load_latest

FAST = LoopConfig(rate_hz=100.0, max_sensor_age_s=1.0, max_consecutive_overruns=1000)


def _run_recorded(
    bundle: Bundle,
    hardware: GpioHardware,
    clock: SimulatedClock,
    learner: Learner,
    path: Path,
    *,
    ticks: int,
) -> dict:
    """Run the loop with ``learner`` deciding, every tick recorded at ``path``; its summary."""
    telemetry = TelemetryWriter(TelemetryConfig(enabled=True, path=path))
    try:
        supervisor = Supervisor.for_spec(SupervisorConfig(), bundle.spec, FAST.rate_hz)
        loop = ControlLoop(
            hardware,
            learner,
            bundle.spec,
            FAST,
            clock=clock,
            telemetry=telemetry,
            supervisor=supervisor,
        )
        return loop.run(max_ticks=ticks)
    finally:
        telemetry.close()  # opened here: the loop only borrows it


def test_loop_drives_the_learners_choice_and_closing_it_saves(
    bundle: Bundle, tmp_path: Path
) -> None:
    clock = SimulatedClock(1000.0)
    channels = bundle.spec.observation.names
    factory, config, _ = simulated_gpio(channels, (1.5, 1.5, 1.5))
    hardware = GpioHardware(config, channels, clock=clock.now, pin_factory=factory)
    try:
        deadline = time.monotonic() + 3.0
        while not all(np.isfinite(hardware.snapshot().values)):
            assert time.monotonic() < deadline, "the mock rangers never echoed"
            time.sleep(0.01)
        settings = LearningConfig(state_dir=tmp_path / "learning", save_every=20, epsilon_start=1.0)
        learner = Learner.from_bundle(bundle, settings, seed=3)
        summary = _run_recorded(
            bundle, hardware, clock, learner, tmp_path / "ticks.jsonl", ticks=50
        )
    finally:
        hardware.close()
        factory.reset()
    learning = summary["learning"]
    assert learning["updates"] == 49 and learning["explored"] >= 40
    # The loop only borrows the learner: the last save is the one at 40 updates until its
    # owner closes it (``robot run`` does at every exit).
    assert load_latest(tmp_path / "learning").qtable.meta["updates"] == 40
    learner.close()
    saved = load_latest(tmp_path / "learning").qtable
    assert saved.meta["updates"] == 49  # the closing save, after the ones at 20 and 40
    records = [json.loads(line) for line in (tmp_path / "ticks.jsonl").read_text().splitlines()]
    assert len(records) == 50 and all("epsilon" in r for r in records)
    assert "td_error" in records[-1] and "reward_forward_progress" in records[-1]
    assert len({r["action"] for r in records}) > 1  # exploration, not the greedy policy alone
    # The summary's run totals agree with the tick records (rounded to 6 decimals there).
    updated = [r for r in records if "td_error" in r]
    assert learning["run_updates"] == len(updated) == 49
    assert learning["run_reward"] == pytest.approx(sum(r["reward"] for r in updated), abs=1e-4)
    assert learning["run_mean_abs_td_error"] == pytest.approx(
        np.mean([abs(r["td_error"]) for r in updated]), abs=1e-5
    )
    terms = learning["run_reward_terms"]
    assert set(terms) == {t.name for t in bundle.spec.reward.terms}
    for name, total in terms.items():
        assert total == pytest.approx(sum(r[f"reward_{name}"] for r in updated), abs=1e-4)


class _Greedy(QLambda):
    """The update rule with α = 0: the learner's values stay the ones it started from."""

    def alpha_for(self, visits: int) -> float:
        return 0.0


def test_while_learning_the_tick_records_hold_the_learners_action_and_q_values(
    bundle: Bundle, tmp_path: Path
) -> None:
    """The learner's table decides, not the policy's: the records show what was acted on."""
    clock = SimulatedClock(1000.0)
    factory, hardware = _sim_hardware(bundle, clock)
    try:
        settings = LearningConfig(
            state_dir=tmp_path / "learning", epsilon_start=0.0, epsilon_floor=0.0
        )
        # The learner starts from another table than the policy's: the negated one, whose
        # greedy action differs wherever the bundle's table has a single best action.
        negated = -bundle.load_qtable()
        learner = Learner(
            bundle.spec,
            bundle.discretizer,
            negated,
            "0" * 64,
            settings,
            seed=1,
            rule=_Greedy(settings),
        )
        _run_recorded(bundle, hardware, clock, learner, tmp_path / "ticks.jsonl", ticks=30)
    finally:
        hardware.close()
        factory.reset()
    records = [json.loads(line) for line in (tmp_path / "ticks.jsonl").read_text().splitlines()]
    learned = [r for r in records if r["supervisor"] is None]
    assert len(learned) == 30
    policy = QTablePolicy(bundle)
    for record in learned:
        state = bundle.discretizer.index(np.asarray(record["obs"]))
        assert record["action"] == int(np.argmax(record["q"]))  # greedy on the learner's values
        assert policy.decide(np.asarray(record["obs"])).action_index != record["action"]
        assert record["q"] == pytest.approx(negated[state], abs=1e-5)  # the state it chose in


def _sim_hardware(bundle: Bundle, clock: SimulatedClock):
    channels = bundle.spec.observation.names
    factory, config, _ = simulated_gpio(channels, (1.5, 1.5, 1.5))
    hardware = GpioHardware(config, channels, clock=clock.now, pin_factory=factory)
    deadline = time.monotonic() + 3.0
    while not all(np.isfinite(hardware.snapshot().values)):
        assert time.monotonic() < deadline, "the mock rangers never echoed"
        time.sleep(0.01)
    return factory, hardware


def test_a_reload_switches_to_the_next_learner_at_a_tick_boundary(
    bundle: Bundle, tmp_path: Path
) -> None:
    clock = SimulatedClock(1000.0)
    factory, hardware = _sim_hardware(bundle, clock)
    first = Learner.from_bundle(bundle, LearningConfig(state_dir=tmp_path / "a"), seed=1)

    def close_first_then_open() -> Learner:  # as robot.runtime.reload.next_decider does
        first.close()
        return Learner.from_bundle(bundle, LearningConfig(state_dir=tmp_path / "b"), seed=2)

    try:
        loop = ControlLoop(hardware, first, bundle.spec, FAST, clock=clock)
        loop.run(max_ticks=10)
        loop.stop_requested = None
        loop.replace(Replacement(bundle.spec, FAST, None, "b", close_first_then_open))
        summary = loop.run(max_ticks=25)
    finally:
        hardware.close()
        factory.reset()
    second = loop.decider
    assert isinstance(second, Learner) and second is not first and loop.label == "b"
    # Opened on the loop's thread between two ticks, right after the first saved its 9 updates.
    assert load_latest(tmp_path / "a").qtable.meta["updates"] == first.stats.updates == 9
    assert summary["learning"]["updates"] == second.stats.updates == 14  # ticks 10..24
    second.close()  # its owner's close at exit
    assert load_latest(tmp_path / "b").qtable.meta["updates"] == 14


def test_a_learner_that_cannot_open_refuses_the_whole_reload(
    bundle: Bundle, tmp_path: Path, caplog
) -> None:
    clock = SimulatedClock(1000.0)
    factory, hardware = _sim_hardware(bundle, clock)
    running = Learner.from_bundle(bundle, LearningConfig(state_dir=tmp_path / "a"), seed=1)
    refused: list[bool] = []

    def broken() -> Learner:
        raise PermissionError("state directory not writable")

    try:
        loop = ControlLoop(hardware, running, bundle.spec, FAST, clock=clock, label="old")
        loop.replace(
            Replacement(
                bundle.spec,
                LoopConfig(rate_hz=10.0),
                None,
                "new",
                broken,
                on_refused=lambda: refused.append(True),
            )
        )
        summary = loop.run(max_ticks=20)
    finally:
        hardware.close()
        factory.reset()
    assert refused == [True]
    assert loop.decider is running and loop.label == "old"
    assert loop.period_s == 0.01  # the old rate: nothing of the reload was applied
    assert summary["learning"]["updates"] == 19  # the running learner went on learning
    assert "reload refused, still running old" in caplog.text
    assert "state directory not writable" in caplog.text

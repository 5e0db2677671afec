"""A stop signal at a random moment of ``robot run``: start-up, running or exit.

Each case starts ``python -m robot run`` on a serial config whose microcontroller is a pty the
test plays (it feeds sensor frames, so the loop drives), with ``--max-ticks`` so that the run
also ends by itself. Once ``main`` catches SIGTERM, the test waits a random delay, stratified
over the length of an unsignalled run on this machine (measured once, from the latch to the
exit) so that every stretch of the run gets its share, and sends SIGTERM or SIGINT; in half the
cases a second signal follows within 0.2 s (it lands in the stop or the exit). Every case must
end with exit 0, no traceback or error, no ``$D`` that drives before the loop's first decision,
and a stop as the last frame on the line. The delays come from a fixed seed: a failing case's
id and printed line reproduce it. ~1 s a case.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robot.cli.robot_process import RobotRun, feeding, serial_config, wait_until_latched
from tests.robot.mcu import Microcontroller

SEED = 20
RUNS = 16
#: 12 ticks at 20 Hz: 0.6 s of running, after ~0.3 s of start-up (the probe's verdict cached).
TICKS = "12"


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state directory for every case: the TFLite probe's verdict is cached once."""
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def span_s(tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> float:
    """How long a run lasts here from the latch to its exit, unsignalled (and clean)."""
    mcu = Microcontroller()
    try:
        config = serial_config(tmp_path_factory.mktemp("reference"), mcu)
        for _ in range(2):  # the first also probes the TFLite runtime, once for all cases
            with feeding(mcu):
                run = RobotRun(config, "--max-ticks", TICKS, state_dir=state_dir)
                wait_until_latched(run)
                started = time.monotonic()
                ending = run.finish(mcu)
            span = time.monotonic() - started - 0.1  # finish() waits 0.1 s for the line
            ending.check_clean()
    finally:
        mcu.close()
    print(f"an unsignalled run lasts {span:.3f} s from the latch")
    return span


@pytest.fixture
def mcu() -> Iterator[Microcontroller]:
    far_end = Microcontroller()
    yield far_end
    far_end.close()


def _phase(stderr: str, sent: bool) -> str:
    if not sent:
        return "after exit (not sent)"
    if "during start-up" in stderr:
        return "start-up"
    if "exit: SIG" in stderr:
        return "running"
    return "exit"


@pytest.mark.parametrize("case", range(RUNS))
def test_a_stop_signal_at_a_random_moment_ends_the_run_cleanly(
    case: int, tmp_path: Path, state_dir: Path, span_s: float, mcu: Microcontroller
) -> None:
    rng = random.Random(SEED * 1000 + case)
    delay_s = (case + rng.random()) * span_s / RUNS
    first = rng.choice([signal.SIGTERM, signal.SIGINT])
    second_after_s = rng.uniform(0.0, 0.2) if rng.random() < 0.5 else None
    second = rng.choice([signal.SIGTERM, signal.SIGINT])
    config = serial_config(tmp_path, mcu)
    with feeding(mcu):
        run = RobotRun(config, "--max-ticks", TICKS, state_dir=state_dir)
        wait_until_latched(run)
        time.sleep(delay_s)
        sent = run.send(first)
        if sent and second_after_s is not None:
            time.sleep(second_after_s)
            run.send(second)
        ending = run.finish(mcu)
    plan = f"{first.name} at {delay_s:.3f} s" + (
        "" if second_after_s is None else f", {second.name} {second_after_s:.3f} s later"
    )
    print(f"case {case}: {plan}: {_phase(ending.stderr, sent)}, exit {ending.returncode}")
    ending.check_clean()
    if "during start-up" in ending.stderr:
        lines = [line for line in ending.stderr.splitlines() if "during start-up" in line]
        assert len(lines) == 1, ending.stderr

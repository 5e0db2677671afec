"""One learning run per state directory: the lock refuses a second process, names the holder and
how to stop it, is looked at without being taken, and is never stale after a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from robot.config import LearningConfig
from robot.learning import Learner
from robot.learning.state_lock import LOCK_NAME, Holder, StateDirBusyError, StateDirLock, holder
from shared.discretize import Discretizer
from shared.qtable import list_snapshots
from shared.reference_robot import obstacle_avoid_spec

ROOT = Path(__file__).resolve().parents[3]
SPEC = obstacle_avoid_spec()
GRID = Discretizer.uniform(SPEC.observation.lows, SPEC.observation.highs, 4)

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from robot.learning.state_lock import StateDirLock
    StateDirLock.acquire(Path(sys.argv[1]))
    print("locked", flush=True)
    time.sleep(60)
    """
)
TRY = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from robot.learning.state_lock import StateDirBusyError, StateDirLock
    try:
        StateDirLock.acquire(Path(sys.argv[1]))
    except StateDirBusyError as exc:
        sys.exit(str(exc))
    """
)


def try_from_another_process(state_dir: Path) -> subprocess.CompletedProcess[str]:
    """Take the lock in another process and let it go at once; exit 1 with the refusal."""
    return subprocess.run(
        [sys.executable, "-c", TRY, str(state_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class Holding:
    """Another process that takes a state directory's lock and keeps it until killed."""

    def __init__(self, state_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(state_dir)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "locked\n"
        self.pid = self.process.pid

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def other(tmp_path: Path):
    holding = Holding(tmp_path / "state")
    yield holding
    if holding.process.poll() is None:
        holding.kill()


def learner(state_dir: Path) -> Learner:
    values = np.zeros((GRID.n_states, len(SPEC.actions)))
    return Learner(SPEC, GRID, values, "d" * 64, LearningConfig(state_dir=state_dir), seed=0)


def test_a_second_process_is_refused_with_the_holders_pid_and_how_to_stop_it(
    tmp_path: Path, other: Holding
) -> None:
    with pytest.raises(StateDirBusyError) as refused:
        StateDirLock.acquire(tmp_path / "state")
    message = str(refused.value)
    assert message.startswith(f"[learning] state_dir {tmp_path / 'state'}: expected no other run")
    assert f"found PID {other.pid} (" in message and "learning there since 20" in message
    assert f"stop it first (kill {other.pid}: it saves what it learnt)" in message
    assert "or give this run another state_dir" in message


def test_a_learner_is_refused_before_it_reads_or_writes_the_directory(
    tmp_path: Path, other: Holding
) -> None:
    with pytest.raises(StateDirBusyError, match=f"PID {other.pid}"):
        learner(tmp_path / "state")
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [LOCK_NAME]


def test_looking_does_not_take_the_lock(tmp_path: Path, other: Holding) -> None:
    found = holder(tmp_path / "state")
    assert found is not None and found.pid == other.pid and found.unit is None
    assert found.command is not None and "StateDirLock.acquire(Path(sys.argv[1]))" in found.command
    assert "\n" not in found.command  # one line, whatever the command line held
    assert holder(tmp_path / "state") == found  # still held: looking took nothing
    other.kill()
    assert holder(tmp_path / "state") is None
    assert holder(tmp_path / "nowhere") is None  # no directory, no lock file: nobody


def test_a_sigkilled_holder_leaves_no_stale_lock(tmp_path: Path, other: Holding) -> None:
    other.kill()
    lock = StateDirLock.acquire(tmp_path / "state")  # at once: the OS dropped the dead's lock
    try:
        record = json.loads((tmp_path / "state" / LOCK_NAME).read_text())
        assert record["pid"] == os.getpid()
    finally:
        lock.release()


def test_a_learner_holds_the_directory_until_it_closes(tmp_path: Path) -> None:
    first = learner(tmp_path / "state")
    found = holder(tmp_path / "state")
    assert found is not None and found.pid == os.getpid()
    refused = try_from_another_process(tmp_path / "state")
    assert refused.returncode == 1 and f"found PID {os.getpid()} (" in refused.stderr
    first.close()
    assert list_snapshots(tmp_path / "state")  # its final save, under the lock
    assert holder(tmp_path / "state") is None
    assert try_from_another_process(tmp_path / "state").returncode == 0


def test_learners_of_one_process_share_the_lock_until_the_last_closes(tmp_path: Path) -> None:
    first, second = learner(tmp_path / "state"), learner(tmp_path / "state")
    first.close()
    first.close()  # twice: still one release
    assert try_from_another_process(tmp_path / "state").returncode == 1  # the second holds it
    second.close()
    assert try_from_another_process(tmp_path / "state").returncode == 0


def test_the_holder_says_how_to_stop_a_service_or_a_process() -> None:
    lock_file = Path("/var/lib/sim2pi/learning") / LOCK_NAME
    service = Holder(812, "sim2pi-robot.service", "python -m robot run", "2025-01-01T00:00:00Z")
    assert service.how_to_stop(lock_file) == "sudo systemctl stop sim2pi-robot.service"
    expected = (
        "PID 812 (the service sim2pi-robot.service), learning there since 2025-01-01T00:00:00Z"
    )
    assert service.describe() == expected
    assert Holder(812).how_to_stop(lock_file) == "kill 812"
    assert Holder().how_to_stop(lock_file) == f"fuser -v {lock_file} names it"
    assert Holder().describe() == "a process that did not record its PID, learning there"


def test_a_learner_that_cannot_open_its_directory_lets_the_lock_go(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    other_bundle = Learner(
        SPEC, GRID, np.zeros((GRID.n_states, 5)), "0" * 64, LearningConfig(state_dir=state_dir)
    )
    other_bundle.close()  # a snapshot of another bundle: the next learner moves it aside …
    now = time.time()
    for second in range(10):  # … into stale-<UTC time>/, where a regular file stands in the way
        name = time.strftime("stale-%Y%m%dT%H%M%SZ", time.gmtime(now + second))
        (state_dir / name).write_text("in the way\n")
    with pytest.raises(FileExistsError):
        learner(state_dir)
    assert holder(state_dir) is None
    assert try_from_another_process(state_dir).returncode == 0

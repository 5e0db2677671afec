"""The sweep's fork server: a real warm server forking real ``train`` commands, checked against
``python -m trainer train`` run as a new process."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import ROOT, trainer, trainer_env

from trainer.rundir import weights_digest
from trainer.sweep import forkclient

pytestmark = [
    pytest.mark.trainer,
    pytest.mark.skipif(not forkclient.supported(), reason="the fork server is Linux-only"),
]

#: A CartPole DQN run that trains every one of its steps, with a checkpoint every 500.
RUN = ["--env", "CartPole-v1", "--algo", "dqn", "--steps", "1500", "--set",
       "stop_on_solved=false", "--set", "checkpoint_every=500", "--quiet"]  # fmt: skip
THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


@pytest.fixture(scope="module")
def server():
    started = forkclient.ForkServer({**trainer_env(), **THREADS})
    yield started
    started.close()


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    """Seeds 0 and 1 as new ``python -m trainer train`` processes: ``plain/s0``, ``plain/s1``."""
    root = tmp_path_factory.mktemp("plain")
    for seed in (0, 1):
        done = trainer("train", *RUN, "--seed", str(seed), "--out", str(root / f"s{seed}"))
        assert done.returncode == 0, done.stderr
    return root


def _same_run(a: Path, b: Path) -> None:
    for checkpoint in ("best", "last"):
        assert weights_digest(a / "checkpoints" / checkpoint) == weights_digest(
            b / "checkpoints" / checkpoint
        ), checkpoint
    summary_a = json.loads((a / "summary.json").read_text())
    summary_b = json.loads((b / "summary.json").read_text())
    for key in ("steps", "best", "last"):
        assert summary_a[key] == summary_b[key], key


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_forked_runs_one_after_another_equal_new_processes(
    server, plain: Path, tmp_path: Path
) -> None:
    # Seeds 1, 0, 1 from one server: a run leaves nothing behind that changes the next one.
    for n, seed in enumerate((1, 0, 1)):
        out = tmp_path / f"forked{n}"
        child = server.start(["train", *RUN, "--seed", str(seed), "--out", str(out)],
                             str(tmp_path / f"forked{n}.log"))  # fmt: skip
        assert child.wait() == 0, (tmp_path / f"forked{n}.log").read_text()
    _same_run(tmp_path / "forked0", plain / "s1")
    _same_run(tmp_path / "forked1", plain / "s0")
    _same_run(tmp_path / "forked2", plain / "s1")
    assert "trained 1504 steps in" in (tmp_path / "forked1.log").read_text()  # 8 envs a step


def test_the_shared_server_serves_workers_at_once_and_ends_with_its_driver(
    plain: Path, tmp_path: Path
) -> None:
    shared = forkclient.SharedServer({**trainer_env(), **THREADS})
    sessions = [forkclient.ForkServer({**trainer_env(), **THREADS}, shared.path) for _ in "ab"]
    children = []
    for seed, session in enumerate(sessions):
        argv = ["train", *RUN, "--seed", str(seed), "--out", str(tmp_path / f"s{seed}")]
        children.append(session.start(argv, str(tmp_path / f"s{seed}.log")))
    assert len({child.pid for child in children}) == 2
    assert all(child.wait() == 0 for child in children)
    for seed in (0, 1):
        _same_run(tmp_path / f"s{seed}", plain / f"s{seed}")

    # A worker that ends while its trial trains: the trial saves; the other session goes on.
    out = tmp_path / "long"
    child = sessions[0].start(["train", *RUN, "--steps", "200000", "--out", str(out)],
                              str(tmp_path / "long.log"))  # fmt: skip
    _wait_for((out / "checkpoints" / "last").is_dir, 120, "the first checkpoint")
    sessions[0].close()
    _wait_for(lambda: not Path(f"/proc/{child.pid}").exists(), 120, "the trial to stop")
    assert json.loads((out / "checkpoints" / "last" / "meta.json").read_text())["step"] >= 500
    assert "Traceback" not in (tmp_path / "long.log").read_text()
    again = sessions[1].start(["train", "--env", "CartPole-v1", "--set", "no_such_key=1"],
                              str(tmp_path / "bad.log"))  # fmt: skip
    assert again.wait() == 2

    sessions[1].close()
    shared.close()
    assert not Path(shared.directory).exists()
    with pytest.raises(OSError):  # nothing listens: a worker then starts a server of its own
        forkclient.ForkServer(trainer_env(), shared.path)


def test_ctrl_c_saves_the_last_checkpoint_as_the_train_command_does(server, tmp_path: Path) -> None:
    out = tmp_path / "run"
    log = tmp_path / "run.log"
    child = server.start(["train", *RUN, "--steps", "200000", "--out", str(out)], str(log))
    assert child.poll() is None
    _wait_for((out / "checkpoints" / "last").is_dir, 120, "the first checkpoint")
    child.send_signal(signal.SIGINT)
    assert child.wait() == 0, log.read_text()
    state = json.loads((out / "checkpoints" / "last" / "meta.json").read_text())
    assert 500 <= state["step"] < 200000
    assert not (out / "summary.json").exists()
    assert "Traceback" not in log.read_text()


def test_a_failing_command_gives_its_code_and_its_error_line(server, tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    child = server.start(["train", "--env", "CartPole-v1", "--set", "no_such_key=1"], str(log))
    assert child.wait() == 2
    assert "error: " in log.read_text()
    assert "Traceback" not in log.read_text()
    assert server.alive()  # the server itself goes on to the next trial


def test_a_worker_that_ends_makes_its_trial_save_and_the_server_exit(tmp_path: Path) -> None:
    lone = forkclient.ForkServer({**trainer_env(), **THREADS})
    out = tmp_path / "run"
    child = lone.start(["train", *RUN, "--steps", "200000", "--out", str(out)],
                       str(tmp_path / "run.log"))  # fmt: skip
    _wait_for((out / "checkpoints" / "last").is_dir, 120, "the first checkpoint")
    lone.process.stdin.close()  # what the Ray worker's death does to the pipe
    assert lone.process.wait(timeout=120) == 0
    assert child.wait() == 0  # SIGINT: the train command saved and exited, not killed by it
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)
    state = json.loads((out / "checkpoints" / "last" / "meta.json").read_text())
    assert state["step"] >= 500
    assert "Traceback" not in (tmp_path / "run.log").read_text()


def test_a_server_that_cannot_start_is_one_error_with_what_it_printed() -> None:
    broken = {**trainer_env(), "PYTHONHOME": str(ROOT / "no-such-python-home")}
    with pytest.raises(forkclient.ForkServerError, match=r"fork server exited 1 \(it printed: .+"):
        forkclient.ForkServer(broken)

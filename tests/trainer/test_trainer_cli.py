"""``python -m trainer``: bad input is one line and exit 2; Ctrl-C saves and exits 0; eval works."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.trainer

ROOT = Path(__file__).resolve().parents[2]


def _trainer(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "NoSuchEnv-v9", "--algo", "dqn"], "not a registered Gymnasium env id"),
        (["--env", "CartPol-v1", "--algo", "dqn"], "did you mean CartPole-v1"),
        (["--env", "Pendulum-v1", "--algo", "dqn"], "needs a Discrete action space"),
        (["--env", "CartPole-v1", "--algo", "dqn", "--set", "lr=1"], "unknown hyperparameter 'lr'"),
        (["--env", "CartPole-v1", "--algo", "dqn", "--set", "gamma=high"], "not a valid float"),
        (["--env", "CartPole-v1", "--algo", "dqn", "--steps", "ten"], "invalid int value"),
        (["--env", "CartPole-v1", "--algo", "ppo"], "invalid choice: 'ppo'"),
        (["--env", "CartPole-v1"], "--env and --algo are required"),
        (["--resume", "/nonexistent/run"], "no such directory"),
    ],
)
def test_bad_train_input_is_one_line_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    out = [] if "--resume" in args else ["--out", str(tmp_path / "run")]
    result = _trainer("train", *args, *out)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_eval_of_a_non_run_directory_is_one_line(tmp_path: Path) -> None:
    result = _trainer("eval", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a run directory" in result.stderr


@pytest.mark.parametrize("command", [[], ["train"], ["eval"]])
def test_help_everywhere(command: list[str]) -> None:
    result = _trainer(*command, "--help")
    assert result.returncode == 0
    assert "usage: python -m trainer" in result.stdout


def test_train_help_lists_every_hyperparameter_with_its_doc() -> None:
    out = _trainer("train", "--help").stdout
    assert "target_update_interval: gradient steps between target network updates" in out
    assert "bins: bins per observation channel" in out


@pytest.mark.slow
def test_ctrl_c_saves_and_resume_continues(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", "--env", "CartPole-v1", "--algo", "dqn", "--steps", "400000", "--quiet"]
    sets = ["--set", "eval_every=1000", "--set", "eval_episodes=1", "--set", "checkpoint_every=0"]
    sets += ["--set", "jit_compile=false", "--set", "learning_starts=500"]

    def interrupt(cmd: list[str]) -> tuple[subprocess.CompletedProcess[str], int]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trainer", *cmd],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        metrics = run / "metrics.csv"
        rows_before = len(metrics.read_text().splitlines()) if metrics.exists() else 1
        deadline = time.monotonic() + 90
        # wait until training is under way: a new evaluation row appears
        while time.monotonic() < deadline and proc.poll() is None:
            if metrics.exists() and len(metrics.read_text().splitlines()) > rows_before:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err), rows_before

    first, _ = interrupt([*args, *sets, "--out", str(run)])
    assert first.returncode == 0, first.stderr
    assert "interrupted at step" in first.stdout
    assert f"--resume {run}" in first.stdout
    assert "Traceback" not in first.stderr
    assert (run / "checkpoints" / "last" / "state.pkl").is_file()
    assert (run / "learning_curve.png").is_file()
    stopped_at = int(first.stdout.split("interrupted at step ")[1].split(";")[0])

    second, _ = interrupt(["train", "--resume", str(run), "--quiet"])
    assert second.returncode == 0, second.stderr
    assert f"resuming {run} at step {stopped_at}" in second.stderr
    resumed_to = int(second.stdout.split("interrupted at step ")[1].split(";")[0])
    assert resumed_to > stopped_at


@pytest.mark.slow
def test_eval_prints_statistics(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained = _trainer(
        "train", "--env", "FrozenLake-v1", "--algo", "qlearning", "--steps", "3000",
        "--set", "eval_every=0", "--quiet", "--out", str(run),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert (run / "summary.json").is_file() and (run / "learning_curve.png").is_file()
    result = _trainer("eval", str(run), "--episodes", "5", "--checkpoint", "last")
    assert result.returncode == 0, result.stderr
    assert "over 5 episodes" in result.stdout
    for word in ("mean", "std", "min", "max"):
        assert word in result.stdout


@pytest.mark.slow
def test_eval_renders_a_gif(tmp_path: Path) -> None:
    gymnasium = pytest.importorskip("gymnasium")
    pytest.importorskip("trainer.envs")  # the robot simulator renders without pygame
    if "sim2pi/ObstacleAvoid-v0" not in gymnasium.registry:
        pytest.skip("sim2pi/ObstacleAvoid-v0 is not registered")
    from PIL import Image

    run = tmp_path / "run"
    trained = _trainer(
        "train", "--env", "sim2pi/ObstacleAvoid-v0", "--algo", "dqn", "--steps", "300",
        "--set", "learning_starts=100", "--set", "jit_compile=false", "--set", "hidden_sizes=8",
        "--set", "eval_episodes=1", "--set", "final_eval_episodes=1", "--quiet", "--out", str(run),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    result = _trainer("eval", str(run), "--episodes", "1", "--render", "gif")
    assert result.returncode == 0, result.stderr
    with Image.open(run / "eval_best.gif") as gif:
        assert gif.n_frames > 1

"""``python -m trainer`` is quiet by default: TensorFlow's known start-up lines only with
``--verbose``; the first ``import tensorflow`` is filtered, not silenced (``trainer.quiet``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shared.quiet import VERBOSE_ENV
from trainer.quiet import TF_NOISE

pytestmark = pytest.mark.trainer

ROOT = Path(__file__).resolve().parents[2]
#: What the noise looked like before (TensorFlow 2.21 on x86-64), for the messages.
XNNPACK = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def _env(**extra: str) -> dict[str, str]:
    """The environment a user has: no log level or verbosity chosen beforehand."""
    drop = ("TF_CPP_MIN_LOG_LEVEL", VERBOSE_ENV)
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def _run(*args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(**env),
    )


def _noise(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if line == XNNPACK or any(p.search(line) for p in TF_NOISE)
    ]


def test_the_first_import_is_filtered_and_keeps_its_real_lines(tmp_path: Path) -> None:
    (tmp_path / "noisy_native.py").write_text(
        textwrap.dedent(
            """
            import os
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                        b"written to STDERR\\n")
            os.write(2, b"E0000 loader.cc:9] a real error while importing\\n")
            """
        )
    )
    script = textwrap.dedent(
        """
        import sys
        from trainer.quiet import QuietImport, TF_NOISE
        sys.meta_path.insert(0, QuietImport("noisy_native", TF_NOISE))
        import noisy_native
        print(type(noisy_native.__loader__).__name__, type(noisy_native.__spec__.loader).__name__)
        print(any(isinstance(f, QuietImport) for f in sys.meta_path))
        """
    )
    result = _run("-c", script, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["E0000 loader.cc:9] a real error while importing"]
    assert result.stdout.splitlines() == ["SourceFileLoader SourceFileLoader", "False"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 300-step DQN run of the robot task, trained as a user would (no flags): its stderr."""
    run = tmp_path_factory.mktemp("quiet") / "run"
    result = _run(
        "-m", "trainer", "train", "--env", "sim2pi/ObstacleAvoid-v0", "--algo", "dqn",
        "--steps", "300", "--set", "learning_starts=100", "--set", "hidden_sizes=8",
        "--set", "eval_episodes=1", "--set", "final_eval_episodes=1", "--quiet",
        "--out", str(run),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run, result.stderr


@pytest.mark.slow
def test_train_prints_no_known_noise(tiny_run: tuple[Path, str]) -> None:
    run, stderr = tiny_run
    assert _noise(stderr) == []
    assert f"run directory: {run}" in stderr  # sim2pi's own line is still there


@pytest.mark.slow
def test_verbose_brings_tensorflow_lines_back(tiny_run: tuple[Path, str]) -> None:
    run, _ = tiny_run
    result = _run("-m", "trainer", "eval", str(run), "--episodes", "1", "--verbose")
    assert result.returncode == 0, result.stderr
    assert _noise(result.stderr), result.stderr  # oneDNN/absl/cpu_feature_guard: some of them


@pytest.mark.slow
def test_eval_with_a_gif_prints_no_known_noise(tiny_run: tuple[Path, str]) -> None:
    run, _ = tiny_run
    result = _run("-m", "trainer", "eval", str(run), "--episodes", "1", "--render", "gif")
    assert result.returncode == 0, result.stderr
    assert _noise(result.stderr) == [] and "XDG_RUNTIME_DIR" not in result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.tflite
@pytest.mark.parametrize("verbose", [False, True])
def test_sil_hides_xnnpack_unless_verbose(tmp_path: Path, verbose: bool) -> None:
    """``--verbose`` before the subcommand reaches the robot's CLI that ``sil`` runs."""
    config = ROOT / "robot" / "examples" / "reference_gym.toml"
    flag = ["--verbose"] if verbose else []
    result = _run(
        "-m", "trainer", *flag, "sil", "run", "--config", str(config), "--max-ticks", "5",
        SIM2PI_STATE_DIR=str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (XNNPACK in result.stderr.splitlines()) is verbose, result.stderr
    assert re.search(r"summary: 5 ticks", result.stderr), result.stderr


@pytest.mark.slow
@pytest.mark.tflite
def test_export_prints_no_known_noise_unless_verbose(
    tiny_run: tuple[Path, str], tmp_path: Path
) -> None:
    """The converter's and the quantisation debugger's lines (``fully_quantize: …``) and the
    interpreters' XNNPACK line are hidden; ``--verbose`` shows them."""
    run, _ = tiny_run
    quiet = _run("-m", "trainer", "export", str(run), "--out", str(tmp_path / "a"), "--int8",
                 "--return-episodes", "1")  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr
    assert _noise(quiet.stderr) == [], quiet.stderr
    loud = _run("-m", "trainer", "export", str(run), "--out", str(tmp_path / "b"), "--int8",
                "--return-episodes", "1", "--verbose")  # fmt: skip
    assert loud.returncode == 0, loud.stderr
    assert _noise(loud.stderr), loud.stderr

"""What docs/benchmarks/README.md ("What is bit-identical where") claims, checked on this machine.

Same machine, same versions: two DQN trainings with one seed in separate processes give the same
weights, training episodes and evaluations, also with other thread settings and with
TF_ENABLE_ONEDNN_OPTS=0; the tabular Q-learning and the simulator are pure numpy/Python and
give the same figures whatever numpy's SIMD dispatch. A different CPU ISA for the matmul kernels
(oneDNN limited to AVX2 on an AVX-512 machine, as on a CPU without AVX-512) changes the weights.
Tiny budgets; nothing here times anything.
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import record
from trainer.rundir import weights_digest

pytestmark = [pytest.mark.trainer, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TIMINGS = {"train_seconds", "wall_seconds", "steps_per_second"}
#: numpy's AVX-512 (and AVX2) dispatch turned off: what a CPU without them would run.
NO_AVX512 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR X86_V4"
SIM_ROLLOUTS = """
import hashlib, numpy as np, gymnasium as gym, trainer.envs
h, env, rng = hashlib.sha256(), gym.make("sim2pi/ObstacleAvoid-v0"), np.random.default_rng(7)
for ep in range(3):
    obs, _ = env.reset(seed=1000 + ep)
    for _ in range(200):
        obs, r, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
        h.update(np.asarray(obs, np.float64).tobytes() + np.float64(r).tobytes())
        if term or trunc:
            break
print(h.hexdigest())
"""


def _train(out: Path, algo: str, steps: int, **env: str) -> dict[str, str]:
    """``trainer train`` in a child process with ``env`` added; digests of what it wrote."""
    argv = [sys.executable, "-m", "trainer", "train", "--env", "CartPole-v1", "--algo", algo]
    argv += ["--steps", str(steps), "--seed", "0", "--set", f"eval_every={steps // 2}"]
    argv += ["--set", "final_eval_episodes=2", "--out", str(out), "--quiet"]
    child_env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"} | env
    subprocess.run(argv, cwd=ROOT, env=child_env, capture_output=True, timeout=600, check=True)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    evaluated = [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]
    return {
        "weights": weights_digest(out / "checkpoints/last"),
        "episodes": _digest((out / "episodes.csv").read_bytes()),
        "evaluations": _digest(repr(evaluated).encode()),
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_dqn_same_seed_same_machine_is_bit_identical_whatever_the_threads(
    tmp_path: Path,
) -> None:
    first = _train(tmp_path / "a", "dqn", 2000)
    again = _train(tmp_path / "b", "dqn", 2000)
    one_thread = _train(
        tmp_path / "c",
        "dqn",
        2000,
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
        TF_ENABLE_ONEDNN_OPTS="0",
    )
    assert first == again == one_thread


@pytest.mark.skipif(
    "avx512f" not in record.machine()["cpu_flags"], reason="needs an AVX-512 CPU to step down"
)
def test_dqn_on_another_cpu_isa_is_not_bit_identical(tmp_path: Path) -> None:
    native = _train(tmp_path / "a", "dqn", 2000)
    avx2 = _train(tmp_path / "b", "dqn", 2000, ONEDNN_MAX_CPU_ISA="AVX2")
    assert native["weights"] != avx2["weights"]


def test_tabular_q_learning_is_bit_identical_whatever_numpys_simd(tmp_path: Path) -> None:
    first = _train(tmp_path / "a", "qlearning", 20_000)
    again = _train(tmp_path / "b", "qlearning", 20_000)
    scalar = _train(tmp_path / "c", "qlearning", 20_000, NPY_DISABLE_CPU_FEATURES=NO_AVX512)
    assert first == again == scalar


def test_simulator_rollouts_are_bit_identical_whatever_numpys_simd() -> None:
    def rollouts(**env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", SIM_ROLLOUTS],
            cwd=ROOT,
            env=os.environ | env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return done.stdout.strip()

    assert rollouts() == rollouts() == rollouts(NPY_DISABLE_CPU_FEATURES=NO_AVX512)

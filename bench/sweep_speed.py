"""``scripts/bench_sweep``: a sweep on Ray Tune against the same runs one after another.

(a) ``seeds`` CartPole-v1 DQN runs of the shipped preset (which stops when solved): the wall
time of ``python -m trainer sweep`` (local Ray, one CPU per trial) against the same runs as
``python -m trainer train`` subprocesses one after another, and, per seed, whether both made the
same run: the final evaluation on the evaluation seeds and the digests of the best and last
checkpoints' weights. Bar: sweep ≤ 0.6 × sequential.

(b) The sweep's overhead on one trial: a 1-trial sweep of a ``overhead_steps`` run
(``stop_on_solved=false``, so it trains them all) against the same run as a plain
``trainer train``, once as it runs by default and once with the trial's TensorFlow threads (one
CPU: ``TF_NUM_INTRAOP_THREADS=1``, ``TF_NUM_INTEROP_THREADS=1``). The trial's overhead is its
own extra seconds (its train process as the Ray worker ran it, from start to summary, reported by
the worker as ``trial_seconds``) over the plain one-CPU run: starting and watching the process,
reporting to Tune. Bar: ≤ 5 %. Also given: what the one-CPU share costs a single run by itself,
and the whole command's extra seconds (Ray's start and stop, ranking the trial on 20 fresh
episodes in a Ray task, the results files) over the plain default run.

Wall times move with the load of a shared machine; ``bench/record.py`` records it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import record
from trainer.rundir import weights_digest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
SPEED_BAR = 0.6
OVERHEAD_BAR = 0.05


def _trainer(*args: str, env: dict[str, str] | None = None) -> float:
    """Run ``python -m trainer ARGS`` (``env`` added); its wall seconds (raises if it failed)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        cwd=ROOT, env={**ENV, **(env or {})}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(
            f"python -m trainer {' '.join(args)}: exit {done.returncode}\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return time.perf_counter() - started


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same run: equal facts, training seconds aside (they move with the load)."""
    return {**a, "train_seconds": 0} == {**b, "train_seconds": 0}


def _run_facts(run_dir: Path) -> dict[str, Any]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "steps": summary["steps"],
        "solved_step": summary["solved_step"],
        "final_eval": summary["last"]["eval"]["mean"],
        "best_eval": summary["best"]["eval"]["mean"],
        "train_seconds": summary["train_seconds"],
        "last_digest": weights_digest(run_dir / "checkpoints/last")[:16],
        "best_digest": weights_digest(run_dir / "checkpoints/best")[:16],
    }


def speed(seeds: int, work: Path, steps: int | None, first_seed: int = 0) -> dict[str, Any]:
    """(a): the sweep against sequential ``trainer train`` runs, and whether they match."""
    spec = work / "seeds.toml"
    spec.write_text(
        f'preset = "CartPole-v1:dqn"\nseeds = {list(range(first_seed, first_seed + seeds))}\n'
        "rank_episodes = 20\n" + (f"steps = {steps}\n" if steps else "")
    )
    sweep_s = _trainer("sweep", str(spec), "--out", str(work / "sweep"))
    print(f"sweep of {seeds} seeds: {sweep_s:.1f} s", flush=True)
    sequential_s = 0.0
    per_seed = []
    for seed in range(first_seed, first_seed + seeds):
        out = work / f"seq{seed}"
        extra = ["--steps", str(steps)] if steps else []
        seconds = _trainer(
            "train",
            "--env",
            "CartPole-v1",
            "--algo",
            "dqn",
            "--seed",
            str(seed),
            *extra,
            "--out",
            str(out),
            "--quiet",
        )
        sequential_s += seconds
        swept = _run_facts(work / "sweep" / "trials" / f"t00__s{seed}")
        alone = _run_facts(out)
        per_seed.append(
            {
                "seed": seed,
                "sweep": swept,
                "sequential": alone,
                "sequential_seconds": round(seconds, 1),
                "identical": _same(swept, alone),
            }
        )
        print(
            f"seed {seed}: {seconds:.1f} s, final {alone['final_eval']:.1f}, "
            f"identical {_same(swept, alone)}",
            flush=True,
        )
    ratio = sweep_s / sequential_s
    return {
        "seeds": seeds,
        "first_seed": first_seed,
        "sweep_seconds": round(sweep_s, 1),
        "sequential_seconds": round(sequential_s, 1),
        "ratio": round(ratio, 3),
        "bar": SPEED_BAR,
        "met": ratio <= SPEED_BAR,
        "identical": sum(s["identical"] for s in per_seed),
        "per_seed": per_seed,
    }


def overhead(steps: int, work: Path) -> dict[str, Any]:
    """(b): a 1-trial sweep of a ``steps`` run against the same plain ``trainer train``."""
    common = ["--set", "stop_on_solved=false"]
    spec = work / "one.toml"
    spec.write_text(
        f'preset = "CartPole-v1:dqn"\nseeds = [0]\nsteps = {steps}\n'
        "rank_episodes = 20\n[grid]\nstop_on_solved = [false]\n"
    )
    argv = ["train", "--env", "CartPole-v1", "--algo", "dqn", "--steps", str(steps), *common]
    plain_s = _trainer(*argv, "--out", str(work / "plain"), "--quiet")
    # The same run with the trial's TensorFlow threads (one CPU): what the share costs by itself.
    one_cpu = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}
    plain_1cpu_s = _trainer(*argv, "--out", str(work / "plain1"), "--quiet", env=one_cpu)
    sweep_s = _trainer("sweep", str(spec), "--out", str(work / "one"))
    results = sorted((work / "one" / "tune").glob("*/t00__s0/result.json"))
    rows = [json.loads(line) for line in results[-1].read_text().splitlines() if line.strip()]
    trial_s = next(r["trial_seconds"] for r in reversed(rows) if "trial_seconds" in r)
    same = _same(_run_facts(work / "plain"), _run_facts(work / "one" / "trials" / "t00__s0"))
    return {
        "steps": steps,
        "plain_seconds": round(plain_s, 2),
        "sweep_seconds": round(sweep_s, 2),
        "trial_seconds": round(trial_s, 2),
        "command_overhead_share": round((sweep_s - plain_s) / plain_s, 4),
        "plain_one_cpu_seconds": round(plain_1cpu_s, 2),
        "trial_overhead_share": round((trial_s - plain_1cpu_s) / plain_1cpu_s, 4),
        "one_cpu_share": round((plain_1cpu_s - plain_s) / plain_s, 4),
        "bar": OVERHEAD_BAR,
        "met": (trial_s - plain_1cpu_s) / plain_1cpu_s <= OVERHEAD_BAR,
        "identical": same,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure (a) and (b), print them, write ``sweep.json``."""
    parser = argparse.ArgumentParser(
        prog="scripts/bench_sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=10, help="(a): CartPole seeds (default 10)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="(a): the first seed (default 0; e.g. 10 for seeds no change was measured on)",
    )
    parser.add_argument("--overhead-steps", type=int, default=50_000, help="(b): default 50000")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 seeds of 2000 steps, overhead on 2000 steps",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=record.SCRATCH_DIR,
        help="where sweep.json goes (default runs/bench)",
    )
    args = parser.parse_args(argv)
    env = record.environment(sys.argv[1:] if argv is None else argv, prog="scripts/bench_sweep")
    record.print_environment(env)
    seeds, steps, overhead_steps = args.seeds, None, args.overhead_steps
    if args.quick:
        seeds, steps, overhead_steps = 2, 2_000, 2_000
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        a = speed(seeds, Path(tmp), steps, args.first_seed)
        print(
            f"(a) sweep {a['sweep_seconds']} s vs sequential {a['sequential_seconds']} s: "
            f"{a['ratio']}x (bar <= {SPEED_BAR}: {'met' if a['met'] else 'MISSED'}); "
            f"identical runs {a['identical']}/{seeds}",
            flush=True,
        )
        b = overhead(overhead_steps, Path(tmp))
    print(
        f"(b) {overhead_steps} steps: plain {b['plain_seconds']} s, with the trial's one-CPU "
        f"threads {b['plain_one_cpu_seconds']} s ({b['one_cpu_share']:+.1%}), "
        f"trial {b['trial_seconds']} s "
        f"({b['trial_overhead_share']:+.1%}; bar <= {OVERHEAD_BAR:.0%}: "
        f"{'met' if b['met'] else 'MISSED'}), whole sweep command {b['sweep_seconds']} s "
        f"({b['command_overhead_share']:+.1%}); identical {b['identical']}"
    )
    payload = {"quick": args.quick, "speed": a, "overhead": b}
    path = record.write_json("sweep", payload, record.finish(env), args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

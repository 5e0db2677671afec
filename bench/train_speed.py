"""Benchmarks: DQN time to solve and stability on CartPole-v1, beside Stable-Baselines3.

``scripts/bench_train`` runs ``python -m bench.train_speed``. For each seed (default 0–9) it
trains with the shipped preset and reports the env steps and training seconds (evaluation and
checkpointing excluded) until the greedy mean over 10 selection episodes, checked every 2,000
steps, first reaches 475; env steps per second; where ``stop_on_solved`` ended the run; and the
greedy mean of the final and of the best checkpoint, reloaded from disk, on the 10 evaluation
seeds (which training never selected on). ``--against-sb3`` trains Stable-Baselines3's DQN with
rl-baselines3-zoo's settings right after each seed (``bench/sb3_reference.py``, a child process),
so both are timed on the same machine under the same load, and judged by the same criterion.

The bars (exit 1 when one is missed): the final checkpoint >= 475 on at least 9 of 10 seeds
(scaled to the seeds given), and, with ``--against-sb3``, a median time to solve at most 0.5×
SB3's. ``--quality`` instead runs the quality table (``bench/train_quality.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import record
from bench.sb3_reference import available as sb3_available

ROOT = Path(__file__).resolve().parents[1]
SOLVED = 475.0
FINAL_SHARE = 0.9  # final checkpoint >= 475 on 9 of 10 seeds
SPEED_RATIO = 0.5  # median seconds to solve <= 0.5 x SB3's


def train(env_id: str, algo: str, seed: int, out: Path, overrides: list[str]) -> Any:
    """Train one run with the preset (plus overrides) into ``out``; returns its RunDir."""
    from trainer.rundir import RunDir
    from trainer.training import TrainingRun

    run = TrainingRun.create(env_id, algo, seed, overrides, out)
    try:
        run.run(progress=False)
    finally:
        run.close()
    return RunDir(out)


def reloaded_eval(run: Any, which: str, episodes: int) -> Any:
    """Greedy evaluation of a checkpoint loaded from disk, on the evaluation seeds."""
    from trainer.evaluation import eval_seeds, evaluate

    env = run.make_env()
    try:
        return evaluate(env, run.greedy_policy(which), eval_seeds(episodes))
    finally:
        env.close()


def ours(seed: int, root: Path, overrides: list[str]) -> dict[str, Any]:
    """One sim2pi run of the CartPole preset and its figures."""
    from trainer.metrics import read_csv

    run = train("CartPole-v1", "dqn", seed, root / f"cartpole_s{seed}", overrides)
    rows = read_csv(run.path / "metrics.csv")
    solved = next((r for r in rows if float(r["eval_mean"]) >= SOLVED), None)
    steps, seconds = int(rows[-1]["step"]), float(rows[-1]["train_seconds"])
    summary = json.loads((run.path / "summary.json").read_text())
    return {
        "seed": seed,
        "solve_steps": None if solved is None else int(solved["step"]),
        "solve_seconds": None if solved is None else float(solved["train_seconds"]),
        "steps": steps,
        "stopped_solved_at": summary.get("solved_step"),
        "train_seconds": seconds,
        "steps_per_second": steps / seconds,
        "final": reloaded_eval(run, "last", 10).mean,
        "best": reloaded_eval(run, "best", 10).mean,
        "best_step": summary["best"]["step"],
    }


def sb3(seed: int) -> dict[str, Any]:
    """One Stable-Baselines3 run, in a child process (its own torch, its own threads)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.sb3_reference", "--seed", str(seed)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.sb3_reference --seed {seed} failed: {done.stderr.strip()}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.pop("evaluations", None)
    return result


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    """The median of ``key`` over all rows, a seed that never solved counting as slower than
    any that did (None when that median is such a seed, or there are no rows)."""
    values = [math.inf if r.get(key) is None else r[key] for r in rows]
    m = statistics.median(values) if values else math.inf
    return None if math.isinf(m) else m


def verdict(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians, counts and the bars of the CartPole benchmark."""
    n = len(seeds)
    mine = [s["sim2pi"] for s in seeds]
    finals = sum(r["final"] >= SOLVED for r in mine)
    needed = -(-FINAL_SHARE * n // 1)  # ceil: 9 of 10
    out: dict[str, Any] = {
        "seeds": n,
        "solved": sum(r["solve_steps"] is not None for r in mine),
        "final_at_least_475": finals,
        "best_at_least_475": sum(r["best"] >= SOLVED for r in mine),
        "median_solve_steps": median(mine, "solve_steps"),
        "median_solve_seconds": median(mine, "solve_seconds"),
        "median_steps_per_second": median(mine, "steps_per_second"),
        "bars": {"final": {"needed": int(needed), "passed": finals >= needed}},
    }
    theirs = [s["sb3"] for s in seeds if s.get("sb3")]
    if theirs:
        ratio = None
        if out["median_solve_seconds"] and median(theirs, "solve_seconds"):
            ratio = out["median_solve_seconds"] / median(theirs, "solve_seconds")
        out["sb3"] = {
            "solved": sum(r["solve_steps"] is not None for r in theirs),
            "final_at_least_475": sum(r["final"] >= SOLVED for r in theirs),
            "median_solve_steps": median(theirs, "solve_steps"),
            "median_solve_seconds": median(theirs, "solve_seconds"),
        }
        out["speed_ratio"] = ratio
        out["bars"]["speed"] = {
            "needed": SPEED_RATIO,
            "passed": ratio is not None and ratio <= SPEED_RATIO,
        }
    return out


def _line(who: str, r: dict[str, Any]) -> str:
    solve = (
        "not solved"
        if r["solve_steps"] is None
        else f"solved at {r['solve_steps']:>6} steps {r['solve_seconds']:6.1f} s"
    )
    best = f" | best {r['best']:6.1f}" if "best" in r else ""
    return (
        f"  {who:7} {solve} | {r['steps_per_second']:6.0f} steps/s | final {r['final']:6.1f}{best}"
    )


def _print_verdict(v: dict[str, Any]) -> None:
    final = v["bars"]["final"]
    print(
        f"sim2pi: solved {v['solved']}/{v['seeds']}, median {v['median_solve_steps']} steps "
        f"{v['median_solve_seconds']} s; final >= 475 on {v['final_at_least_475']}/{v['seeds']} "
        f"(bar {final['needed']}: {'PASS' if final['passed'] else 'FAIL'})"
        f"; best >= 475 on {v['best_at_least_475']}/{v['seeds']}"
    )
    if "sb3" in v:
        s = v["sb3"]
        ratio = "n/a" if v["speed_ratio"] is None else f"{v['speed_ratio']:.2f}"
        print(
            f"SB3:    solved {s['solved']}/{v['seeds']}, median {s['median_solve_steps']} steps "
            f"{s['median_solve_seconds']} s; final >= 475 on {s['final_at_least_475']}/{v['seeds']}"
            f"\nmedian time to solve, sim2pi / SB3: {ratio} (bar <= {SPEED_RATIO}: "
            f"{'PASS' if v['bars']['speed']['passed'] else 'FAIL'})"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line of ``scripts/bench_train``."""
    parser = argparse.ArgumentParser(prog="scripts/bench_train", description=__doc__)
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated seeds")
    parser.add_argument(
        "--runs", type=Path, help="keep the training runs here (default: a temp dir)"
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a hyperparameter of the preset (try a preset change before editing it)",
    )  # fmt: skip
    parser.add_argument(
        "--against-sb3", action="store_true",
        help="train Stable-Baselines3 (rl-baselines3-zoo's settings) beside each seed; needs "
        "requirements-bench.txt",
    )  # fmt: skip
    parser.add_argument(
        "--name", default=None,
        help="the JSON's name (default train_cartpole, or train_quality with --quality)",
    )  # fmt: skip
    parser.add_argument("--quality", action="store_true", help="run the quality table instead")
    parser.add_argument(
        "--only", action="append", default=[], metavar="ENV[:ALGO]",
        help="quality rows to run, e.g. --only Taxi-v4 --only CartPole-v1:qlearning",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=record.SCRATCH_DIR,
        help="where the JSON (train_cartpole.json / train_quality.json) goes (runs/bench)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated integers, found {args.seeds!r}")
    if args.against_sb3 and (missing := sb3_available()):
        parser.exit(2, f"scripts/bench_train: --against-sb3: {missing}\n")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the CartPole benchmark (or the quality table); 0 when every bar is met."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = parse_args(argv)
    if args.quality:
        from bench.train_quality import main as quality_main

        return quality_main(args)
    env = record.environment(sys.argv[1:] if argv is None else argv, prog="scripts/bench_train")
    record.print_environment(env)
    if not args.against_sb3:
        print(f"SB3 reference: not run ({sb3_available() or 'add --against-sb3'})")
    seeds = []
    with tempfile.TemporaryDirectory(prefix="sim2pi-bench-") as tmp:
        root = args.runs or Path(tmp)
        for seed in args.seed_list:
            row: dict[str, Any] = {"seed": seed, "sim2pi": ours(seed, root, args.overrides)}
            print(f"seed {seed}:\n{_line('sim2pi', row['sim2pi'])}", flush=True)
            if args.against_sb3:
                row["sb3"] = sb3(seed)
                print(_line("SB3", row["sb3"]), flush=True)
            seeds.append(row)
    v = verdict(seeds)
    _print_verdict(v)
    payload = {"overrides": args.overrides, "seeds": seeds, "verdict": v}
    name = args.name or "train_cartpole"
    print(f"wrote {record.write_json(name, payload, record.finish(env), args.out)}")
    return 0 if all(b["passed"] for b in v["bars"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks: DQN speed and stability on CartPole-v1 (5 seeds), and the quality table.

``scripts/bench_train`` runs ``python -m bench.train_speed``. For each seed it trains with the
shipped preset and reports env steps and training seconds (evaluation and checkpointing excluded)
until the greedy mean over 10 episodes, checked every 2,000 steps, first reaches 475; env steps per
second of training; and the greedy mean of the final and of the best checkpoint, reloaded from disk.
``--quality`` instead trains each row of the issue's quality table and checks its bar.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOLVED = 475.0


@dataclass(frozen=True)
class QualityRow:
    """One row of the quality table: env, algorithm, evaluation episodes and the bar."""

    env_id: str
    algo: str
    episodes: int
    bar: float
    metric: str  # "mean" (mean return) or "success" (fraction of episodes with return > 0)


QUALITY_TABLE = (
    QualityRow("CartPole-v1", "dqn", 10, 475.0, "mean"),
    QualityRow("Acrobot-v1", "dqn", 10, -100.0, "mean"),
    QualityRow("MountainCar-v0", "dqn", 10, -120.0, "mean"),
    QualityRow("FrozenLake-v1", "qlearning", 1000, 0.70, "success"),
    QualityRow("Taxi-v4", "qlearning", 100, 7.5, "mean"),
    QualityRow("CartPole-v1", "qlearning", 100, 195.0, "mean"),
)


def _train(env_id: str, algo: str, seed: int, out: Path, overrides: list[str]) -> Any:
    """Train one run with the preset (plus overrides) into ``out``; returns its RunDir."""
    from trainer.rundir import RunDir
    from trainer.training import TrainingRun

    run = TrainingRun.create(env_id, algo, seed, overrides, out)
    try:
        run.run(progress=False)
    finally:
        run.close()
    return RunDir(out)


def _reloaded_eval(run: Any, which: str, episodes: int) -> Any:
    """Greedy evaluation of a checkpoint loaded from disk, on the fixed eval seeds."""
    from trainer.evaluation import eval_seeds, evaluate

    env = run.make_env()
    try:
        return evaluate(env, run.greedy_policy(which), eval_seeds(episodes))
    finally:
        env.close()


def bench_cartpole(seeds: list[int], root: Path, overrides: list[str]) -> list[dict[str, Any]]:
    """Train CartPole-v1 DQN per seed and measure time-to-solve, speed and stability."""
    from trainer.metrics import read_csv

    results = []
    for seed in seeds:
        run = _train(
            "CartPole-v1", "dqn", seed, root / f"cartpole_s{seed}", ["eval_every=2000", *overrides]
        )
        rows = read_csv(run.path / "metrics.csv")
        solved = next((r for r in rows if float(r["eval_mean"]) >= SOLVED), None)
        steps, seconds = int(rows[-1]["step"]), float(rows[-1]["train_seconds"])
        result = {
            "seed": seed,
            "solve_steps": None if solved is None else int(solved["step"]),
            "solve_seconds": None if solved is None else float(solved["train_seconds"]),
            "steps_per_second": steps / seconds,
            "final": _reloaded_eval(run, "last", 10).mean,
            "best": _reloaded_eval(run, "best", 10).mean,
            "run": str(run.path),
        }
        results.append(result)
        _print_seed(result)
    return results


def _print_seed(r: dict[str, Any]) -> None:
    solve = (
        "not solved"
        if r["solve_steps"] is None
        else f"{r['solve_steps']:>6} steps {r['solve_seconds']:6.1f} s"
    )
    print(
        f"seed {r['seed']}: solved at {solve} | {r['steps_per_second']:6.0f} steps/s | "
        f"final {r['final']:6.1f} | best {r['best']:6.1f}",
        flush=True,
    )


def _print_medians(results: list[dict[str, Any]]) -> None:
    solved = [r for r in results if r["solve_steps"] is not None]
    n = len(results)

    def median(key: str, rows: list[dict[str, Any]]) -> float:
        return statistics.median(r[key] for r in rows) if rows else float("nan")

    print(
        f"median: solved {len(solved)}/{n} | at {median('solve_steps', solved):.0f} steps "
        f"{median('solve_seconds', solved):.1f} s | {median('steps_per_second', results):.0f} "
        f"steps/s | final {median('final', results):.1f} "
        f"(>= {SOLVED:.0f}: {sum(r['final'] >= SOLVED for r in results)}/{n}) | "
        f"best {median('best', results):.1f} "
        f"(>= {SOLVED:.0f}: {sum(r['best'] >= SOLVED for r in results)}/{n})"
    )


def quality(rows: list[QualityRow], seed: int, root: Path) -> list[dict[str, Any]]:
    """Train each row with its preset and evaluate the best checkpoint against the bar."""
    results = []
    for row in rows:
        name = f"{row.env_id.replace('/', '-')}__{row.algo}"
        run = _train(row.env_id, row.algo, seed, root / name, [])
        summary = run.summary
        cells = {}
        for which in ("best", "last"):
            evaluation = _reloaded_eval(run, which, row.episodes)
            cells[which] = (
                sum(r > 0 for r in evaluation.returns) / len(evaluation.returns)
                if row.metric == "success"
                else evaluation.mean
            )
        result = {
            "env_id": row.env_id,
            "algo": row.algo,
            "metric": row.metric,
            "episodes": row.episodes,
            "bar": row.bar,
            "steps": summary["steps"],
            "train_seconds": summary["train_seconds"],
            **cells,
            "passed": cells["best"] >= row.bar,
            "run": str(run.path),
        }
        results.append(result)
        print(
            f"{row.env_id:16} {row.algo:9} {row.metric:7} over {row.episodes:4} episodes: "
            f"best {cells['best']:8.2f}, last {cells['last']:8.2f} | bar {row.bar:g} "
            f"{'PASS' if result['passed'] else 'FAIL'} | {summary['steps']} steps, "
            f"{summary['train_seconds']:.0f} s",
            flush=True,
        )
    return results


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the CartPole benchmark or the quality table."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = argparse.ArgumentParser(prog="scripts/bench_train", description=__doc__)
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated training seeds")
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temp dir)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a CartPole DQN hyperparameter (try a preset change before editing it)",
    )  # fmt: skip
    parser.add_argument("--quality", action="store_true", help="run the quality table instead")
    parser.add_argument(
        "--only", action="append", default=[], metavar="ENV[:ALGO]",
        help="quality rows to run, e.g. --only Taxi-v4 --only CartPole-v1:qlearning",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated integers, found {args.seeds!r}")
    with tempfile.TemporaryDirectory(prefix="sim2pi-bench-") as tmp:
        root = args.out or Path(tmp)
        if args.quality:
            rows = [
                r
                for r in QUALITY_TABLE
                if not args.only or any(o in (r.env_id, f"{r.env_id}:{r.algo}") for o in args.only)
            ]
            if not rows:
                parser.error(f"--only {args.only}: matches no row of the quality table")
            results = quality(rows, seeds[0], root)
        else:
            results = bench_cartpole(seeds, root, args.overrides)
            _print_medians(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

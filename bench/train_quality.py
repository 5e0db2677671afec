"""The quality table: each shipped preset trained on several seeds, judged on its bar.

``scripts/bench_train --quality [--seeds 0,1,2,3,4] [--only ENV[:ALGO]]``. Each row trains its
preset once per seed, evaluates the best and the final checkpoint, reloaded from disk, greedily
on the evaluation seeds (which training never selected on), and counts the seeds where each
meets the row's bar. A row passes when the final checkpoint meets the bar on at least 4 of 5
seeds (scaled to the seeds given). Exit 1 when a row misses.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import record

FINAL_SHARE = 0.8  # the final checkpoint meets the bar on 4 of 5 seeds


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


def score(row: QualityRow, run: Any, which: str) -> float:
    """The row's metric of one checkpoint, reloaded from disk, on the evaluation seeds."""
    from bench.train_speed import reloaded_eval

    evaluation = reloaded_eval(run, which, row.episodes)
    if row.metric == "success":
        return sum(r > 0 for r in evaluation.returns) / len(evaluation.returns)
    return evaluation.mean


def run_row(row: QualityRow, seeds: list[int], root: Path) -> dict[str, Any]:
    """Train the row's preset on each seed; its per-seed figures and whether it passed."""
    from bench.train_speed import train

    per_seed = []
    for seed in seeds:
        name = f"{row.env_id.replace('/', '-')}__{row.algo}_s{seed}"
        run = train(row.env_id, row.algo, seed, root / name, [])
        summary = run.summary
        cells = {which: score(row, run, which) for which in ("best", "last")}
        per_seed.append(
            {
                "seed": seed,
                "steps": summary["steps"],
                "stopped_solved_at": summary.get("solved_step"),
                "best_step": summary["best"]["step"],
                "train_seconds": summary["train_seconds"],
                **cells,
            }
        )
        print(
            f"{row.env_id:16} {row.algo:9} seed {seed}: best {cells['best']:8.2f}, last "
            f"{cells['last']:8.2f} (bar {row.bar:g}) | {summary['steps']} steps, "
            f"{summary['train_seconds']:.0f} s",
            flush=True,
        )
    finals = sum(s["last"] >= row.bar for s in per_seed)
    needed = -(-FINAL_SHARE * len(seeds) // 1)
    return {
        **asdict(row),
        "seeds": per_seed,
        "final_meets_bar": finals,
        "best_meets_bar": sum(s["best"] >= row.bar for s in per_seed),
        "needed": int(needed),
        "passed": finals >= needed,
    }


def main(args: argparse.Namespace) -> int:
    """``scripts/bench_train --quality``: the rows asked for, on ``args.seed_list``."""
    rows = [
        r
        for r in QUALITY_TABLE
        if not args.only or any(o in (r.env_id, f"{r.env_id}:{r.algo}") for o in args.only)
    ]
    if not rows:
        print(f"scripts/bench_train: --only {args.only}: matches no row", file=sys.stderr)
        return 2
    env = record.environment(sys.argv[1:], prog="scripts/bench_train")
    record.print_environment(env)
    results = []
    with tempfile.TemporaryDirectory(prefix="sim2pi-quality-") as tmp:
        root = args.runs or Path(tmp)
        for row in rows:
            result = run_row(row, args.seed_list, root)
            results.append(result)
            print(
                f"{row.env_id} {row.algo}: final meets {row.bar:g} on {result['final_meets_bar']}"
                f"/{len(args.seed_list)}, best on {result['best_meets_bar']} -> "
                f"{'PASS' if result['passed'] else 'FAIL'} (needs {result['needed']})",
                flush=True,
            )
    # one name whatever --only picked (unless --name): the rows run are in the data, --only in
    # its command
    name = args.name or "train_quality"
    path = record.write_json(name, {"rows": results}, record.finish(env), args.out)
    print(f"wrote {path}")
    return 0 if all(r["passed"] for r in results) else 1

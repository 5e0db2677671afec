"""``scripts/bench_fit``'s retraining options and report; ``bench/fit_retrain.py`` does the work."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench import record


def add_retrain_arguments(parser: argparse.ArgumentParser) -> None:
    """``--retrain`` and the options of the runs it trains and evaluates."""
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="also train on each robot's fitted profile and its true values, export, and "
        "evaluate on fresh arenas (fit_retrain.json; hours at the preset's steps)",
    )
    parser.add_argument(
        "--retrain-from-bundle",
        action="store_true",
        help="start each run from the reference bundle's network (trainer train --init-from) "
        "instead of random weights: fine-tuning (fit_finetune_seedN.json, N the --retrain-seed)",
    )
    parser.add_argument(
        "--retrain-steps",
        type=int,
        default=None,
        metavar="N",
        help="training steps per run (default: the preset's total_steps)",
    )
    parser.add_argument(
        "--retrain-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a trainer --set for every run (e.g. eval_every=300000: evaluations do not change "
        "the last checkpoint)",
    )
    parser.add_argument(
        "--retrain-checkpoint",
        choices=("last", "best"),
        default="last",
        help="the checkpoint each run exports (default last; best: the run's own evaluations "
        "in its profile's env choose)",
    )
    parser.add_argument("--retrain-seed", type=int, default=1, help="training seed (default 1)")
    parser.add_argument(
        "--eval-seeds",
        type=int,
        default=3,
        help="bench_learning's evaluation seeds 1..N whose fresh arenas are used (default 3)",
    )
    parser.add_argument("--eval-arenas", type=int, default=20, help="arenas per seed (default 20)")
    parser.add_argument(
        "--work",
        type=Path,
        default=record.SCRATCH_DIR / "fit_retrain",
        help="where the profiles, runs and bundles go (kept; a rerun resumes unfinished runs)",
    )


def report_retrain(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    hidden: dict[str, dict[str, Any]],
    env: dict[str, Any],
) -> bool:
    """Run ``--retrain`` if asked, print and write its figures; whether its bars were met
    (True without ``--retrain``)."""
    if not args.retrain:
        return True
    from bench.fit_retrain import BUNDLE, retrain

    figures = retrain(
        rows,
        hidden,
        work=args.work,
        seed=args.retrain_seed,
        steps=args.retrain_steps,
        sets=tuple(args.retrain_set),
        init_from=BUNDLE if args.retrain_from_bundle else None,
        checkpoint=args.retrain_checkpoint,
        eval_seeds_n=args.eval_seeds,
        arenas_per_seed=args.eval_arenas,
        progress=lambda line: print(line, flush=True),
    )
    print(
        f"retrain: mean recovered share {figures['mean_recovered_share']} (bar >= 0.8); "
        f"pooled over the robots that lost: retrained "
        f"{figures['pooled_recovered_share']['retrained']}, oracle "
        f"{figures['pooled_recovered_share']['oracle']}; within 0.1 of the oracle: "
        f"{sum(r['oracle_gap_met'] for r in figures['rows'])} of {len(figures['rows'])}"
    )
    name = f"fit_finetune_seed{args.retrain_seed}" if args.retrain_from_bundle else "fit_retrain"
    print(f"wrote {record.write_json(name, figures, record.finish(env), args.out)}")
    return bool(figures["bars_met"])

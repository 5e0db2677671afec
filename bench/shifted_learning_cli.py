"""``scripts/bench_learning``: on-robot learning in a shifted world (figures + learning curve).

The harness is ``bench/shifted_learning.py`` (numpy only); this file adds the command line and
the PNG, so it needs the dev requirements (matplotlib). Prints the machine; writes the figures
with the record of ``bench/record.py`` to ``learning.json`` (``--json-dir``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import record  # noqa: E402
from bench.shifted_learning import (  # noqa: E402
    ADOPTED,
    RATE_HZ,
    SHIFTS,
    bench_seed,
    learning_curve,
    report,
    setting,
    settings_record,
    tuned,
)
from robot.config import LearningConfig, load_config  # noqa: E402
from shared.bundle import read_bundle  # noqa: E402


def plot_curve(curves: dict[str, np.ndarray], window_s: float, path: Path) -> None:
    """The learning curves as a PNG (needs matplotlib: the dev requirements)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, curve in curves.items():
        minutes = (np.arange(len(curve)) + 1) * window_s / 60.0
        style = "-" if label.endswith("learning") else "--"
        ax.plot(minutes, curve, style, marker=".", label=label)
    ax.set_xlabel("simulated minutes on the shifted robot")
    ax.set_ylabel(f"return per {window_s:.0f} s (window mean)")
    ax.set_title("On-robot learning in a shifted world (sim backend, mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``scripts/bench_learning``: run the benchmark, print and save the figures and the curve."""
    root = ROOT
    parser = argparse.ArgumentParser(prog="scripts/bench_learning", description=__doc__)
    parser.add_argument(
        "--bundle",
        type=Path,
        default=root / "reference_bundles/obstacle_avoid",
        help="bundle with a Q-table (default: the reference trained bundle)",
    )
    parser.add_argument(
        "--shift",
        choices=[*SHIFTS, "both", "all"],
        default=ADOPTED.name,
        help=f"which shifted world(s): default {ADOPTED.name!r} (the adopted one); 'both': "
        "literal and mismatched; 'all': every one",
    )
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds")
    parser.add_argument("--first-seed", type=int, default=1, help="seeds FIRST..FIRST+N-1")
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated minutes learning")
    parser.add_argument(
        "--learn-rooms",
        type=int,
        default=30,
        help="rooms the learning minutes are spread over, one after the other, the learner's "
        "state carried (default 30; 1: the seed's own arena throughout)",
    )
    parser.add_argument("--eval-arenas", type=int, default=20, help="fresh arenas per evaluation")
    parser.add_argument("--eval-minutes", type=float, default=1.0, help="per arena, from rest")
    parser.add_argument("--episode-s", type=float, default=60.0, help="return per this many s")
    parser.add_argument(
        "--set",
        type=setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a numeric [learning] key, or supervisor.KEY for a [supervisor] one "
        "(default: the defaults of robot.config)",
    )
    parser.add_argument(
        "--shift-trained",
        type=Path,
        metavar="BUNDLE",
        help="also evaluate this bundle's Q-table (same grid and actions; trained in a simulator "
        "with the shift, e.g. trainer train --env-arg ...) on the shifted robot's fresh arenas",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench_learning"), help="where the curve PNG goes"
    )
    parser.add_argument(
        "--json-dir",
        type=Path,
        default=None,
        help="where learning.json (figures + machine, versions, command) goes (default --out)",
    )
    args = parser.parse_args(argv)
    env = record.environment(sys.argv[1:] if argv is None else argv, prog="scripts/bench_learning")
    record.print_environment(env)
    bundle = read_bundle(args.bundle)
    if bundle.qtable_file is None:
        print(
            f"bench_learning: {args.bundle} has no qtable.npy; export with --qtable",
            file=sys.stderr,
        )
        return 2
    shift_trained = None
    if args.shift_trained is not None:
        other = read_bundle(args.shift_trained)
        why = mismatch(bundle, other)
        if why is not None:
            print(f"bench_learning: --shift-trained {args.shift_trained}: {why}", file=sys.stderr)
            return 2
        shift_trained = other.load_qtable()
    gpio = load_config(root / "robot/examples/reference_gpio.toml").hardware
    # The state dir is replaced by a temporary one per run.
    learning, supervisor = tuned(args.set, LearningConfig(state_dir=args.out))
    learn_ticks, eval_ticks = (
        int(args.minutes * 60 * RATE_HZ),
        int(args.eval_minutes * 60 * RATE_HZ),
    )
    episode_ticks = int(args.episode_s * RATE_HZ)
    shifts = {
        "all": list(SHIFTS.values()),
        "both": [SHIFTS["literal"], SHIFTS["mismatched"]],
    }.get(args.shift) or [SHIFTS[args.shift]]
    figures: dict[str, Any] = {
        "bundle": str(args.bundle),
        "seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
        "learn_minutes": args.minutes,
        "learn_rooms": args.learn_rooms,
        "eval_arenas": args.eval_arenas,
        "eval_minutes_per_arena": args.eval_minutes,
        "episode_s": args.episode_s,
        "learner": settings_record(learning, supervisor),
        "shift_trained": None if args.shift_trained is None else str(args.shift_trained),
    }
    curves: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for shift in shifts:
        seeds = [
            bench_seed(
                bundle,
                gpio,
                seed,
                learn_ticks=learn_ticks,
                eval_ticks=eval_ticks,
                learning=learning,
                supervisor=supervisor,
                shift=shift,
                eval_arenas=args.eval_arenas,
                learn_rooms=args.learn_rooms,
                shift_trained=shift_trained,
                progress=lambda line: print(line, flush=True),
            )
            for seed in range(args.first_seed, args.first_seed + args.seeds)
        ]
        figures[shift.name] = {**report(seeds, episode_ticks), "shift": shift.__dict__}
        for label, key in (("learning", "learning"), ("unlearned", "unlearned")):
            runs = [s[key].rewards for s in seeds]
            curves[f"{shift.name}: {label}"] = learning_curve(runs, episode_ticks, episode_ticks)
        print(json.dumps(figures[shift.name], indent=2, default=str), flush=True)
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_curve(curves, args.episode_s, args.out / "learning_curve.png")
    figures = json.loads(json.dumps(figures, default=str))  # numpy scalars, paths: plain JSON
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    path = record.write_json("learning", figures, record.finish(env), args.json_dir or args.out)
    print(f"wrote {path} (figures.json: the figures alone) and {args.out / 'learning_curve.png'}")
    met = all(figures[shift.name]["bar_met"] for shift in shifts)
    return 0 if met else 1


def mismatch(bundle: Any, other: Any) -> str | None:
    """Why ``other``'s Q-table cannot stand beside ``bundle``'s, or None if it can."""
    if other.qtable_file is None:
        return "it has no qtable.npy; export it with --qtable"
    if other.discretizer != bundle.discretizer:
        return (
            f"its grid {other.discretizer.n_bins} (edges {other.discretizer.edges}) is not the "
            f"bundle's {bundle.discretizer.n_bins} ({bundle.discretizer.edges}); export it with "
            "the bundle's --bins or --bin-edges"
        )
    if other.spec.actions != bundle.spec.actions:
        return (
            f"its actions {other.spec.actions.names} (with their motor commands) are not the "
            f"bundle's {bundle.spec.actions.names}"
        )
    return None


if __name__ == "__main__":
    raise SystemExit(main())

"""``scripts/bench_learning``: on-robot learning in a shifted world (figures + learning curve).

The harness is ``robot/bench_learning.py`` (numpy only); this file adds the command line and
the PNG, so it needs the dev requirements (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot.bench_learning import (  # noqa: E402
    RATE_HZ,
    Shift,
    bench_seed,
    learning_curve,
    report,
)
from robot.config import load_config  # noqa: E402
from robot.learner import LearnerSettings  # noqa: E402
from shared.bundle import read_bundle  # noqa: E402


def plot_curve(curves: dict[str, np.ndarray], window_s: float, path: Path) -> None:
    """The learning curve as a PNG (needs matplotlib: the dev requirements)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, curve in curves.items():
        minutes = (np.arange(len(curve)) + 1) * window_s / 60.0
        ax.plot(minutes, curve, marker=".", label=label)
    ax.set_xlabel("simulated minutes on the shifted robot")
    ax.set_ylabel(f"return per episode ({window_s:.0f} s window)")
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
    parser.add_argument("--bundle", type=Path, default=root / "tests/fixtures/obstacle_bundle")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N")
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated minutes learning")
    parser.add_argument("--eval-minutes", type=float, default=5.0, help="per greedy evaluation")
    parser.add_argument("--episode-s", type=float, default=60.0, help="return per this many s")
    parser.add_argument("--out", type=Path, default=Path("bench_learning"), help="output dir")
    args = parser.parse_args(argv)
    bundle = read_bundle(args.bundle)
    if bundle.qtable_file is None:
        print(
            f"bench_learning: {args.bundle} has no qtable.npy; export with --qtable",
            file=sys.stderr,
        )
        return 2
    gpio = load_config(root / "robot/examples/reference_gpio.toml").hardware.gpio
    settings = LearnerSettings(state_dir=args.out)  # the state dir is replaced by a temp dir
    learn_ticks, eval_ticks = (
        int(args.minutes * 60 * RATE_HZ),
        int(args.eval_minutes * 60 * RATE_HZ),
    )
    episode_ticks = int(args.episode_s * RATE_HZ)
    started = time.perf_counter()
    seeds = [
        bench_seed(
            bundle,
            gpio,
            seed,
            learn_ticks=learn_ticks,
            eval_ticks=eval_ticks,
            settings=settings,
            progress=print,
        )
        for seed in range(1, args.seeds + 1)
    ]
    figures = report(seeds, episode_ticks)
    figures.update(
        seeds=args.seeds,
        learn_minutes=args.minutes,
        eval_minutes=args.eval_minutes,
        episode_s=args.episode_s,
        shift=Shift().__dict__,
        wall_s=round(time.perf_counter() - started, 1),
        bundle=str(args.bundle),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    curves = {
        name: learning_curve([s[key].rewards for s in seeds], episode_ticks, episode_ticks)
        for name, key in (("learning", "learning"), ("unlearned", "unlearned"))
    }
    plot_curve(curves, args.episode_s, args.out / "learning_curve.png")
    print(json.dumps(figures, indent=2))
    print(f"wrote {args.out / 'figures.json'} and {args.out / 'learning_curve.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

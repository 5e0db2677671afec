"""``python -m trainer eval RUN_DIR``: greedy returns of a checkpoint, optionally as a GIF."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import UsageError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``eval`` and its options."""
    parser = subparsers.add_parser(
        "eval",
        help="greedy evaluation of a run's checkpoint",
        description="Run greedy episodes of a run's checkpoint on the run's fixed eval seeds "
        "(extended as needed) and print mean, std, min and max of the returns.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    parser.add_argument("--episodes", type=int, default=10, help="episodes (default 10)")
    parser.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which (default best)"
    )
    parser.add_argument(
        "--render",
        choices=("gif",),
        help="also write RUN_DIR/eval_{checkpoint}.gif of the first episode",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the statistics; 0 on success."""
    from trainer.evaluation import eval_seeds, evaluate
    from trainer.rundir import RunDir

    if args.episodes < 1:
        raise UsageError(f"--episodes: expected a positive number, found {args.episodes}")
    run_dir = RunDir(args.run_dir)
    act = run_dir.greedy_policy(args.checkpoint)
    seeds = eval_seeds(args.episodes)
    env = run_dir.make_env()
    result = evaluate(env, act, seeds)
    env.close()
    s = result.as_dict()
    print(
        f"{run_dir.env_id} {run_dir.algo} {args.checkpoint}: mean {s['mean']:.2f} "
        f"std {s['std']:.2f} min {s['min']:.2f} max {s['max']:.2f} "
        f"over {s['episodes']} episodes"
    )
    if args.render == "gif":
        path = _render_gif(run_dir, act, seeds[0], args.run_dir / f"eval_{args.checkpoint}.gif")
        print(f"wrote {path}")
    return 0


def _render_gif(run_dir: Any, act: Any, seed: int, path: Path) -> Path:
    """Render one greedy episode with ``render_mode="rgb_array"`` into an animated GIF."""
    from PIL import Image

    from trainer.evaluation import evaluate

    try:
        env = run_dir.make_env(render_mode="rgb_array")
        frames: list[np.ndarray] = []
        evaluate(env, act, [seed], on_frame=frames.append)
        env.close()
    except ImportError as exc:  # classic-control and toy-text rendering need pygame
        raise UsageError(
            f"--render gif: rendering {run_dir.env_id} needs a package that is missing ({exc}); "
            "install it, e.g. pip install pygame"
        ) from None
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    fps = int(run_dir.make_env().metadata.get("render_fps", 30) or 30)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path

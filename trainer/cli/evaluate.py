"""``python -m trainer eval RUN_DIR``: greedy returns of a checkpoint, optionally as a GIF."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import UsageError

#: The GIF's highest frame rate: an env that renders faster is shown every k-th step (GIF delays
#: are whole centiseconds, and viewers slow down delays under 20 ms).
GIF_MAX_FPS = 10.0


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
    parser.add_argument(
        "--robot-profile",
        type=Path,
        metavar="PATH",
        help="evaluate in the run's env with its robot replaced by this robot profile's: robot "
        "keys the profile leaves out take the simulator's defaults, the arena and episodes stay "
        "the run's (docs/training.md, Robot profiles)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the statistics; 0 on success."""
    from trainer.evaluation import eval_seeds, evaluate
    from trainer.robot_profile import instead_line, profile_for
    from trainer.rundir import RunDir

    if args.episodes < 1:
        raise UsageError(f"--episodes: expected a positive number, found {args.episodes}")
    run_dir = RunDir(args.run_dir)
    env_overrides: dict[str, Any] = {}
    if args.robot_profile is not None:
        recorded = dict(run_dir.config.get("env_kwargs") or {})
        profile, env_kwargs = profile_for(args.robot_profile, run_dir.env_id, recorded)
        env_overrides = env_kwargs
        print(instead_line(profile, "evaluating", env_kwargs, recorded))
    act = run_dir.greedy_policy(args.checkpoint)
    seeds = eval_seeds(args.episodes)
    env = run_dir.make_env(**env_overrides)
    result = evaluate(env, act, seeds)
    env.close()
    s = result.as_dict()
    print(
        f"{run_dir.env_id} {run_dir.algo} {args.checkpoint}: mean {s['mean']:.2f} "
        f"std {s['std']:.2f} min {s['min']:.2f} max {s['max']:.2f} "
        f"over {s['episodes']} episodes"
    )
    if args.render == "gif":
        gif = args.run_dir / f"eval_{args.checkpoint}.gif"
        path = _render_gif(run_dir, act, seeds[0], gif, env_overrides)
        print(f"wrote {path}")
    return 0


def _render_gif(
    run_dir: Any, act: Any, seed: int, path: Path, env_overrides: dict[str, Any] | None = None
) -> Path:
    """Render one greedy episode with ``render_mode="rgb_array"`` into an animated GIF.

    The GIF plays in real time at no more than ``GIF_MAX_FPS`` frames per second, so only every
    k-th step is rendered (and the last); frames share one palette, chosen once
    (``_GifFrames``). Offscreen rendering needs no display: SDL (pygame, which Gymnasium's
    classic-control and toy-text renderers use) gets its dummy video driver unless one is set.
    """
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # else SDL asks for XDG_RUNTIME_DIR
    try:
        env = run_dir.make_env(**{**(env_overrides or {}), "render_mode": "rgb_array"})
        try:
            fps = float(env.metadata.get("render_fps", 30) or 30)
            every = _frame_stride(fps)
            frames = _GifFrames(duration_ms=1000.0 * every / fps)
            _episode_frames(env, act, seed, every, frames.add)
        finally:
            env.close()
    except ImportError as exc:  # classic-control and toy-text rendering need pygame
        raise UsageError(
            f"--render gif: rendering {run_dir.env_id} needs a package that is missing ({exc}); "
            "install it, e.g. pip install pygame"
        ) from None
    return frames.save(path)


def _episode_frames(
    env: Any, act: Any, seed: int, every: int, on_frame: Callable[[np.ndarray], None]
) -> None:
    """Run one greedy episode on ``seed`` (as ``evaluate`` does), rendering every ``every``-th
    step, the first and the last."""
    obs, _ = env.reset(seed=int(seed))
    on_frame(env.render())
    step, done = 0, False
    while not done:
        obs, _, terminated, truncated, _ = env.step(act(obs))
        step += 1
        done = bool(terminated or truncated)
        if done or step % every == 0:
            on_frame(env.render())


def _frame_stride(fps: float) -> int:
    """Show every k-th step so that the GIF runs at most ``GIF_MAX_FPS`` frames per second."""
    return max(1, math.ceil(fps / GIF_MAX_FPS - 1e-9))


class _GifFrames:
    """A GIF's frames, each turned into palette indices as it comes, on one palette.

    Up to 256 colours in the episode (sim2pi's top view has 8), the palette holds exactly the
    colours seen, in order of appearance, and the GIF is the frames pixel for pixel. Beyond 256
    (a renderer that blends colours), the first frame that overflows is quantized once and later
    frames are mapped onto that palette.
    """

    def __init__(self, duration_ms: float) -> None:
        self.duration_ms = duration_ms
        self._known = np.zeros(0, dtype=np.uint32)  # colour keys 0xRRGGBB, sorted
        self._index = np.zeros(0, dtype=np.uint8)  # the palette index of each of _known
        self._exact: list[Any] = []  # palette images on the exact palette
        self._images: list[Any] = []  # all frames, in order
        self._fallback: Any = None  # the quantized palette image once colours overflow

    def add(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` RGB frame."""
        from PIL import Image

        rgb = np.asarray(frame, dtype=np.uint8)
        if self._fallback is None:
            keys = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8)
            keys |= rgb[..., 2]
            position = np.searchsorted(self._known, keys)
            found = position < len(self._known)
            found[found] = self._known[position[found]] == keys[found]
            if not found.all():
                new = np.unique(keys[~found])
                if len(self._known) + len(new) <= 256:
                    self._learn(new)
                    position = np.searchsorted(self._known, keys)
                    found[:] = True
            if found.all():
                height, width = keys.shape
                image = Image.frombytes("P", (width, height), self._index[position].tobytes())
                self._exact.append(image)
                self._images.append(image)
                return
            self._fallback = Image.fromarray(rgb).quantize(256)
        image = Image.fromarray(rgb).quantize(palette=self._fallback, dither=Image.Dither.NONE)
        self._images.append(image)

    def _learn(self, new: np.ndarray) -> None:
        """Add colours (keys) at the next palette indices."""
        first = len(self._known)
        keys = np.concatenate([self._known, new])
        index = np.concatenate([self._index, np.arange(first, first + len(new), dtype=np.uint8)])
        order = np.argsort(keys, kind="stable")
        self._known, self._index = keys[order], index[order]

    def save(self, path: Path) -> Path:
        """Write the animated GIF (looping) to ``path``."""
        if not self._images:
            raise ValueError("a GIF needs at least one frame")
        by_index = self._known[np.argsort(self._index, kind="stable")]
        palette = np.stack([(by_index >> 16) & 255, (by_index >> 8) & 255, by_index & 255], 1)
        flat = palette.astype(np.uint8).ravel().tolist()
        for image in self._exact:
            image.putpalette(flat)
        first, *rest = self._images
        first.save(
            path, save_all=True, append_images=rest, duration=round(self.duration_ms), loop=0
        )
        return path

"""``eval --render gif``: every k-th step at most ``GIF_MAX_FPS``, frames exact on one palette,
no display needed; the robot task's top view drawn fast and pixel for pixel as before."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from trainer.cli.evaluate import GIF_MAX_FPS, _frame_stride, _GifFrames

pytestmark = pytest.mark.trainer

ROOT = Path(__file__).resolve().parents[2]


def _decoded(path: Path) -> list[np.ndarray]:
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]


@pytest.mark.parametrize(("fps", "stride"), [(4, 1), (10, 1), (15, 2), (20, 2), (50, 5)])
def test_frame_stride_keeps_the_gif_at_most_max_fps(fps: float, stride: int) -> None:
    assert _frame_stride(fps) == stride
    assert fps / stride <= GIF_MAX_FPS


def test_frames_with_few_colours_come_back_pixel_for_pixel(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (200, 3), dtype=np.uint8)
    colours[1] = colours[0] ^ np.array([1, 0, 0], dtype=np.uint8)  # one bit apart
    frames = [colours[rng.integers(0, 120, (30, 40))] for _ in range(3)]
    frames.append(colours[rng.integers(100, 200, (30, 40))])  # new colours late in the episode
    gif = _GifFrames(duration_ms=100)
    for frame in frames:
        gif.add(frame)
    decoded = _decoded(gif.save(tmp_path / "exact.gif"))
    assert len(decoded) == len(frames)
    for got, want in zip(decoded, frames, strict=True):
        np.testing.assert_array_equal(got, want)


def test_more_than_256_colours_are_quantized_once(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    few = np.zeros((20, 20, 3), dtype=np.uint8)
    many = rng.integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)  # ~400 colours each
    gif = _GifFrames(duration_ms=50)
    for frame in (few, many[0], many[1], few):
        gif.add(frame)
    decoded = _decoded(gif.save(tmp_path / "many.gif"))
    assert len(decoded) == 4
    np.testing.assert_array_equal(decoded[0], few)


def _reference_top_view(world: object, observation: np.ndarray) -> np.ndarray:
    """The top view drawn whole for every frame (the renderer before its static layer)."""
    from trainer.envs import obstacle_avoid_render as r

    arena, size = world.arena, r.FRAME_PX  # type: ignore[attr-defined]
    scale = (size - 8) / max(arena.width_m, arena.height_m)
    image = np.full((size, size, 3), r._WHITE, dtype=np.uint8)
    rows, cols = np.mgrid[0:size, 0:size]
    px_x, px_y = (cols + 0.5 - 4) / scale, (size - 4 - rows - 0.5) / scale
    inside = (px_x >= 0) & (px_x <= arena.width_m) & (px_y >= 0) & (px_y <= arena.height_m)
    image[~inside] = r._WALL
    for x0, y0, x1, y1 in arena.lines:
        r._draw_segment(image, scale, (x0, y0), (x1, y1), r._LINE, width_px=2)
    for cx, cy, rad in arena.discs:
        image[(px_x - cx) ** 2 + (px_y - cy) ** 2 <= rad * rad] = r._OBSTACLE
    for x0, y0, x1, y1 in arena.boxes:
        image[(px_x >= x0) & (px_x <= x1) & (px_y >= y0) & (px_y <= y1)] = r._OBSTACLE
    pose = world.pose  # type: ignore[attr-defined]
    cos_h, sin_h = math.cos(pose.heading_rad), math.sin(pose.heading_rad)
    for sensor, reading in zip(world.sensors, world.ranges_m(), strict=True):  # type: ignore[attr-defined]
        sx = pose.x_m + sensor.x_m * cos_h - sensor.y_m * sin_h
        sy = pose.y_m + sensor.x_m * sin_h + sensor.y_m * cos_h
        angle = pose.heading_rad + sensor.angle_rad
        length = float(observation.max()) if reading is None else reading
        colour = r._NO_ECHO if reading is None else r._RAY
        end = (sx + length * math.cos(angle), sy + length * math.sin(angle))
        r._draw_segment(image, scale, (sx, sy), end, colour, width_px=1)
    radius = world.robot_radius_m  # type: ignore[attr-defined]
    body = (px_x - pose.x_m) ** 2 + (px_y - pose.y_m) ** 2 <= radius**2
    image[body] = r._COLLISION if world.collided else r._ROBOT  # type: ignore[attr-defined]
    nose = (pose.x_m + radius * cos_h, pose.y_m + radius * sin_h)
    r._draw_segment(image, scale, (pose.x_m, pose.y_m), nose, r._HEADING, width_px=2)
    return image


def test_top_view_is_the_whole_drawing_pixel_for_pixel() -> None:
    gymnasium = pytest.importorskip("gymnasium")
    import trainer.envs  # noqa: F401  (registers sim2pi/ObstacleAvoid-v0)
    from trainer.envs.obstacle_avoid_render import draw_top_view

    env = gymnasium.make("sim2pi/ObstacleAvoid-v0", render_mode="rgb_array")
    rng = np.random.default_rng(2)
    for seed in range(3):
        env.reset(seed=seed)
        world = env.unwrapped.world
        for step in range(60):  # random driving: turns, walls, contacts
            if step % 6 == 0:
                want = _reference_top_view(world, env.unwrapped._observation)
                np.testing.assert_array_equal(
                    draw_top_view(world, env.unwrapped._observation), want
                )
            env.step(int(rng.integers(env.action_space.n)))
    env.close()


def test_rendering_a_gif_needs_no_display(tmp_path: Path) -> None:
    """Gymnasium's CartPole renders through pygame/SDL: no ``XDG_RUNTIME_DIR`` error."""
    pytest.importorskip("pygame")
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        import gymnasium
        from trainer.cli.evaluate import _render_gif

        class Run:
            env_id = "CartPole-v1"
            def make_env(self, **kwargs):
                return gymnasium.make("CartPole-v1", **kwargs)

        print(_render_gif(Run(), lambda obs: int(obs[2] > 0), 7, Path(sys.argv[1])))
        """
    )
    drop = ("XDG_RUNTIME_DIR", "SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    out = tmp_path / "cartpole.gif"
    result = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "XDG_RUNTIME_DIR" not in result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert len(_decoded(out)) > 1

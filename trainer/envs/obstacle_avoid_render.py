"""The top view of ``sim2pi/ObstacleAvoid-v0`` (``render_mode="rgb_array"``), numpy only."""

from __future__ import annotations

import math

import numpy as np

from shared.world import World

#: Side (px) of the square ``rgb_array`` frame.
FRAME_PX = 400

_WHITE = (255, 255, 255)
_WALL = (60, 60, 60)
_OBSTACLE = (150, 150, 150)
_LINE = (20, 20, 20)
_ROBOT = (40, 90, 200)
_HEADING = (255, 255, 255)
_RAY = (30, 170, 60)
_NO_ECHO = (220, 60, 60)
_COLLISION = (220, 40, 40)


def draw_top_view(world: World, observation: np.ndarray) -> np.ndarray:
    """Draw the arena, obstacles, robot and sensor rays into a FRAME_PX² RGB image."""
    arena = world.arena
    scale = (FRAME_PX - 8) / max(arena.width_m, arena.height_m)  # px per metre, 4 px margin
    image = np.full((FRAME_PX, FRAME_PX, 3), _WHITE, dtype=np.uint8)
    rows, cols = np.mgrid[0:FRAME_PX, 0:FRAME_PX]
    # Pixel centres in arena metres (y up).
    px_x = (cols + 0.5 - 4) / scale
    px_y = (FRAME_PX - 4 - rows - 0.5) / scale
    inside = (px_x >= 0) & (px_x <= arena.width_m) & (px_y >= 0) & (px_y <= arena.height_m)
    image[~inside] = _WALL
    for x0, y0, x1, y1 in arena.lines:
        _draw_segment(image, scale, (x0, y0), (x1, y1), _LINE, width_px=2)
    for cx, cy, r in arena.discs:
        image[(px_x - cx) ** 2 + (px_y - cy) ** 2 <= r * r] = _OBSTACLE
    for x0, y0, x1, y1 in arena.boxes:
        image[(px_x >= x0) & (px_x <= x1) & (px_y >= y0) & (px_y <= y1)] = _OBSTACLE
    pose = world.pose
    cos_h, sin_h = math.cos(pose.heading_rad), math.sin(pose.heading_rad)
    for sensor, reading in zip(world.sensors, world.ranges_m(), strict=True):
        sx = pose.x_m + sensor.x_m * cos_h - sensor.y_m * sin_h
        sy = pose.y_m + sensor.x_m * sin_h + sensor.y_m * cos_h
        angle = pose.heading_rad + sensor.angle_rad
        length = float(observation.max()) if reading is None else reading
        colour = _NO_ECHO if reading is None else _RAY
        end = (sx + length * math.cos(angle), sy + length * math.sin(angle))
        _draw_segment(image, scale, (sx, sy), end, colour, width_px=1)
    body = (px_x - pose.x_m) ** 2 + (px_y - pose.y_m) ** 2 <= world.robot_radius_m**2
    image[body] = _COLLISION if world.collided else _ROBOT
    nose = (pose.x_m + world.robot_radius_m * cos_h, pose.y_m + world.robot_radius_m * sin_h)
    _draw_segment(image, scale, (pose.x_m, pose.y_m), nose, _HEADING, width_px=2)
    return image


def _draw_segment(
    image: np.ndarray,
    scale: float,
    start_m: tuple[float, float],
    end_m: tuple[float, float],
    colour: tuple[int, int, int],
    *,
    width_px: int,
) -> None:
    """Draw a line between two arena points (m) by stamping pixels along it."""
    size = image.shape[0]
    length_px = math.hypot(end_m[0] - start_m[0], end_m[1] - start_m[1]) * scale
    samples = np.linspace(0.0, 1.0, max(2, int(length_px * 2)))
    xs = start_m[0] + samples * (end_m[0] - start_m[0])
    ys = start_m[1] + samples * (end_m[1] - start_m[1])
    cols = np.floor(xs * scale + 4).astype(int)
    rows = np.floor(size - 4 - ys * scale).astype(int)
    for dr in range(width_px):
        for dc in range(width_px):
            r, c = rows + dr, cols + dc
            keep = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            image[r[keep], c[keep]] = colour

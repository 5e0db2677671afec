"""The top view of ``sim2pi/ObstacleAvoid-v0`` (``render_mode="rgb_array"``), numpy only.

An episode keeps its arena, so the static layer (walls, floor lines, obstacles) is drawn once per
arena and copied for each frame; only the rays and the robot are drawn per frame, the robot's
disc within its bounding box. The frames are pixel for pixel what drawing everything anew gives.
"""

from __future__ import annotations

import math

import numpy as np

from shared.world import Arena, World

#: Side (px) of the square ``rgb_array`` frame.
FRAME_PX = 400
#: Margin (px) around the arena.
_MARGIN_PX = 4

_WHITE = (255, 255, 255)
_WALL = (60, 60, 60)
_OBSTACLE = (150, 150, 150)
_LINE = (20, 20, 20)
_ROBOT = (40, 90, 200)
_HEADING = (255, 255, 255)
_RAY = (30, 170, 60)
_NO_ECHO = (220, 60, 60)
_COLLISION = (220, 40, 40)
#: Every colour a frame can hold (a GIF's palette can be these exactly).
PALETTE: tuple[tuple[int, int, int], ...] = (
    _WHITE,
    _WALL,
    _OBSTACLE,
    _LINE,
    _ROBOT,
    _RAY,
    _NO_ECHO,
    _COLLISION,
)


class _Static:
    """The arena's layer of a frame and the pixel centres' arena coordinates (m, y up)."""

    def __init__(self, arena: Arena) -> None:
        self.arena = arena
        self.scale = (FRAME_PX - 2 * _MARGIN_PX) / max(arena.width_m, arena.height_m)  # px/m
        index = np.arange(FRAME_PX)
        self.px_x = (index + 0.5 - _MARGIN_PX) / self.scale  # by column
        self.px_y = (FRAME_PX - _MARGIN_PX - index - 0.5) / self.scale  # by row
        x, y = self.px_x[None, :], self.px_y[:, None]
        image = np.full((FRAME_PX, FRAME_PX, 3), _WHITE, dtype=np.uint8)
        inside = (x >= 0) & (x <= arena.width_m) & (y >= 0) & (y <= arena.height_m)
        image[~inside] = _WALL
        for x0, y0, x1, y1 in arena.lines:
            _draw_segment(image, self.scale, (x0, y0), (x1, y1), _LINE, width_px=2)
        for cx, cy, r in arena.discs:
            image[(x - cx) ** 2 + (y - cy) ** 2 <= r * r] = _OBSTACLE
        for x0, y0, x1, y1 in arena.boxes:
            image[(x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)] = _OBSTACLE
        image.flags.writeable = False
        self.image = image


#: The newest arena's layer (one slot: an episode's frames share one arena).
_last: list[_Static] = []


def _static(arena: Arena) -> _Static:
    """The static layer of ``arena``, drawn once while frames of the same arena follow."""
    if not _last or _last[0].arena is not arena:
        _last[:] = [_Static(arena)]
    return _last[0]


def draw_top_view(world: World, observation: np.ndarray) -> np.ndarray:
    """Draw the arena, obstacles, robot and sensor rays into a FRAME_PX² RGB image."""
    static = _static(world.arena)
    scale = static.scale
    image = static.image.copy()
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
    radius = world.robot_radius_m
    cols = _span(static.px_x, pose.x_m, radius, scale)
    rows = _span(static.px_y, pose.y_m, radius, scale)
    body = (static.px_x[None, cols] - pose.x_m) ** 2 + (
        static.px_y[rows, None] - pose.y_m
    ) ** 2 <= radius**2
    image[rows, cols][body] = _COLLISION if world.collided else _ROBOT
    nose = (pose.x_m + radius * cos_h, pose.y_m + radius * sin_h)
    _draw_segment(image, scale, (pose.x_m, pose.y_m), nose, _HEADING, width_px=2)
    return image


def _span(centres_m: np.ndarray, at_m: float, radius_m: float, scale: float) -> slice:
    """The pixels whose centres (``centres_m``, monotonic) can lie within ``radius_m`` of
    ``at_m``, with a pixel to spare on each side."""
    first = (centres_m[0] - at_m) * scale  # px from at_m to the first centre, signed
    step = 1.0 if centres_m[-1] > centres_m[0] else -1.0
    middle = -first * step
    reach = radius_m * scale + 2
    low = max(0, math.floor(middle - reach))
    high = min(len(centres_m), math.ceil(middle + reach) + 1)
    return slice(low, max(low, high))


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
    cols = np.floor(xs * scale + _MARGIN_PX).astype(int)
    rows = np.floor(size - _MARGIN_PX - ys * scale).astype(int)
    for dr in range(width_px):
        for dc in range(width_px):
            r, c = rows + dr, cols + dc
            keep = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            image[r[keep], c[keep]] = colour

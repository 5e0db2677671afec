"""The ``sim`` backend's ground truth during a calibration drive: where the robot went, and
whether it touched anything. Tests and the benchmark check it; the fit never sees it (a real
robot has no such truth)."""

from __future__ import annotations

import math
from typing import Any


class SimTruth:
    """The ``sim`` backend's world, followed during the drive: how far the robot got from its
    start, and whether it touched anything (what a test or a benchmark checks; the fitter never
    sees it)."""

    def __init__(self, world: Any, latency_ticks: int = 0) -> None:
        self.world = world
        self.latency_ticks = latency_ticks
        self.start_pose = world.pose
        self.farthest_m = 0.0
        self.contact_steps = 0
        self._following = False

    @classmethod
    def follow(cls, backend: Any) -> SimTruth | None:
        """Follow the sim backend's world (None on other backends)."""
        world = getattr(backend.hardware, "world", None)
        hooks = getattr(backend.clock, "after_step", None)
        if world is None or hooks is None:
            return None
        truth = cls(world, getattr(backend.clock, "latency_ticks", 0))
        hooks.append(truth._after_step)
        return truth

    def start(self) -> None:
        """The drive begins: measure from here."""
        self.start_pose = self.world.pose
        self._following = True

    def _after_step(self) -> None:
        if not self._following:
            return
        pose, start = self.world.pose, self.start_pose
        self.farthest_m = max(
            self.farthest_m, math.hypot(pose.x_m - start.x_m, pose.y_m - start.y_m)
        )
        self.contact_steps += int(self.world.collided or self.world.in_contact)

    def report(self) -> dict[str, Any]:
        """The ground truth, JSON-ready."""
        start, end = self.start_pose, self.world.pose
        return {
            "start_pose": [start.x_m, start.y_m, start.heading_rad],
            "end_pose": [end.x_m, end.y_m, end.heading_rad],
            "farthest_from_start_m": round(self.farthest_m, 6),
            "contact_steps": self.contact_steps,
            "drive": _steps_driven(self.world),
            "robot": _robot(self.world, self.latency_ticks),
        }


def _robot(world: Any, latency_ticks: int) -> dict[str, Any]:
    """The hidden robot's parameters: what a fit should find (``[hardware.sim]``'s robot keys)."""
    drive, sensors = world.drive, world.sensors
    side = max(abs(sensor.angle_rad) for sensor in sensors)
    return {
        "left_gain": drive.left_gain,
        "right_gain": drive.right_gain,
        "dead_band": drive.dead_band,
        "time_constant_s": drive.time_constant_s,
        "latency_ticks": latency_ticks,
        "side_ranger_deg": round(math.degrees(side), 9),
        "noise_std_m": max(sensor.noise_std_m for sensor in sensors),
        "dropout_prob": max(sensor.dropout_prob for sensor in sensors),
        "wheel_radius_m": drive.wheel_radius_m,
        "wheel_base_m": drive.wheel_base_m,
        "max_wheel_speed_rad_s": drive.max_wheel_speed_rad_s,
    }


def _steps_driven(world: Any) -> dict[str, float]:
    return {
        "time_s": round(world.time_s, 6),
        "distance_travelled_m": round(world.distance_travelled_m, 6),
    }

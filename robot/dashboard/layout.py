"""What the page is drawn from: the bundle's channel and action names, the rangers' angles."""

from __future__ import annotations

import math
from pathlib import Path

from robot.config import RobotConfig
from robot.dashboard.state import Layout
from shared.bundle.read import read_manifest
from shared.errors import Sim2PiError
from shared.reference_robot import RANGE_CHANNELS
from shared.spec import TaskSpec
from shared.world import REFERENCE_SENSOR_ANGLE_RAD

#: The reference robot's rangers (degrees, counter-clockwise from straight ahead), by channel.
RANGER_DEG = dict(
    zip(
        RANGE_CHANNELS,
        (math.degrees(REFERENCE_SENSOR_ANGLE_RAD), 0.0, -math.degrees(REFERENCE_SENSOR_ANGLE_RAD)),
        strict=True,
    )
)


def layout_for(config: RobotConfig, telemetry_path: Path) -> tuple[Layout, str | None]:
    """The page's layout for ``config``, and why the bundle could not be read (or None).

    The bundle's manifest is read (within limits, not verified: the dashboard runs no model);
    without it the page shows channels and actions by index.
    """
    every = config.telemetry.every_n_ticks
    base = Layout(
        telemetry_path=str(telemetry_path),
        refresh_hz=config.dashboard.refresh_hz,
        every_n_ticks=every,
        bundle="?",
    )
    path = config.bundle.path
    try:
        manifest = read_manifest(path)
        spec = TaskSpec.from_dict(manifest.get("spec"), f"{path}/manifest.json: spec")
    except (Sim2PiError, OSError) as exc:
        return base, f"bundle {path}: {exc}"
    channels = spec.observation.names
    angles = tuple(RANGER_DEG.get(name) for name in channels)
    layout = Layout(
        channels=tuple(channels),
        ranger_deg=angles,
        actions=tuple(action.name for action in spec.actions.actions),
        telemetry_path=str(telemetry_path),
        refresh_hz=config.dashboard.refresh_hz,
        every_n_ticks=every,
        bundle=f"{Path(path).name} ({spec.env_id})",
    )
    return layout, None

"""A backend that is a simulated world with episodes, not a robot: what the loop asks of it.

The laptop's ``gym`` backend (``trainer.sil_hardware``, software in the loop) is one; nothing
under ``robot/`` is. Beyond ``Hardware`` it can be driven by action index (a bundle whose actions
have no motor commands, e.g. CartPole's, drives it so: no motor exists to turn), it counts its
episodes (``run --episodes N`` ends after N), and it reports them for the exit summary.

Which bundles may drive which backend is decided in one place, ``robot.runtime.compose.
check_actions`` (``run`` and ``check`` alike); the loop refuses a bundle without motor commands
on any backend that is not such a world, as a second line of defence.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from robot.errors import SpecMismatchError
from robot.hardware.base import Hardware
from shared.spec import TaskSpec


@runtime_checkable
class EpisodicWorld(Protocol):
    """A simulated world the loop drives in episodes (the laptop's ``gym`` backend)."""

    def drive_action(self, index: int) -> None:
        """Step the world once with action ``index`` of the bundle's action table."""
        ...

    def episodes_ended(self) -> int:
        """How many episodes have ended since the backend opened."""
        ...

    def episodes_summary(self) -> dict[str, Any]:
        """The ended episodes for the exit summary: ``seeds``, ``returns``, ``lengths``, ..."""
        ...


def has_motor_commands(spec: TaskSpec) -> bool:
    """Whether every action of ``spec`` has a motor command (a robot task's spec)."""
    return all(action.motor is not None for action in spec.actions)


def world_of(hardware: Hardware) -> EpisodicWorld | None:
    """``hardware`` as an episodic world, or None when it is a robot's backend."""
    return hardware if isinstance(hardware, EpisodicWorld) else None


def action_world(spec: TaskSpec, hardware: Hardware) -> EpisodicWorld | None:
    """The world to drive by action index when ``spec``'s actions have no motor commands; None
    when they have them (the hardware takes motor commands). SpecMismatchError when they have
    none and ``hardware`` is a robot's backend: nothing could turn a motor."""
    if has_motor_commands(spec):
        return None
    world = world_of(hardware)
    if world is None:
        raise SpecMismatchError(
            f"bundle spec {spec.env_id!r}: its actions {list(spec.actions.names)} have no motor "
            f"commands, so they cannot drive the {hardware.name or 'robot'} backend's motors; "
            "export a robot task's bundle, or run this one in software in the loop "
            "([hardware] backend = 'gym', python -m trainer sil run)"
        )
    return world

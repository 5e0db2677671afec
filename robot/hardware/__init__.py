"""Hardware backends behind one small interface (``base.Hardware``): gpio, serial, sim, gym.

``Hardware`` and ``Snapshot`` are what the trainer may use (``robot.TRAINER_SURFACE``): its
``gym`` backend implements the interface.
"""

from robot.hardware.base import Hardware, Snapshot

__all__ = ["Hardware", "Snapshot"]

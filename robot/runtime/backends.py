"""Opening the configured hardware backend, and the clock the control loop runs on with it.

Backends that live outside ``robot/`` come in as an argument, by name: the laptop's
``trainer.sil_hardware`` passes ``{"gym": open_gym}`` to ``robot.cli.main`` (Gymnasium is a
laptop-only dependency, so ``robot/`` never imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any

from robot.config import GpioConfig, GymConfig, RobotConfig, SerialConfig, SimConfig
from robot.control.clock import Clock
from robot.errors import HardwareError
from robot.hardware.base import Hardware
from shared.bundle import Bundle

#: Opens a backend that lives outside ``robot/``: (its config section, the bundle, the clock's
#: ``now`` in seconds) → the backend. The bundle, not only its spec: the ``gym`` backend makes its
#: env with the keyword arguments the bundle's training run recorded in its manifest.
HardwareFactory = Callable[[Any, Any, Callable[[], float]], Hardware]


@dataclass(frozen=True)
class BackendOptions:
    """What the caller of the robot's CLI passes down to the backend it opens."""

    #: gpiozero's pin factory for the ``gpio`` backend (None: gpiozero's own choice; tests
    #: pass a ``MockFactory``).
    pin_factory: Any = None
    #: Backends that live outside ``robot/``, by ``[hardware] backend`` name.
    backends: Mapping[str, HardwareFactory] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class OpenedBackend:
    """An opened backend and the clock the loop must run on with it; closing closes the backend."""

    hardware: Hardware
    #: The clock it was opened with, or the backend's own: the ``sim`` backend's world keeps
    #: simulated time, which moves when the loop waits (faster than real time).
    clock: Clock

    def __enter__(self) -> OpenedBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.hardware.close()


def open_backend(
    config: RobotConfig, bundle: Bundle, clock: Clock, options: BackendOptions | None = None
) -> OpenedBackend:
    """The configured backend, its channels in the order of the bundle's spec."""
    options = options if options is not None else BackendOptions()
    hardware = config.hardware
    channels = bundle.spec.observation.names
    if isinstance(hardware, GpioConfig):
        from robot.hardware.gpio import GpioHardware

        gpio = GpioHardware(hardware, channels, clock=clock.now, pin_factory=options.pin_factory)
        return OpenedBackend(gpio, clock)
    if isinstance(hardware, SerialConfig):
        from robot.hardware.serial_link import SerialHardware

        link = SerialHardware(hardware, channels, clock=clock.now)
        # Give the reader thread a moment to open the port, so that a healthy start does not
        # begin with a "link down" stop; a missing port is left to the loop's fail-safe.
        link.wait_connected(timeout_s=1.0)
        return OpenedBackend(link, clock)
    if isinstance(hardware, SimConfig):
        from robot.hardware.sim.backend import open_sim

        sim = open_sim(hardware, channels)
        return OpenedBackend(sim, sim.clock)
    return OpenedBackend(_open_external(config, hardware, bundle, clock, options), clock)


def _open_external(
    config: RobotConfig,
    hardware: GymConfig,
    bundle: Bundle,
    clock: Clock,
    options: BackendOptions,
) -> Hardware:
    """A backend passed in by the caller (the laptop's ``gym``); refused with the way out."""
    factory = options.backends.get(hardware.backend)
    if factory is None:
        raise HardwareError(
            f"{config.source}: [hardware] backend = 'gym' (a Gymnasium env as the world) runs on "
            "the laptop, where Gymnasium is installed: `python -m trainer sil run --config "
            f"{config.source}`; on the robot choose backend = 'gpio', 'serial' or 'sim'"
        )
    return factory(hardware, bundle, clock.now)

"""Assembling the runtime from a config: bundle → policy, backend → hardware, with checks."""

from __future__ import annotations

from typing import Any

from robot.clock import Clock
from robot.config import RobotConfig, check_channels
from robot.errors import PolicyLoadError
from robot.hardware.base import Hardware
from robot.policy import Policy, load_policy
from robot.tflite import TFLiteRuntime
from shared.bundle import Bundle, read_bundle
from shared.errors import BundleError


def open_bundle(config: RobotConfig) -> Bundle:
    """Read and verify the configured bundle, and check the config maps its channels."""
    try:
        bundle = read_bundle(config.bundle.path)
    except BundleError as exc:
        raise PolicyLoadError(f"{config.source}: [bundle.path]: {exc}") from None
    check_channels(config, bundle.spec)
    return bundle


def open_policy(
    config: RobotConfig, bundle: Bundle, runtime: TFLiteRuntime | None = None
) -> Policy:
    """The configured policy from ``bundle``."""
    return load_policy(bundle, config.bundle.policy, runtime)


def open_hardware(
    config: RobotConfig, bundle: Bundle, clock: Clock, *, pin_factory: Any = None
) -> Hardware:
    """The configured backend, its channels in the order of the bundle's spec."""
    hardware = config.hardware
    channels = bundle.spec.observation.names
    if hardware.gpio is not None:
        from robot.hardware.gpio import GpioHardware

        return GpioHardware(hardware.gpio, channels, clock=clock.now, pin_factory=pin_factory)
    if hardware.serial is not None:
        from robot.hardware.serial_link import SerialHardware

        link = SerialHardware(hardware.serial, channels, clock=clock.now)
        # Give the reader thread a moment to open the port, so that a healthy start does not
        # begin with a "link down" stop; a missing port is left to the loop's fail-safe.
        link.wait_connected(timeout_s=1.0)
        return link
    assert hardware.gym is not None
    from robot.hardware.gym_world import GymHardware

    return GymHardware(hardware.gym, bundle.spec, clock=clock.now)

"""``python -m robot stop``: drive the configured motors to 0, whatever state the runtime left.

systemd runs it as ``ExecStopPost=`` after every stop of the service, including a crash, a
SIGKILL or a watchdog kill, when the runtime could not stop the motors itself. So it needs
only the config and the device: it never reads the bundle, never builds an interpreter, and
opens nothing but the drive.

- ``gpio``: on whatever pin factory gpiozero loads (driving a pin low needs neither PWM nor edge
  timing, which ``run`` requires), each pin of ``[hardware.gpio.drive]`` becomes a gpiozero
  ``DigitalOutputDevice`` driven low (duty 0 on every wiring: IN1/IN2/EN low coasts an L298N
  or TB6612, ENABLE low stops a phase/enable driver), is read back, and is released. gpiozero
  releases a pin as an input without pull, as the runtime's own exit does and as the Pi's pins
  are at boot: the driver's inputs need pull-downs (built into the TB6612FNG and DRV8835; add
  10 kΩ on an L298N module) for "released" to mean "stopped".
- ``serial``: a ``$D,<seq>,0,0`` stop frame, three times (a frame lost to noise is dropped by
  the microcontroller, which also stops by itself when the Pi goes quiet).
- other backends (``gym``, a simulator): nothing outside the process can still be moving;
  except that the ``sim`` backend's drive pins, when ``SIM2PI_SIM_PINS_FILE`` records them
  for a reader outside the process (``robot/hardware/sim/pin_record.py``), are driven to 0 there.
"""

from __future__ import annotations

import logging
from typing import Any

from robot.config import GpioConfig, RobotConfig, SerialConfig, SimConfig
from robot.errors import HardwareError

_log = logging.getLogger(__name__)

#: Stop frames sent on a serial link (sequence numbers 0, 1, 2).
SERIAL_STOP_FRAMES = 3


def stop_motors(config: RobotConfig, *, pin_factory: Any = None) -> list[str]:
    """Drive the configured motors to 0; return what was done, one line per part.

    Raises HardwareError when the drive cannot be reached (pins busy or missing, no port).
    """
    hardware = config.hardware
    if isinstance(hardware, GpioConfig):
        return _stop_gpio(hardware, pin_factory)
    if isinstance(hardware, SerialConfig):
        return [_stop_serial(hardware)]
    if isinstance(hardware, SimConfig) and hardware.gpio is not None:
        from robot.hardware.sim.pin_record import pins_file

        path = pins_file()
        if path is not None:
            return [_stop_sim_pins(hardware.gpio, path)]
    return [f"{hardware.backend}: no motors outside this process; nothing to stop"]


def _drive_pins(gpio: GpioConfig) -> list[tuple[str, Any]]:
    pins = []
    for side_name, side in (("left", gpio.drive.left), ("right", gpio.drive.right)):
        for role in ("forward", "backward", "phase", "enable"):
            pin = getattr(side, role)
            if pin is not None:
                pins.append((f"{side_name}.{role}", pin))
    return pins


def _stop_gpio(gpio: GpioConfig, pin_factory: Any) -> list[str]:
    from gpiozero import DigitalOutputDevice

    from robot.hardware.pin_factory import (
        PIN_FACTORY_ERRORS,
        choose_pin_factory,
        pin_factory_hint,
    )

    # Any factory that can open the pins will do: driving them low needs no PWM, no edges.
    pin_factory = choose_pin_factory(pin_factory).factory
    devices: list[Any] = []
    lines = []
    try:
        for role, pin in _drive_pins(gpio):
            try:
                device = DigitalOutputDevice(pin, initial_value=False, pin_factory=pin_factory)
            except PIN_FACTORY_ERRORS as exc:
                hint = (
                    pin_factory_hint(exc)
                    if isinstance(exc, RuntimeError | ImportError)
                    else "if the runtime still runs, stop it first (systemctl stop "
                    "sim2pi-robot); check GPIOZERO_PIN_FACTORY and the groups (gpio) of this user"
                )
                raise HardwareError(
                    f"[hardware.gpio.drive.{role}] cannot drive pin {pin!r} low: "
                    f"{type(exc).__name__}: {exc}; {hint}"
                ) from exc
            devices.append(device)
            device.off()
            state = device.pin.state
            if state:
                raise HardwareError(
                    f"[hardware.gpio.drive.{role}] pin {device.pin.info.name} still reads "
                    f"{state} after being driven low"
                )
            lines.append(f"{role} {device.pin.info.name}={float(state):g}")
    finally:
        for device in reversed(devices):
            device.close()
    return [f"gpio: drive pins low ({', '.join(lines)}), then released"]


def _stop_sim_pins(gpio: GpioConfig, path: Any) -> str:
    """The sim backend's drive pins, as recorded in ``path``, driven to 0 there."""
    from gpiozero.pins.mock import MockFactory

    from robot.hardware.sim.pin_record import write_pins

    factory = MockFactory()  # names the pins as the sim backend's (a MockFactory) do
    pins = {factory.pin(pin).info.name: 0.0 for _, pin in _drive_pins(gpio)}
    try:
        write_pins(path, "robot stop", pins)
    except OSError as exc:
        raise HardwareError(f"sim: cannot drive the recorded pins to 0 in {path}: {exc}") from exc
    return f"sim: drive pins low ({', '.join(f'{name}=0' for name in pins)}) in {path}"


def _stop_serial(serial_config: SerialConfig) -> str:
    import serial

    from robot.hardware import frames

    try:
        port = serial.serial_for_url(
            serial_config.url,
            baudrate=serial_config.baudrate,
            timeout=serial_config.read_timeout_s,
            write_timeout=serial_config.write_timeout_s,
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise HardwareError(
            f"[hardware.serial.url] cannot open {serial_config.url}: {exc}; the "
            "microcontroller's own timeout stops the motors when the Pi goes quiet"
        ) from exc
    try:
        for seq in range(SERIAL_STOP_FRAMES):
            port.write(frames.encode_drive(seq, 0.0, 0.0))
        port.flush()
    except (serial.SerialException, OSError) as exc:
        raise HardwareError(
            f"[hardware.serial.url] writing the stop to {serial_config.url} failed: {exc}"
        ) from exc
    finally:
        port.close()
    return f"serial: {SERIAL_STOP_FRAMES} stop frames ($D,…,0,0) sent to {serial_config.url}"

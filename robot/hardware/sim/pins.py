"""gpiozero mock pins wired to the simulated world, on the world's clock.

gpiozero's ``MockTriggerPin`` answers a ping from a thread that sleeps the echo time in real
time and stamps edges with ``time.monotonic`` (gpiozero issue 877), so mocked distances depend
on the host's scheduling and come out flaky. These pins stamp every edge with simulated time
and answer a ping synchronously: the echo pin rises at the ping's simulated time and falls one
echo time later, so gpiozero's own ``DistanceSensor._read`` measures exactly the world's echo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin, PinState

#: What an HC-SR04 does when no echo comes back: it holds ECHO high for ~38 ms (seconds).
NO_ECHO_PULSE_S = 0.038

SimTime = Callable[[], float]


class SimPin(MockPin):
    """A mock input pin whose edges are stamped with the factory's simulated time (seconds)."""

    def _change_state(self, value: bool) -> bool:
        if self._state == value:
            return False
        now_s = self.factory.ticks()
        self._state = value
        self.states.append(PinState(now_s - self._last_change, value))
        self._last_change = now_s
        return True

    def clear_states(self) -> None:
        """Forget the recorded edges (gpiozero's mock API), dated on simulated time."""
        self._last_change = self.factory.ticks()
        self.states = [PinState(0.0, self._state)]

    def pulse(self, rise_s: float, fall_s: float) -> None:
        """Drive a high pulse whose edges carry the simulated times ``rise_s`` and ``fall_s``."""
        self.factory.at_s = rise_s
        try:
            self.drive_high()
            self.factory.at_s = fall_s
            self.drive_low()
        finally:
            self.factory.at_s = None


class SimTriggerPin(SimPin):
    """An HC-SR04's TRIG: a rising edge makes its echo pin pulse for the world's echo time."""

    def __init__(
        self, factory: SimPinFactory, info: Any, *, echo_pin: SimPin, echo_s: Callable[[], float]
    ) -> None:
        super().__init__(factory, info)
        self.echo_pin = echo_pin
        self._echo_s = echo_s

    def _set_state(self, value: bool) -> None:
        super()._set_state(value)
        if value:
            start_s = self.factory.ticks()
            self.echo_pin.pulse(start_s, start_s + self._echo_s())


class SimPinFactory(MockFactory):
    """gpiozero's MockFactory on simulated time; pins made in advance keep their class."""

    def __init__(self, sim_time: SimTime) -> None:
        super().__init__(pin_class=MockPWMPin)
        self._sim_time = sim_time
        #: Set while a pin stamps an edge at a chosen simulated time (seconds).
        self.at_s: float | None = None

    def ticks(self) -> float:
        """Simulated seconds (gpiozero times echoes with ``ticks`` and ``ticks_diff``)."""
        return self._sim_time() if self.at_s is None else self.at_s

    def pin(self, name: Any, pin_class: Any = None, **kwargs: Any) -> Any:
        """The pin ``name``; one made in advance is returned whatever class gpiozero asks for."""
        for _header, info in self.board_info.find_pin(name):
            existing = self.pins.get(info)
            if existing is not None and pin_class is None and not kwargs:
                return existing
            break
        return super().pin(name, pin_class, **kwargs)

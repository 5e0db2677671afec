"""Hardware in the loop without hardware: the simulator behind gpiozero mock pins, and an
emulated serial microcontroller."""

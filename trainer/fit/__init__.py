"""``python -m trainer fit-robot``: the simulator fitted to a calibration drive's log
(``docs/fit-robot.md``)."""

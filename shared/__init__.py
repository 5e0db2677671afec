"""What the laptop and the Pi must agree on: specs, bundles, discretiser, Q-tables.

Standard library and numpy only: this package runs on a Raspberry Pi Zero 2.
"""

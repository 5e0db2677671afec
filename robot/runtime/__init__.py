"""Composition: a config and a bundle become what the control loop runs, at start-up and on SIGHUP.

``compose`` (what decides, the label, the telemetry writer), ``backends`` (the configured
hardware and the clock the loop runs on with it; backends from outside ``robot/`` passed in),
``reload`` (SIGHUP: validate off the loop's thread, switch at a tick boundary) and
``state_dirs`` (where a service writes).
"""

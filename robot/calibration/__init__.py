"""The calibration drive (``python -m robot calibrate``): a scripted drive on the spot, through
the robot's own control loop, logged for the fitter that tunes the simulator to this robot.

``plan`` (the steps, as data), ``drive`` (the ``Decider`` that drives them and ends the drive
on a contact or an obstacle too close), ``preflight`` (the readings taken before any motor
moves), ``log`` (the log's header, a sidecar ``PATH.meta.json``), ``session`` (composes them),
``sim_truth`` (the ``sim`` backend's world, followed: for tests and benchmarks).
"""

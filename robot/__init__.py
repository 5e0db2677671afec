"""The Raspberry Pi half of sim2pi: read sensors, pick the greedy action, drive the motors.

Never imports TensorFlow, Keras or Gymnasium (enforced by tests/shared/test_dependency_rule.py).
"""

#: The only modules of ``robot/`` that ``trainer/`` may import (every import statement, lazy ones
#: included; tests/shared/test_dependency_rule.py holds it to this). The laptop verifies what it
#: ships with the code the Pi runs, through these and nothing else:
TRAINER_SURFACE: tuple[str, ...] = (
    # load a policy exactly as the robot does: load_policy, available_policies, Policy,
    # Decision, and the runtime choice (choose_runtime, TFLiteRuntime)
    "robot.inference",
    # the interface a backend implements (Hardware, Snapshot): the trainer's gym backend
    "robot.hardware",
    # the robot's command line, run with the trainer's backends passed in: main
    "robot.cli",
    # the config section of the trainer's backend: GymConfig
    "robot.config",
    # the robot's errors, to raise and to catch
    "robot.errors",
)

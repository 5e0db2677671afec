"""The Raspberry Pi half of sim2pi: read sensors, pick the greedy action, drive the motors.

Never imports TensorFlow, Keras or Gymnasium (enforced by tests/shared/test_dependency_rule.py).
"""

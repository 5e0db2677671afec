"""Export: a trained run → a verified bundle (TFLite float32/int8, Q-table, parity, manifest).

``trainer.export.exporter.export_run`` is the whole path; ``python -m trainer export`` calls it and
``python -m trainer eval-bundle`` evaluates the result through the robot's own policies.
"""

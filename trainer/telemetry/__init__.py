"""The robot's per-tick telemetry on the laptop: read (rotated files, runs), summarised, plotted.

``read``: files in rotation order, records, runs; ``summary``: a run's totals; ``plot``: its
figure; ``report``: PNG and HTML reports (``python -m trainer plot-telemetry``).
"""

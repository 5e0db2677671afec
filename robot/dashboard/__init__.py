"""``python -m robot dashboard``: a live web view of a run, in a process apart from the loop.

``follow`` (the telemetry file, tailed read-only through rotation and restarts), ``state`` (the
records aggregated into what the page shows), ``layout`` (names and ranger angles from the
bundle), ``server`` (standard-library HTTP: the page and ``/state.json``), and the page itself
(``page.html``, ``page.js``, ``page.css``: package data, no build step).
"""

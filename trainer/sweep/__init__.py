"""Sweeps: many training runs over seeds and settings with Ray Tune (``python -m trainer sweep``).

``spec`` reads SPEC.toml; ``trials`` expands it into trials and their ``trainer train`` argv;
``worker`` is the Tune trainable (one trial = one train command); ``tune_run`` runs them on local
Ray or a cluster; ``ranking`` scores the trials on fresh seeds (``sim2pi/ObstacleAvoid-v0``'s in
the arena suite's arenas: ``arenas``); ``rank_tasks`` ranks them in parallel as Ray tasks, keeping
each trial's scores in its run directory (``ranked``); ``report`` writes the results. Ray is
imported only inside ``tune_run``, ``rank_tasks`` and ``worker`` (requirements-sweep.txt).
"""

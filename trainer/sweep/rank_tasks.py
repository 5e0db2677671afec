"""Ranking a sweep's trials in parallel on Ray, before it stops: one task with one CPU each.

A trial forked from a warm server ranks itself once trained (``rank_command``, ``worker.py``).
Once Tune has finished (and unless Ctrl-C cut the sweep short), every other trial the driver
would rank and that has no current kept scores (``ranked.py``) is ranked by a Ray task with
``num_cpus=1``, on the local Ray or the cluster (``--address``): Ray runs them on its pooled
worker processes, so TensorFlow starts once per worker, not once per trial. Each task writes
the trial's ``ranking.json``; the driver's ``rank_trial`` reads it back. A task that fails only
leaves its trial to the driver, which ranks it as it always did (and reports what goes wrong).
Ctrl-C cancels the tasks still running; the driver ranks those trials itself.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.sweep import ranked
from trainer.sweep.ranked import RankParams
from trainer.sweep.spec import SweepSpec

POLL_S = 0.5  # how often the driver looks for Ctrl-C while the tasks run
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def rank_task(run_dir: str, params: dict[str, Any]) -> None:
    """Rank one trial and keep its scores (a Ray task: TensorFlow on its one CPU)."""
    for name, value in ONE_THREAD.items():  # read when TensorFlow starts in this worker
        os.environ.setdefault(name, value)
    from trainer.sweep.ranking import trial_scores

    chosen = RankParams(**params)
    ranked.save(Path(run_dir), chosen, trial_scores(chosen, Path(run_dir)))


def rank_command(argv: list[str]) -> int:
    """``RUN_DIR PARAMS_JSON``: rank one trial and keep its scores; what a trial forks once its
    training has finished (``worker.py``), so its ranking overlaps the other trials' training."""
    run_dir, params = argv
    rank_task(run_dir, json.loads(params))
    return 0


def to_rank(params: RankParams, run_dirs: list[Path]) -> list[Path]:
    """The run directories the driver would rank and whose kept scores are missing or stale."""
    return [
        run_dir
        for run_dir in run_dirs
        if (run_dir / "config.json").is_file() and ranked.load(run_dir, params) is None
    ]


def rank_on_ray(spec: SweepSpec, run_dirs: list[Path], stop: Callable[[], bool]) -> int:
    """Rank ``run_dirs`` (trials that did not fail) as Ray tasks, one CPU each, until all are
    done or ``stop()``; how many were ranked."""
    import ray

    params = RankParams.of(spec)
    todo = to_rank(params, run_dirs)
    if not todo:
        return 0
    print(f"{len(todo)} trials to rank: one Ray task (one CPU) each…", flush=True)
    task = ray.remote(num_cpus=1, max_retries=0)(rank_task)
    pending = [task.remote(str(run_dir), params.as_dict()) for run_dir in todo]
    names = {ref: run_dir.name for ref, run_dir in zip(pending, todo, strict=True)}
    done_count = 0
    while pending and not stop():
        done, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
        for ref in done:
            try:
                ray.get(ref)
                done_count += 1
            except Exception as error:
                logging.getLogger("ray").warning("ranking %s on Ray: %s", names[ref], error)
    for ref in pending:
        ray.cancel(ref, force=True)
    return done_count

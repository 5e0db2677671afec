"""Running a sweep's trials with Ray Tune: local Ray by default, or an existing cluster.

Ray is quiet and stays off the network: usage statistics off (``RAY_USAGE_STATS_ENABLED=0``),
no dashboard, workers' output kept out of the terminal (each trial's train output goes to
``DIR/logs/<trial>.log``), Ray's session files under ``DIR/ray`` when the path is short enough
for its sockets (else a temporary directory, named in ``DIR/ray_session.txt``), Tune's own files
under ``DIR/tune``. One line per finished trial is printed. Once Tune has finished, the trials
are ranked in parallel before Ray stops (``rank_tasks.py``).

Ctrl-C: the first one writes ``DIR/.interrupt``; every running trial's train command then gets
SIGINT, saves its ``checkpoints/last`` and exits, trials not started yet do not start, and the
sweep returns with the unfinished trials marked ``interrupted`` (and the driver ranks the trials
one after another). Ctrl-C while the trials are ranked in parallel cancels the ranking tasks. A
second Ctrl-C aborts.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from trainer.sweep import forkclient
from trainer.sweep.forkclient import ForkServerError, SharedServer
from trainer.sweep.rank_tasks import rank_on_ray
from trainer.sweep.ranked import RankParams
from trainer.sweep.spec import SweepSpec
from trainer.sweep.trials import Trial, train_argv, trials
from trainer.sweep.worker import FORK_SERVER, INTERRUPT_FILE, run_trial

#: Set before Ray is imported: no usage-stats network calls, Tune's SIGINT handling is ours, and
#: local Ray's workers (so the trials' train commands) at the sweep's own priority, not Ray's
#: default nice 15: at 15 any other work on the machine (even the sweep's driver) comes first,
#: which doubled a trial's training time on the shared dev machine (docs/benchmarks/sweep.md).
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_worker_niceness": "0",
    "RAY_DEDUP_LOGS": "0",
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
}
STOPPED_DIR = "asha_stopped"  # DIR/asha_stopped/<trial>: ASHA stopped it; --resume leaves it
UNIX_SOCKET_MAX = 100  # Ray's sockets live under its temp dir; AF_UNIX paths hold 107 bytes
CPUS_PER_TRIAL = 1


@dataclass(frozen=True)
class TrialRun:
    """How one trial's run ended, as Tune and its run directory say."""

    trial: Trial
    run_dir: Path
    status: str  # finished | failed | interrupted | stopped (ASHA)
    error: str | None


def _ray_temp_dir(out: Path) -> Path:
    """``DIR/ray`` when its socket paths fit, else a short temporary directory."""
    wanted = out.resolve() / "ray"
    if len(str(wanted)) + 60 < UNIX_SOCKET_MAX:
        return wanted
    return Path(tempfile.mkdtemp(prefix="sim2pi-ray-"))


class _Interrupt:
    """SIGINT handler of the sweep: the first asks the trials to stop, the second aborts."""

    def __init__(self, out: Path) -> None:
        self.file = out / INTERRUPT_FILE
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.file.touch()
        sys.stderr.write(
            "\nCtrl-C: the running trials save their last checkpoint (press again to abort)…\n"
        )


def _progress_callback(total: int, out: Path) -> Any:
    """A Tune callback printing one line per trial that ends."""
    from ray import tune

    class Progress(tune.Callback):
        def __init__(self) -> None:
            self.ended = 0

        def _line(self, trial: Any, text: str) -> None:
            self.ended += 1
            print(f"[{self.ended}/{total}] {trial.config['trial']['name']}: {text}", flush=True)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            result = trial.last_result or {}
            status = result.get("status", "stopped")
            if status == "running":  # ended before its last step, not by Ctrl-C: ASHA stopped it
                status = "stopped early (ASHA)"
                marker = out / STOPPED_DIR / trial.config["trial"]["name"]
                marker.parent.mkdir(exist_ok=True)
                marker.touch()
            score = result.get("score")  # on the evaluation seeds; the table ranks on others
            text = status if score is None or math.isnan(score) else f"{status}, eval {score:.1f}"
            self._line(trial, text + (" (already trained)" if result.get("reused") else ""))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._line(trial, "FAILED (see the results table)")

    return Progress()


def _log_to_file(out: Path) -> None:
    """Ray's and Tune's log records go to ``DIR/ray.log``, not the terminal."""
    handler = logging.FileHandler(out / "ray.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("ray")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _init_ray(out: Path, address: str | None) -> Path | None:
    """Start or join Ray; the temporary directory made for its session files, if one was."""
    import ray

    common: dict[str, Any] = {
        "log_to_driver": False,
        "logging_level": logging.ERROR,
        "configure_logging": True,
    }
    if address is not None:
        ray.init(address=address, **common)
        _log_to_file(out)
        return None
    temp = _ray_temp_dir(out)
    (out / "ray_session.txt").write_text(f"{temp}\n")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ray.init(num_cpus=cores, include_dashboard=False, _temp_dir=str(temp), **common)
    _log_to_file(out)
    return None if temp == out / "ray" else temp


def run_trials(
    spec: SweepSpec,
    out: Path,
    *,
    address: str | None = None,
    max_concurrent: int | None = None,
) -> tuple[list[TrialRun], bool]:
    """Run every trial with Tune; the trials' outcomes and whether Ctrl-C cut the sweep short."""
    os.environ.update(RAY_ENV)
    threads = str(CPUS_PER_TRIAL)
    trial_env = {
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": threads,
        "OMP_NUM_THREADS": threads,
    }
    root = str(Path(__file__).resolve().parents[2])
    shared = _shared_fork_server(trial_env, root) if address is None else None
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    out = out.resolve()
    (out / INTERRUPT_FILE).unlink(missing_ok=True)
    stopped = {p.name for p in (out / STOPPED_DIR).glob("*")}
    all_trials = trials(spec)
    rank = RankParams.of(spec).as_dict()
    configs = [
        {
            "name": t.name,
            "run_dir": str(out / "trials" / t.name),
            "sweep_dir": str(out),
            "argv": train_argv(spec, t, out / "trials" / t.name),
            "total_steps": _total_steps(spec, t),
            "rank": rank,
            "pythonpath": root,
            "env": trial_env,
            "forkserver": None if shared is None else shared.path,
        }
        for t in all_trials
        if t.name not in stopped
    ]
    scheduler = None
    if spec.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="step",
            metric="score",
            mode="max",
            max_t=10**12,  # a trial ends at its own total_steps; ASHA never ends it there
            grace_period=spec.asha.grace_steps,
            reduction_factor=spec.asha.reduction_factor,
        )
    interrupt = _Interrupt(out)
    previous = signal.signal(signal.SIGINT, interrupt)
    temp = None
    try:
        temp = _init_ray(out, address)
        grid: Any = []  # every trial stopped by ASHA before: nothing to run
        if configs:
            tuner = tune.Tuner(
                tune.with_resources(run_trial, {"cpu": CPUS_PER_TRIAL}),
                param_space={"trial": tune.grid_search(configs)},
                tune_config=tune.TuneConfig(
                    scheduler=scheduler,
                    max_concurrent_trials=max_concurrent,
                    reuse_actors=True,  # one warm fork server per Ray worker
                    trial_name_creator=lambda trial: trial.config["trial"]["name"],
                    trial_dirname_creator=lambda trial: trial.config["trial"]["name"],
                ),
                run_config=tune.RunConfig(
                    name=time.strftime("tune-%Y%m%d-%H%M%S"),
                    storage_path=str(out / "tune"),
                    verbose=0,
                    callbacks=[_progress_callback(len(configs), out)],
                    failure_config=tune.FailureConfig(max_failures=0),
                ),
            )
            grid = tuner.fit()
        outcomes = _outcomes(all_trials, out, grid, stopped, interrupted=interrupt.requested)
        if not interrupt.requested:  # rank before Ray stops, on its CPUs
            ranked_dirs = [o.run_dir for o in outcomes if o.status != "failed"]
            rank_on_ray(spec, ranked_dirs, lambda: interrupt.requested)
    finally:
        signal.signal(signal.SIGINT, previous)
        ray.shutdown()
        if shared is not None:
            shared.close()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    return outcomes, interrupt.requested


def _shared_fork_server(trial_env: dict[str, str], root: str) -> SharedServer | None:
    """On a local sweep, the fork server the trials share, warming up while Ray starts; None
    where trials are not forked (or it cannot start: each Ray worker then starts its own)."""
    if not (forkclient.supported() and FORK_SERVER):
        return None
    pythonpath = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    try:
        return SharedServer({**os.environ, **trial_env, "PYTHONPATH": pythonpath})
    except (OSError, ForkServerError) as error:
        logging.getLogger("ray").warning("no shared fork server: %s", error)
        return None


def _outcomes(
    all_trials: list[Trial], out: Path, grid: Any, stopped: set[str], *, interrupted: bool
) -> list[TrialRun]:
    """How each trial ended: Tune's errors, then what its run directory holds."""
    errors: dict[str, str] = {}
    for result in grid:
        if result.error is not None:
            errors[result.config["trial"]["name"]] = _error_text(result.error)
    outcomes = []
    stopped |= {p.name for p in (out / STOPPED_DIR).glob("*")}
    for t in all_trials:
        run_dir = out / "trials" / t.name
        if t.name in errors:
            status = "failed"
        elif (run_dir / "summary.json").is_file():
            status = "finished"
        elif t.name in stopped or not interrupted:
            status = "stopped"
        else:
            status = "interrupted"
        outcomes.append(TrialRun(t, run_dir, status, errors.get(t.name)))
    return outcomes


def _total_steps(spec: SweepSpec, trial: Trial) -> int:
    """The env steps the trial trains: ``steps``, a ``total_steps`` setting, or the preset's."""
    from trainer import hyperparams

    if spec.steps is not None:
        return spec.steps
    if "total_steps" in trial.setting.hyperparameters:
        return int(trial.setting.hyperparameters["total_steps"])
    return int(hyperparams.build_config(spec.algo, spec.env_id, None).total_steps)


def _error_text(error: BaseException) -> str:
    """The trial's own error line out of the Ray exception that wraps it."""
    text = str(error).strip().splitlines()
    lines = [line.strip() for line in text if "TrialError:" in line]
    if lines:
        return lines[-1].split("TrialError:", 1)[1].strip()
    return (text or [type(error).__name__])[-1]

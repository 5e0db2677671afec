"""The Ray Tune trainable: one trial is one ``python -m trainer train`` run in a child process.

The child is the train command itself (``trainer.cli.main.main(argv)``), so a trial's directory
is a normal run directory, Ctrl-C saves its ``checkpoints/last`` as it always does, and
``--robot-profile`` or any other flag of ``train`` passes through unchanged. A child process,
not a call in the Ray worker: the train command handles SIGINT, which Python lets only a main
thread do, and Tune runs a function trainable on a thread. On Linux the child is forked from a
warm server (``forkserver.py``: TensorFlow is imported once, not once per trial): the sweep's
shared one on a local sweep, else one this Ray worker starts and keeps; elsewhere, or with
``SIM2PI_SWEEP_FORK=0``, it is a new ``python -m trainer`` process. TensorFlow's thread pools
are sized to the trial's CPU share through ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS``,
set in the child's environment before TensorFlow starts.

Resume semantics, per trial: a run directory with ``summary.json`` is finished and is not
retrained (its result is reported again); one with ``checkpoints/last`` continues with
``train --resume`` (only metrics rows it adds are reported); anything else is removed and
trained from the start. Trials that ASHA stopped (``DIR/asha_stopped/<trial>``) are not run again.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from trainer.sweep import forkclient, forkserver

POLL_S = 0.5  # how often the worker reads metrics.csv and looks for the interrupt file
INTERRUPT_FILE = ".interrupt"  # in the sweep directory: Ctrl-C of the sweep asks trials to stop
#: Fork each trial from a warm server (``forkserver.py``) where the platform allows it; set
#: ``SIM2PI_SWEEP_FORK=0`` to start each as a new ``python -m trainer`` process instead.
FORK_SERVER = os.environ.get("SIM2PI_SWEEP_FORK", "1") != "0"
RANK_ENTRY = "trainer.sweep.rank_tasks:rank_command"  # ranks one trial (forked, after training)
STOP_WAIT_S = 300  # how long Tune waits for a stopped trial's train command to save and exit


class TrialError(RuntimeError):
    """The trial's train command failed; the message is its last error line."""


def _new_rows(metrics: Path, seen: int) -> list[dict[str, str]]:
    """Rows of metrics.csv after the first ``seen`` (none while it does not exist)."""
    try:
        with open(metrics, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return []
    return rows[seen:]


def _last_error(log: Path) -> str:
    """The train command's error line (``… error: …``), else the log's last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line or "Error" in line]
    return (errors or lines or ["no output"])[-1]


def _forking() -> bool:
    """Whether this worker forks its trials from a warm server (``forkserver.py``)."""
    return forkclient.supported() and FORK_SERVER


def _start(argv: list[str], env: dict[str, str], out: IO[str], shared: str | None) -> Any:
    """The train command, forked from a warm server where it can be, else a new process."""
    if _forking():
        return forkclient.server_for(env, shared).start(argv, out.name)
    return subprocess.Popen(
        [sys.executable, "-m", "trainer", *argv],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=forkserver.child_signals,  # noqa: PLW1509 (prctl only; no locks taken)
    )


def _ended(child: Any) -> bool:
    """Wait up to ``POLL_S`` for the child to end (returning as soon as it does); whether it has."""
    try:
        return child.wait(timeout=POLL_S) is not None
    except subprocess.TimeoutExpired:
        return False


def _rank_now(trial: dict[str, Any], env: dict[str, str], log: Path) -> None:
    """Rank the finished trial on its own CPU, forked from the warm server, so its ranking runs
    while other trials train instead of after the last one; the driver (or a Ray task) ranks a
    trial whose ``ranking.json`` this did not write. Ctrl-C of the sweep stops it."""
    interrupt = Path(trial["sweep_dir"]) / INTERRUPT_FILE
    argv = [trial["run_dir"], json.dumps(trial["rank"])]
    child = forkclient.server_for(env, trial.get("forkserver")).start(
        argv, str(log), entry=RANK_ENTRY
    )
    try:
        while not _ended(child):
            if interrupt.exists():
                child.send_signal(signal.SIGINT)
                child.wait()
    finally:
        if child.poll() is None:  # Tune is stopping the trial
            child.send_signal(signal.SIGKILL)
            child.wait()
    if child.returncode != 0:
        with open(log, "a") as out:
            out.write(
                f"ranking in the trial ended with exit {child.returncode}: the sweep ranks it\n"
            )


def trial_command(config: dict[str, Any]) -> list[str]:
    """The train argv for this attempt: skip, ``--resume``, or a fresh start."""
    run_dir = Path(config["run_dir"])
    if (run_dir / "checkpoints" / "last" / "run_state.json").is_file():
        return ["train", "--resume", str(run_dir), "--quiet"]
    if run_dir.exists():  # started but never checkpointed: start again from nothing
        shutil.rmtree(run_dir)
    return list(config["argv"])


def run_trial(config: dict[str, Any]) -> None:
    """Train one trial, reporting each periodic evaluation to Tune; raise if training failed."""
    from ray import tune

    # Tune reuses this worker for the next trial (its fork server stays warm) once this function
    # has returned; a trial that ASHA stops returns only after its train command has saved its
    # last checkpoint and exited, which takes longer than Tune's default wait of 2 s.
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", str(STOP_WAIT_S))
    trial = config["trial"]
    run_dir = Path(trial["run_dir"])
    sweep_dir = Path(trial["sweep_dir"])
    summary_file = run_dir / "summary.json"
    if summary_file.is_file():  # finished before: its result stands
        summary = json.loads(summary_file.read_text())
        tune.report(
            {
                "step": summary["steps"],
                "score": summary["last"]["eval"]["mean"],
                "status": "finished",
                "reused": True,
            }
        )
        return
    if (sweep_dir / INTERRUPT_FILE).exists():
        tune.report({"step": 0, "score": float("nan"), "status": "interrupted"})
        return
    argv = trial_command(trial)
    env = {
        **os.environ,
        **trial["env"],
        "PYTHONPATH": os.pathsep.join([trial["pythonpath"], os.environ.get("PYTHONPATH", "")]),
    }
    log = sweep_dir / "logs" / f"{trial['name']}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # A resumed run's metrics.csv already holds the rows reported before: report only new ones.
    seen = len(_new_rows(run_dir / "metrics.csv", 0))
    with open(log, "a") as out:
        out.write(f"$ python -m trainer {' '.join(argv)}\n")
        out.flush()
        child = _start(argv, env, out, trial.get("forkserver"))
        asked = False
        try:
            while not _ended(child):
                if not asked and (sweep_dir / INTERRUPT_FILE).exists():
                    child.send_signal(signal.SIGINT)  # it saves checkpoints/last and exits 0
                    asked = True
                for row in _new_rows(run_dir / "metrics.csv", seen):
                    seen += 1
                    if int(row["step"]) >= trial["total_steps"]:
                        continue  # the run is finishing: a scheduler must not stop it now
                    tune.report(
                        {
                            "step": int(row["step"]),
                            "score": float(row["eval_mean"]),
                            "status": "running",
                        }
                    )
        finally:
            if child.poll() is None:  # Tune is stopping this trial (ASHA): save and stop
                child.send_signal(signal.SIGINT)
                child.wait()
    if child.returncode != 0:
        raise TrialError(_last_error(log))
    if not summary_file.is_file():
        tune.report({"step": 0, "score": float("nan"), "status": "interrupted"})
        return
    trial_seconds = round(time.monotonic() - started, 3)
    if _forking():
        _rank_now(trial, env, log)
    summary = json.loads(summary_file.read_text())
    tune.report(
        {
            "step": summary["steps"],
            "score": summary["last"]["eval"]["mean"],
            "status": "finished",
            "trial_seconds": trial_seconds,
        }
    )

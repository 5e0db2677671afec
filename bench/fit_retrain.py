"""``scripts/bench_fit --retrain``: does training on the fitted profile win back the shift's loss?

Per hidden robot (``bench/fit_robots.py``), after its calibration drive and fit in the default
arena: two real ``python -m trainer train`` runs of the robot env's DQN preset, the same seed and
steps, one with ``--robot-profile`` the fit's profile (written as ``trainer fit-robot`` writes
it: only identified values) and one with the robot's true values (the oracle); each exported with
``python -m trainer export --qtable --checkpoint last`` onto the reference bundle's grid. The runs
go two at a time (one per core, each with one CPU's TensorFlow threads).

Then every table drives the hidden robot greedily through the runtime's ``ControlLoop`` on the
``sim`` backend (``bench/shifted_learning.py``'s ``run``: gpiozero devices on mock pins wired to
``shared.world``, the robot's ``[hardware.sim]`` keys, its latency), one minute from rest in each
of the same fresh arenas that ``scripts/bench_learning`` evaluates on (``eval_seeds``), none a
training arena: the reference bundle's table on the simulator's robot (nominal) and on the hidden
one (shifted), the retrained and the oracle table on the hidden one. Return per minute is the
shared reward spec's, as ``bench_learning`` counts it. The share of the loss a table recovers is
``(its return - shifted) / (nominal - shifted)``. Bars: the retrained tables' mean share over the
robots ≥ 0.8 and, per robot, within 0.1 of the oracle's share.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench import record
from bench.shifted_learning import NOMINAL, RunResult, Shift, eval_seeds, merge, run
from robot.config import LearningConfig, SimConfig, load_config
from robot.hardware.sim.backend import build_world
from shared.bundle import Bundle, read_bundle
from trainer.fit.fitting import FitResult
from trainer.fit.log import CalibrationLog
from trainer.fit.profile import ENV_ID, env_kwargs, fit_tables
from trainer.robot_profile_toml import profile_toml, write_profile

ROOT = record.ROOT
BUNDLE = ROOT / "reference_bundles" / "obstacle_avoid"
GPIO_CONFIG = ROOT / "robot" / "examples" / "reference_gpio.toml"
RATE_HZ = 20.0
SHARE_BAR = 0.8
ORACLE_GAP_BAR = 0.1
#: One CPU's threads per training process (two run at once on two cores).
ONE_CPU = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def truth_env(robot: dict[str, Any]) -> dict[str, Any]:
    """The env keyword arguments of a hidden robot's true ``[hardware.sim]`` values."""
    reference = SimConfig(gpio=None)
    value = {
        f.name: robot.get(f.name, getattr(reference, f.name)) for f in dataclasses.fields(SimConfig)
    }
    return {
        "motor_gain": value["motor_gain"],
        "left_motor_gain": value["left_gain"],
        "right_motor_gain": value["right_gain"],
        "dead_band_range": [value["dead_band"]] * 2,
        "motor_time_constant_s": value["time_constant_s"],
        "latency_ticks": value["latency_ticks"],
        "sensor_noise_m": value["noise_std_m"],
        "dropout_prob": value["dropout_prob"],
        "side_ranger_deg": value["side_ranger_deg"],
    }


def write_profiles(
    work: Path, name: str, robot: dict[str, Any], result: FitResult, log: CalibrationLog
) -> dict[str, Path]:
    """The fitted profile (what ``trainer fit-robot`` writes) and the truth's, under ``work``."""
    fitted = profile_toml(
        name=f"{name}_fitted",
        env_id=ENV_ID,
        env=env_kwargs(result, log),
        source="fit-robot",
        tables=fit_tables(result, log),
    )
    truth = profile_toml(name=f"{name}_truth", env_id=ENV_ID, env=truth_env(robot))
    return {
        "retrained": write_profile(work / f"{name}_fitted.toml", fitted),
        "oracle": write_profile(work / f"{name}_truth.toml", truth),
    }


def _child(args: list[str], log: Path) -> None:
    env = {**os.environ, **ONE_CPU, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    with log.open("a") as out:
        done = subprocess.run(
            [sys.executable, "-m", "trainer", *args],
            check=False,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    if done.returncode != 0:
        raise RuntimeError(f"trainer {args[0]} exited {done.returncode}; see {log}")


def train_and_export(
    profile: Path,
    run_dir: Path,
    *,
    seed: int,
    steps: int | None,
    sets: tuple[str, ...] = (),
    bundle: Bundle,
    init_from: Path | None = None,
    checkpoint: str = "last",
) -> tuple[Path, float]:
    """``trainer train`` on ``profile`` (``init_from``: starting from that bundle's network)
    then ``trainer export --qtable`` on the bundle's grid; the exported bundle and the seconds
    both took. A finished run is exported again, not retrained (rerunning the benchmark with
    the same ``--work`` resumes)."""
    begin = time.perf_counter()
    log = run_dir.with_suffix(".log")
    if (run_dir / "config.json").is_file() and not (run_dir / "summary.json").is_file():
        _child(["train", "--resume", str(run_dir), "--quiet"], log)
    elif not (run_dir / "summary.json").is_file():
        settings = [*sets, *([f"total_steps={steps}"] if steps else [])]
        _child(
            [
                "train", "--env", ENV_ID, "--algo", "dqn", "--seed", str(seed),
                "--robot-profile", str(profile), *(a for s in settings for a in ("--set", s)),
                *(["--init-from", str(init_from)] if init_from else []),
                "--out", str(run_dir), "--quiet",
            ],
            log,
        )  # fmt: skip
    edges = ";".join(",".join(f"{e:g}" for e in channel) for channel in bundle.discretizer.edges)
    out = run_dir / "bundle"
    _child(
        [
            "export", str(run_dir), "--out", str(out), "--qtable", "--checkpoint", checkpoint,
            f"--bin-edges={edges}", "--overwrite",
        ],
        log,
    )  # fmt: skip
    return out, time.perf_counter() - begin


def train_all(jobs: dict[tuple[str, str], tuple[Path, Path]], **kw: Any) -> dict:
    """Every (robot, kind) job's ``train_and_export``, one per core at a time."""
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        futures = {
            key: pool.submit(train_and_export, profile, run_dir, **kw)
            for key, (profile, run_dir) in jobs.items()
        }
        return {key: future.result() for key, future in futures.items()}


def evaluate(
    bundle: Bundle, values: np.ndarray, robot: dict[str, Any] | None, arenas: list[int]
) -> RunResult:
    """``values`` greedy on ``robot`` (None: the simulator's own), one minute in each arena."""
    gpio = load_config(GPIO_CONFIG).hardware
    robot = dict(robot or {})
    latency = int(robot.pop("latency_ticks", 0))
    shift = Shift(name="hidden", latency_ticks=latency) if robot else NOMINAL
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fit-eval-") as state:
        learning = LearningConfig(state_dir=Path(state))
        for k, seed in enumerate(arenas):
            world = build_world(SimConfig(gpio=gpio, seed=seed, **robot))
            results.append(
                run(
                    bundle,
                    gpio,
                    world,
                    shift=shift,
                    values=values,
                    ticks=int(60 * RATE_HZ),
                    learn=False,
                    learning=learning,
                    seed=k,
                )
            )
    return merge(results)


def per_minute(result: RunResult) -> dict[str, float]:
    """Return and collisions per simulated minute."""
    minutes = max(result.simulated_s, 1e-9) / 60.0
    return {
        "return_per_min": round(float(result.rewards.mean() * 60 * RATE_HZ), 1),
        "collisions_per_min": round(result.collisions / minutes, 3),
    }


def share(value: float, shifted: float, nominal: float) -> float | None:
    """The share of the loss (nominal - shifted) that ``value`` wins back; None: none lost."""
    lost = nominal - shifted
    return round((value - shifted) / lost, 3) if lost > 0 else None


def pooled_share(rows: list[dict[str, Any]], kind: str) -> float | None:
    """The loss won back over all robots that lost: the sum of ``kind``'s gains over the
    bundle's table divided by the sum of the losses (a robot whose loss is small weighs
    little, where a mean of per-robot shares lets a loss of a few points dominate); None when
    no robot lost."""
    lost = [r for r in rows if r["nominal"]["return_per_min"] > r["shifted"]["return_per_min"]]
    total = sum(r["nominal"]["return_per_min"] - r["shifted"]["return_per_min"] for r in lost)
    won = sum(r[kind]["return_per_min"] - r["shifted"]["return_per_min"] for r in lost)
    return round(won / total, 3) if total > 0 else None


def arena_seeds(seeds: int, per_seed: int) -> list[int]:
    """``bench_learning``'s fresh evaluation arenas of its seeds 1..``seeds``."""
    return [a for s in range(1, seeds + 1) for a in eval_seeds(s, per_seed)]


def retrain(
    rows: list[dict[str, Any]],
    robots: dict[str, dict[str, Any]],
    *,
    work: Path,
    seed: int,
    steps: int | None,
    sets: tuple[str, ...] = (),
    init_from: Path | None = None,
    checkpoint: str = "last",
    eval_seeds_n: int,
    arenas_per_seed: int,
    progress: Any = print,
) -> dict[str, Any]:
    """Train, export and evaluate for every row with profiles; the figures and the bars."""
    from bench.shifted_learning_cli import mismatch

    bundle = read_bundle(BUNDLE)
    table = bundle.load_qtable().astype(np.float64)
    chosen = [row for row in rows if "profiles" in row]
    jobs = {
        (row["robot"], kind): (Path(path), work / f"{row['robot']}_{kind}")
        for row in chosen
        for kind, path in row["profiles"].items()
    }
    progress(f"retrain: {len(jobs)} training runs, {min(len(jobs), os.cpu_count() or 1)} at a time")
    trained = train_all(
        jobs,
        seed=seed,
        steps=steps,
        sets=sets,
        bundle=bundle,
        init_from=init_from,
        checkpoint=checkpoint,
    )
    arenas = arena_seeds(eval_seeds_n, arenas_per_seed)
    progress(f"retrain: evaluating on {len(arenas)} fresh arenas, one minute each")
    nominal = per_minute(evaluate(bundle, table, None, arenas))
    out_rows = []
    for row in chosen:
        name, hidden = row["robot"], robots[row["robot"]]
        figures: dict[str, Any] = {"robot": name, "fit_arena": row["arena"], "nominal": nominal}
        figures["shifted"] = per_minute(evaluate(bundle, table, hidden, arenas))
        for kind in ("retrained", "oracle"):
            exported, seconds = trained[(name, kind)]
            other = read_bundle(exported)
            why = mismatch(bundle, other)
            if why is not None:
                raise RuntimeError(f"{exported}: {why}")
            values = other.load_qtable().astype(np.float64)
            figures[kind] = {
                **per_minute(evaluate(bundle, values, hidden, arenas)),
                "train_export_s": round(seconds, 1),
                "run_dir": str(work / f"{name}_{kind}"),
                "profile": str(row["profiles"][kind]),
            }
        for kind in ("retrained", "oracle"):
            figures[kind]["recovered_share"] = share(
                figures[kind]["return_per_min"],
                figures["shifted"]["return_per_min"],
                nominal["return_per_min"],
            )
        got, best = figures["retrained"]["recovered_share"], figures["oracle"]["recovered_share"]
        figures["oracle_gap"] = None if None in (got, best) else round(best - got, 3)
        figures["oracle_gap_met"] = figures["oracle_gap"] is not None and (
            figures["oracle_gap"] <= ORACLE_GAP_BAR + 1e-9
        )
        progress(_retrain_line(figures))
        out_rows.append(figures)
    shares = [r["retrained"]["recovered_share"] for r in out_rows]
    mean_share = None if None in shares or not shares else round(float(np.mean(shares)), 3)
    pooled = {kind: pooled_share(out_rows, kind) for kind in ("retrained", "oracle")}
    return {
        "seed": seed,
        "steps": steps,
        "sets": list(sets),
        "init_from": None if init_from is None else str(init_from.relative_to(ROOT)),
        "checkpoint": checkpoint,
        "arenas": arenas,
        "bars": {"mean_recovered_share": SHARE_BAR, "oracle_gap": ORACLE_GAP_BAR},
        "rows": out_rows,
        "mean_recovered_share": mean_share,
        "pooled_recovered_share": pooled,
        "bars_met": bool(
            mean_share is not None
            and mean_share >= SHARE_BAR
            and all(r["oracle_gap_met"] for r in out_rows)
        ),
    }


def _retrain_line(f: dict[str, Any]) -> str:
    def part(kind: str) -> str:
        share_text = f["shifted" if kind == "shifted" else kind].get("recovered_share")
        tail = "" if share_text is None else f" (share {share_text:.2f})"
        return f"{kind} {f[kind]['return_per_min']:.0f}{tail}"

    return (
        f"{f['robot']:<11} return/min: nominal {f['nominal']['return_per_min']:.0f}, "
        f"{part('shifted')}, {part('retrained')}, {part('oracle')}; gap to oracle "
        f"{f['oracle_gap']}"
    )

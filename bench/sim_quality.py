"""Quality benchmark of sim2pi/ObstacleAvoid-v0: collision-free share and mean forward speed.

``scripts/bench_sim`` runs ``python -m bench.sim_quality``. For each seed it trains DQN with the
shipped preset (``["sim2pi/ObstacleAvoid-v0".dqn]`` in trainer/presets.toml), or takes an existing
run (``--run``), then runs 100 greedy episodes of a checkpoint (default ``last``) on the trainer's
fixed eval seeds and prints: the share of episodes without a collision, the mean speed over all
simulated time (the robot's odometer per second) against the forward action's top speed, the
training wall time, and where the learning-curve PNG and a GIF of the first episode are. The
bar: >= 95 % collision-free, speed >= 0.5 x top, trained in <= 15 minutes. Prints the machine;
writes the figures with the record of ``bench/record.py`` to ``sim_quality.json`` (``--json-dir``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import record

ENV_ID = "sim2pi/ObstacleAvoid-v0"
COLLISION_FREE_BAR = 0.95  # share of greedy episodes without a collision
SPEED_BAR = 0.5  # mean speed as a fraction of the forward action's top speed
WALL_BAR_S = 15 * 60  # training wall time allowed, seconds


@dataclass(frozen=True)
class SimQuality:
    """Greedy evaluation figures of one run's checkpoint."""

    run: str
    checkpoint: str
    episodes: int
    collision_free: int
    mean_speed_m_s: float
    top_speed_m_s: float
    mean_return: float
    mean_length_steps: float
    train_wall_s: float | None  # the run's wall time (training, evaluations, checkpoints)
    learning_curve: str | None
    gif: str | None

    @property
    def collision_free_share(self) -> float:
        """Fraction of the episodes that ended without a collision."""
        return self.collision_free / self.episodes

    @property
    def speed_ratio(self) -> float:
        """Mean speed as a fraction of the forward action's top speed."""
        return self.mean_speed_m_s / self.top_speed_m_s

    @property
    def passed(self) -> bool:
        """Whether the figures meet the bar."""
        wall_ok = self.train_wall_s is None or self.train_wall_s <= WALL_BAR_S
        return (
            self.collision_free_share >= COLLISION_FREE_BAR
            and self.speed_ratio >= SPEED_BAR
            and wall_ok
        )


def train(seed: int, out: Path, overrides: list[str]) -> Path:
    """Train DQN on the env with the preset (plus ``overrides``) into ``out``; returns ``out``."""
    from trainer.training import TrainingRun

    run = TrainingRun.create(ENV_ID, "dqn", seed, overrides, out)
    try:
        run.run(progress=False)
    finally:
        run.close()
    return out


def evaluate_run(
    run_path: Path, checkpoint: str = "last", episodes: int = 100, gif: bool = True
) -> SimQuality:
    """Greedy episodes of a run's checkpoint on the fixed eval seeds; the figures."""
    from trainer.evaluation import eval_seeds
    from trainer.rundir import RunDir

    run_dir = RunDir(run_path)
    if run_dir.env_id != ENV_ID:
        raise SystemExit(f"--run {run_path}: expected a run of {ENV_ID}, found {run_dir.env_id}")
    act = run_dir.greedy_policy(checkpoint)
    env = run_dir.make_env()
    if env.unwrapped.task_spec != run_dir.spec:
        raise SystemExit(
            f"--run {run_path}: its spec.json differs from shared/reference_robot.py's spec; "
            "evaluate it with the spec it was trained on, or train a new run"
        )
    period_s = env.unwrapped.control_period_s
    collisions, distance_m, time_s, returns, lengths = 0, 0.0, 0.0, [], []
    for seed in eval_seeds(episodes):
        observation, _ = env.reset(seed=seed)
        total, steps, done, collided = 0.0, 0, False, False
        while not done:
            observation, reward, terminated, truncated, info = env.step(act(observation))
            total += float(reward)
            steps += 1
            distance_m += info["speed_m_s"] * period_s
            time_s += period_s
            # An episode with any colliding step is not collision-free: with collision="continue"
            # a collision does not end the episode.
            collided |= bool(info["collided"])
            done = terminated or truncated
        collisions += collided
        returns.append(total)
        lengths.append(steps)
    top_m_s = env.unwrapped.forward_top_speed_m_s
    env.close()
    summary_path = run_path / "summary.json"
    wall_s = json.loads(summary_path.read_text())["wall_seconds"] if summary_path.exists() else None
    curve = run_path / "learning_curve.png"
    gif_path = _render_gif(run_path, checkpoint) if gif else None
    return SimQuality(
        run=str(run_path),
        checkpoint=checkpoint,
        episodes=episodes,
        collision_free=episodes - collisions,
        mean_speed_m_s=distance_m / time_s,
        top_speed_m_s=top_m_s,
        mean_return=sum(returns) / episodes,
        mean_length_steps=sum(lengths) / episodes,
        train_wall_s=wall_s,
        learning_curve=str(curve) if curve.exists() else None,
        gif=gif_path,
    )


def _render_gif(run_path: Path, checkpoint: str) -> str:
    """``python -m trainer eval RUN --render gif`` (one episode); the GIF's path."""
    command = [sys.executable, "-m", "trainer", "eval", str(run_path)]
    command += ["--episodes", "1", "--checkpoint", checkpoint, "--render", "gif"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return str(run_path / f"eval_{checkpoint}.gif")


def report(q: SimQuality) -> str:
    """One human-readable paragraph of the figures against the bar."""
    wall = "unknown" if q.train_wall_s is None else f"{q.train_wall_s / 60:.1f} min"
    return (
        f"{q.run} [{q.checkpoint}] {q.episodes} greedy episodes: collision-free "
        f"{q.collision_free}/{q.episodes} = {100 * q.collision_free_share:.0f} % (bar 95 %), "
        f"mean speed {q.mean_speed_m_s:.3f} m/s = {q.speed_ratio:.2f} x top "
        f"{q.top_speed_m_s:.3f} m/s (bar 0.50), mean return {q.mean_return:.1f}, mean length "
        f"{q.mean_length_steps:.0f} steps; training wall time {wall} (bar 15 min) -> "
        f"{'PASS' if q.passed else 'FAIL'}\n"
        f"  learning curve: {q.learning_curve}\n  gif: {q.gif}"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train (or take --run) and evaluate; 0 if every run meets the bar."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = argparse.ArgumentParser(prog="scripts/bench_sim", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="training seeds")
    parser.add_argument(
        "--run", type=Path, action="append", default=[], metavar="RUN_DIR",
        help="evaluate this existing run instead of training (repeatable)",
    )  # fmt: skip
    parser.add_argument("--checkpoint", choices=("last", "best"), default="last")
    parser.add_argument("--episodes", type=int, default=100, help="greedy episodes (default 100)")
    parser.add_argument(
        "--out", type=Path, default=Path("runs"), help="where new runs go (default runs/)"
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a preset hyperparameter (for experiments; the benchmark uses none)",
    )  # fmt: skip
    parser.add_argument("--no-gif", action="store_true", help="skip rendering the GIF")
    parser.add_argument(
        "--json-dir", type=Path, default=None,
        help="where sim_quality.json (figures + the machine, versions, command) goes "
        "(default --out)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the rows alone as a JSON list here")
    args = parser.parse_args(argv)
    env = record.environment(sys.argv[1:] if argv is None else argv, prog="scripts/bench_sim")
    record.print_environment(env)
    if args.episodes < 1:
        parser.error(f"--episodes: expected a positive number, found {args.episodes}")
    runs = list(args.run)
    if not runs:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for seed in args.seeds:
            out = args.out / f"bench_sim__s{seed}__{stamp}"
            print(f"training seed {seed} into {out} ...", flush=True)
            runs.append(train(seed, out, args.overrides))
    results = []
    for run_path in runs:
        if not (run_path / "config.json").exists():
            parser.error(f"--run {run_path}: not a run directory (no config.json there)")
        q = evaluate_run(run_path, args.checkpoint, args.episodes, gif=not args.no_gif)
        results.append(q)
        print(report(q), flush=True)
    rows: list[dict[str, Any]] = [
        {**asdict(q), "collision_free_share": q.collision_free_share, "passed": q.passed}
        for q in results
    ]
    payload = {"checkpoint": args.checkpoint, "episodes": args.episodes, "rows": rows}
    path = record.write_json("sim_quality", payload, record.finish(env), args.json_dir or args.out)
    print(f"wrote {path}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(q.passed for q in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""``python -m trainer train``: train a new run or ``--resume`` an interrupted one."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from trainer.errors import UsageError
from trainer.hyperparams import ALGOS, CONFIG_CLASSES, field_docs

if TYPE_CHECKING:
    from trainer.robot_profile import RobotProfile
    from trainer.training import TrainingRun


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` and its options."""
    epilog = "hyperparameters (--set key=value; defaults ← trainer/presets.toml ← --set):\n"
    for algo in ALGOS:
        epilog += f"  {algo}:\n"
        for name, doc in field_docs(CONFIG_CLASSES[algo]).items():
            epilog += f"    {name}: {doc}\n"
    parser = subparsers.add_parser(
        "train",
        help="train DQN or tabular Q-learning on a Gymnasium env",
        description="Train a policy; writes a self-describing run directory. Ctrl-C saves the "
        "last checkpoint and exits 0; --resume continues exactly where it stopped.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", help="Gymnasium env id, e.g. CartPole-v1, FrozenLake-v1")
    parser.add_argument("--algo", choices=ALGOS, help="learning algorithm")
    parser.add_argument("--steps", type=int, help="total env steps (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every RNG (default 0)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hyperparameter (repeatable), e.g. --set learning_rate=5e-4",
    )
    parser.add_argument(
        "--env-arg",
        dest="env_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument of the env (repeatable), VALUE as JSON else a string, e.g. "
        "--env-arg motor_gain=0.6 --env-arg 'dead_band_range=[0.3,0.3]'; recorded in the run's "
        "config.json and used by every env of the run (training, evaluation, export)",
    )
    parser.add_argument(
        "--robot-profile",
        type=Path,
        metavar="PATH",
        help="a robot profile (TOML, e.g. trainer/profiles/angled.toml): its [env] table is "
        "the env's keyword arguments, laid over the preset's env table; --env-arg overrides it "
        "key by key; --env defaults to its env_id; recorded in config.json (robot_profile)",
    )
    parser.add_argument(
        "--init-from",
        type=Path,
        metavar="PATH",
        help="start the DQN's network from a trained one instead of random weights: a bundle "
        "(its float32 model) or a run directory (its last checkpoint), of the same observations, "
        "actions and layer sizes; e.g. fine-tune a bundle for a fitted --robot-profile with "
        "fewer --steps and a lower --set eps_start; recorded in config.json (init_from)",
    )
    parser.add_argument(
        "--out", type=Path, help="run directory to create (default runs/{env}__{algo}__s{seed}__…)"
    )
    parser.add_argument(
        "--resume", type=Path, metavar="DIR", help="continue the run in DIR from its last save"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def parse_env_args(items: list[str]) -> dict[str, Any]:
    """``--env-arg KEY=VALUE`` items as env keyword arguments; VALUE is JSON, else a string."""
    env_kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(
                f"--env-arg {item!r}: expected KEY=VALUE with KEY a keyword argument name, "
                "e.g. --env-arg motor_gain=0.6"
            )
        if key in env_kwargs:
            raise UsageError(f"--env-arg {key}: given twice; give each keyword once")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text  # not JSON: a plain string, e.g. --env-arg render_mode=rgb_array
        env_kwargs[key] = value
    return env_kwargs


def _check_resume_env_args(run_path: Path, env_args: dict[str, Any]) -> None:
    """Refuse ``--env-arg`` on ``--resume`` unless the env it builds is the run's: the preset's
    env table, the run's robot profile's ``[env]``, then ``--env-arg`` (train's own merge),
    compared with the recorded env_kwargs key by key; a refusal names the first differing key."""
    from trainer.hyperparams import preset_env_kwargs
    from trainer.rundir import RunDir

    run = RunDir(run_path)
    recorded = _as_json(run.config.get("env_kwargs") or {})
    profile_env = (run.robot_profile or {}).get("env") or {}
    built = _as_json({**preset_env_kwargs(run.env_id, run.algo), **profile_env, **env_args})
    unset = object()
    keys = recorded.keys() | built.keys()
    differ = sorted(k for k in keys if recorded.get(k, unset) != built.get(k, unset))
    if differ:
        key = differ[0]
        more = f" (and {len(differ) - 1} more: {', '.join(differ[1:])})" if differ[1:] else ""
        raise UsageError(
            f"--resume {run_path} --env-arg: the run was trained with env_kwargs "
            f"{json.dumps(recorded)} (config.json), this command builds {json.dumps(built)} (the "
            f"preset's env table ← the run's robot profile ← --env-arg); {key}: recorded "
            f"{_get(recorded, key)}, given {_get(built, key)}{more}; a run keeps its env: give "
            "the run's own --env-arg or none, or start a new run with --env, --algo and these"
        )


def _as_json(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` as config.json holds them (tuples as lists), for comparing."""
    return dict(json.loads(json.dumps(kwargs)))


def _get(kwargs: dict[str, Any], key: str) -> str:
    """``kwargs[key]`` as JSON for comparing and messages, or that it is not set."""
    return json.dumps(kwargs[key]) if key in kwargs else "not set (the env's default)"


def _check_resume_profile(run_path: Path, profile: RobotProfile) -> None:
    """Refuse ``--robot-profile`` on ``--resume`` unless it is the file the run was trained
    with, unchanged (same sha256)."""
    from trainer.rundir import RunDir

    recorded = RunDir(run_path).robot_profile
    if recorded is None:
        raise UsageError(
            f"--resume {run_path} --robot-profile {profile.path}: the run was trained without a "
            "robot profile (config.json has no robot_profile); a run keeps its env: drop "
            "--robot-profile, or start a new run with it"
        )
    if recorded.get("sha256") != profile.sha256:
        same_file = recorded.get("path") == str(profile.path.resolve())
        raise UsageError(
            f"--resume {run_path} --robot-profile {profile.path}: the run was trained with "
            f"robot profile {recorded.get('name')!r} ({recorded.get('path')}, sha256 "
            f"{str(recorded.get('sha256'))[:12]}…), found sha256 {profile.sha256[:12]}… "
            f"({'the file changed since' if same_file else 'another file'}); a run keeps its "
            "env: drop --robot-profile, or start a new run with this profile"
        )


def _with_profile(profile: RobotProfile, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The profile's ``[env]`` with ``--env-arg`` laid over it; one line names what they
    override."""
    overridden = [key for key in env_kwargs if key in profile.env]
    if overridden:
        changes = ", ".join(
            f"{key}={json.dumps(env_kwargs[key])} (profile: {json.dumps(profile.env[key])})"
            for key in overridden
        )
        print(f"--env-arg overrides {profile.describe()}: {changes}", file=sys.stderr)
    return {**profile.env, **env_kwargs}


class _StopFlag:
    """SIGINT handler: the first Ctrl-C asks the loop to save and stop, a second one aborts."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nCtrl-C: saving the last checkpoint (press again to abort)…\n")


def _resume(args: argparse.Namespace, env_kwargs: dict[str, Any]) -> TrainingRun:
    """The run in ``--resume DIR``, after refusing options that would change it."""
    from trainer.robot_profile import load_profile
    from trainer.rundir import RunDir
    from trainer.training import TrainingRun

    names = ("env", "algo", "steps", "out", "init_from")
    extra = [f"--{k.replace('_', '-')}" for k in names if getattr(args, k) is not None]
    if args.overrides:
        extra.append("--set")
    if extra:
        raise UsageError(f"--resume continues the saved run as configured; drop {', '.join(extra)}")
    if not args.resume.is_dir():
        raise UsageError(f"--resume {args.resume}: no such directory")
    if args.robot_profile is not None:
        profile = load_profile(args.robot_profile, RunDir(args.resume).env_id)
        _check_resume_profile(args.resume, profile)
    if args.env_args:
        _check_resume_env_args(args.resume, env_kwargs)
    training = TrainingRun.resume(args.resume)
    print(f"resuming {training.path} at step {training.algorithm.step}", file=sys.stderr)
    return training


def _create(args: argparse.Namespace, env_kwargs: dict[str, Any]) -> TrainingRun:
    """A new run: preset env table ← the robot profile's ``[env]`` ← ``--env-arg``."""
    from trainer.robot_profile import load_profile, read_profile
    from trainer.rundir import add_to_config
    from trainer.training import TrainingRun

    profile = None
    if args.robot_profile is not None:
        if args.env is None:  # the profile says which env it describes
            args.env = read_profile(args.robot_profile).env_id
        profile = load_profile(args.robot_profile, args.env)
        env_kwargs = _with_profile(profile, env_kwargs)
    if args.env is None or args.algo is None:
        raise UsageError("--env and --algo are required (or --resume DIR)")
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps: expected a positive number of env steps, found {args.steps}")
    training = TrainingRun.create(
        args.env,
        args.algo,
        args.seed,
        overrides=args.overrides,
        out=args.out,
        total_steps=args.steps,
        env_kwargs=env_kwargs,
        init_from=args.init_from,
    )
    if profile is not None:
        add_to_config(training.path, "robot_profile", profile.record())
    print(f"run directory: {training.path}", file=sys.stderr)
    return training


def run(args: argparse.Namespace) -> int:
    """Train (or resume), print where the run is and how it did; 0 on success."""
    env_kwargs = parse_env_args(args.env_args)
    start = _resume if args.resume is not None else _create
    training = start(args, env_kwargs)
    stop = _StopFlag()
    previous = signal.signal(signal.SIGINT, stop)
    try:
        done = training.run(stop_requested=lambda: stop.requested, progress=not args.quiet)
    finally:
        signal.signal(signal.SIGINT, previous)
        training.close()
    if not done:
        print(
            f"interrupted at step {training.algorithm.step}; saved {training.path}/checkpoints/last"
            f"\ncontinue with: python -m trainer train --resume {training.path}"
        )
        return 0
    summary = training.summary
    for which in ("best", "last"):
        e = summary[which]["eval"]
        print(
            f"{which:>4} (step {summary[which]['step']}): mean {e['mean']:.2f} ± {e['std']:.2f} "
            f"over {e['episodes']} episodes (min {e['min']:.1f}, max {e['max']:.1f})"
        )
    seconds = summary["train_seconds"]
    solved = summary.get("solved_step")
    ended = "" if solved is None else " (stop_on_solved: a confirmed evaluation was solved)"
    print(f"trained {summary['steps']} steps in {seconds:.1f} s{ended}; run: {training.path}")
    return 0

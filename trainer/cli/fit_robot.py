"""``python -m trainer fit-robot LOG --out profile.toml``: fit the simulator to a drive's log."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fit-robot`` and its options."""
    parser = subparsers.add_parser(
        "fit-robot",
        help="fit the simulator's robot to a calibration drive's log; write a robot profile",
        description="Read the log `python -m robot calibrate` wrote (calibration.jsonl and its "
        ".meta.json), replay what the motors got through the simulator's drive model and fit "
        "each motor's gain, the dead band, the motor time constant, the actuation latency, the "
        "side rangers' angle, and the rangers' noise and dropout, so that every ranger and step "
        "agree on one range-vs-bearing map of the surroundings. Writes a robot profile "
        "(docs/fit-robot.md) for train/eval/export --robot-profile, and prints each value with "
        "its uncertainty and the residual beside the default simulator's. Example: "
        "python -m trainer fit-robot telemetry/calibration.jsonl --out my_robot.toml",
    )
    parser.add_argument("log", type=Path, metavar="LOG", help="the drive's calibration.jsonl")
    parser.add_argument("--out", type=Path, required=True, help="the robot profile to write")
    parser.add_argument(
        "--name", default=None, help="the profile's name (default: the --out file's stem)"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Read, fit, write the profile, print the table; 0 on success."""
    from trainer.errors import UsageError
    from trainer.fit.fitting import fit
    from trainer.fit.log import read_log
    from trainer.fit.profile import ENV_ID, env_kwargs, fit_tables, table_lines
    from trainer.robot_profile_toml import profile_toml, write_profile

    if args.out.suffix != ".toml" or args.out.is_dir():
        raise UsageError(
            f"--out {args.out}: expected a .toml file to write, found "
            f"{'a folder' if args.out.is_dir() else repr(args.out.suffix or 'no suffix')}; "
            "e.g. --out my_robot.toml"
        )
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: no such folder {args.out.parent}; create it first")
    log = read_log(args.log)
    result = fit(log)
    env = env_kwargs(result, log)
    text = profile_toml(
        name=args.name or args.out.stem,
        env_id=ENV_ID,
        env=env,
        source="fit-robot",
        tables=fit_tables(result, log),
    )
    write_profile(args.out, text)
    print(f"fit-robot: {log.path} ({len(log.steps)} ticks at {log.rate_hz:g} Hz)")
    for line in table_lines(result):
        print(line)
    print(f"wrote {args.out}: [env] {', '.join(f'{k} = {v}' for k, v in env.items())}")
    return 0

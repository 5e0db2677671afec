"""``scripts/settle_qtable``: settle a bundle's Q-table with the robot's own learner in simulation.

A Q-table distilled from a DQN is the network's values averaged over each bin; tabular
Q-learning on the same grid settles somewhere else, so on-robot learning started from it first
moves the values towards that, whatever the real world is like. This runs the robot's learner
(``robot/learner.py``, the ``[learning]`` settings) on the unshifted simulator, behind gpiozero's
mock pins (the ``sim`` backend), in fresh rooms one after the other, and writes a copy of the
bundle whose ``qtable.npy`` is the settled table, with ``manifest.settling`` saying how.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot.bench_learning import (  # noqa: E402
    RATE_HZ,
    SETTLE_SEED_BASE,
    setting,
    settings_record,
    settle,
    write_settled,
)
from robot.config import LearningConfig, load_config  # noqa: E402
from robot.learner import LearnerSettings  # noqa: E402
from shared.bundle import read_bundle, sha256_file  # noqa: E402
from shared.errors import BundleError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Settle ``BUNDLE``'s Q-table and write the settled bundle to ``--out``."""
    parser = argparse.ArgumentParser(prog="scripts/settle_qtable", description=__doc__)
    parser.add_argument("bundle", type=Path, help="bundle with a Q-table (export --qtable)")
    parser.add_argument("--out", type=Path, required=True, help="the settled bundle's directory")
    parser.add_argument("--minutes", type=float, default=120.0, help="simulated minutes in all")
    parser.add_argument("--room-minutes", type=float, default=1.0, help="per room, from rest")
    parser.add_argument("--seed", type=int, default=0, help="rooms and exploration draws")
    parser.add_argument(
        "--set",
        type=setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a learner setting (default: the [learning] defaults of robot/config.py)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    args = parser.parse_args(argv)
    try:
        bundle = read_bundle(args.bundle)
        if bundle.qtable_file is None:
            raise BundleError(f"{args.bundle}: has no qtable.npy; export it with --qtable")
        if args.out.exists() and not args.overwrite:
            raise BundleError(f"{args.out}: already exists; choose another --out or --overwrite")
    except BundleError as exc:
        print(f"settle_qtable: {exc}", file=sys.stderr)
        return 2
    if args.minutes <= 0 or not 0 < args.room_minutes <= args.minutes:
        print("settle_qtable: expected 0 < --room-minutes <= --minutes", file=sys.stderr)
        return 2
    gpio = load_config(ROOT / "robot/examples/reference_gpio.toml").hardware.gpio
    settings = LearnerSettings.from_config(LearningConfig(state_dir=args.out), **dict(args.set))
    rooms = max(1, round(args.minutes / args.room_minutes))
    ticks_per_room = int(args.room_minutes * 60 * RATE_HZ)
    before = bundle.load_qtable()
    started = time.perf_counter()
    print(f"settling {args.bundle}: {rooms} rooms x {args.room_minutes} simulated min", flush=True)
    result = settle(
        bundle, gpio, rooms=rooms, ticks_per_room=ticks_per_room, settings=settings, seed=args.seed
    )
    changed = int((result.values.argmax(axis=1) != before.argmax(axis=1)).sum())
    record = {
        "method": "the robot's learner (robot/learner.py) on the unshifted sim backend",
        "rooms": rooms,
        "first_room_seed": SETTLE_SEED_BASE + 1_000 * args.seed,
        "minutes_per_room": args.room_minutes,
        "rate_hz": RATE_HZ,
        "learner": settings_record(settings),
        "from_qtable_sha256": sha256_file(bundle.file(bundle.qtable_file)),
        "updates": int(result.learning.get("updates", 0)),
        "collisions": result.collisions,
        "return_per_min": round(float(result.rewards.mean() * 60 * RATE_HZ), 1),
        "greedy_actions_changed": changed,
        "states": int(before.shape[0]),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    write_settled(bundle, result.values, args.out, record, overwrite=args.overwrite)
    print(json.dumps(record, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

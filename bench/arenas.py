"""``scripts/bench_arenas``: a bundle's policies through the robot runtime across an arena suite.

Every run is ``python -m robot run`` on the ``sim`` backend (``bench/arenas_suite.py``): the
config's policy from the bundle, the real ``ControlLoop``, gpiozero devices on mock pins, the
world's simulated clock; 2 400 ticks (2 simulated minutes at 20 Hz) from rest per seed. Arenas:
4 m/6 (the default), 6 m/12, 4 m/9, 3 m/6 and 3 m/11, each "plain" (the sim backend's defaults)
and "rough" (range noise 0.02 m, dropout 0.05, motor gain 0.8). Seeds from 1000 on: no training
or tuning used them. Prints the machine, the table and the bars, writes ``arenas.json`` (figures and
the record of ``bench/record.py``) to ``--out``; exit 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import record  # noqa: E402
from bench.arenas_suite import (  # noqa: E402
    CLUTTERED,
    DEFAULT_ARENA,
    FIRST_SEED,
    SUITE,
    aggregate,
    parse_arena,
    run_arena,
)
from robot.config import load_config  # noqa: E402
from shared.bundle import read_bundle  # noqa: E402

POLICIES = ("tflite", "tflite-int8", "qtable")
#: Metres per simulated minute of the reference bundle (``reference_bundles/obstacle_avoid`` at
#: 3dbdeac), policy tflite, in the default arena (4 m/6 plain), seeds 1000..1019, 2 400 ticks:
#: measured with this benchmark (docs/benchmarks/arenas.md). The speed bars are shares of it.
REFERENCE_M_PER_MIN = 24.2


#: How a row's policy reads with the supervisor off.
OFF = " (supervisor off)"
MODES = {"on": (True,), "off": (False,), "both": (True, False)}


def label(policy: str, supervisor: bool) -> str:
    """A row's policy: ``tflite``, or ``tflite (supervisor off)``."""
    return policy if supervisor else policy + OFF


def bars(results: dict[str, dict[str, Any]], reference: float) -> list[dict[str, Any]]:
    """Every bar of the suite that the measured arenas and policies allow, met or not: on the
    rows with the supervisor (what ``robot run`` does), or, without any, on those without."""
    out = []

    def bar(what: str, arena: str, policy: str, value: float, limit: float, *, low: bool) -> None:
        met = value >= limit if low else value <= limit
        out.append(
            {"bar": what, "arena": arena, "policy": policy, "value": value, "limit": limit}
            | {"kind": ">=" if low else "<=", "met": bool(met)}
        )

    judged_on = {any(f["supervisor"] for per in results.values() for f in per.values())}
    for arena, per_policy in results.items():
        cluttered = arena.startswith(CLUTTERED + " ")
        for policy, figures in per_policy.items():
            if figures["supervisor"] not in judged_on:
                continue
            bar("longest contact s", arena, policy, figures["longest_contact_s"], 1.0, low=False)
            share = 0.02 if cluttered else 0.005
            bar("share in contact", arena, policy, figures["contact_share"], share, low=False)
            free = 0.95 if arena == DEFAULT_ARENA else 0.80 if cluttered else None
            if free is not None and policy == "tflite":
                value = figures["collision_free_minutes"]
                bar("collision-free minutes", arena, policy, value, free, low=True)
            speed = 0.9 if arena == DEFAULT_ARENA else 0.5 if cluttered else None
            if speed is not None:
                value = figures["metres_per_min"]
                bar("metres/min", arena, policy, value, speed * reference, low=True)
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| arena | policy | collision-free min | ticks in contact | longest contact s | m/min "
        "| runs with contact | contacts | supervisor took over | stuck | stops |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arena, per_policy in results.items():
        for policy, f in per_policy.items():
            stops = ", ".join(
                f"{k} ×{v['events']} ({v['ticks']} ticks)" for k, v in f["stops"].items()
            )
            took = ", ".join(f"{k} ×{v}" for k, v in f["takeovers"].items() if v)
            if f["no_progress_while_moving"]:
                took += f" ({f['no_progress_while_moving']} no_progress while moving)"
            lines.append(
                f"| {arena} | {policy} | {100 * f['collision_free_minutes']:.1f} % "
                f"| {100 * f['contact_share']:.2f} % | {f['longest_contact_s']:.2f} "
                f"| {f['metres_per_min']:.1f} | {f['runs_with_contact']}/{f['runs']} "
                f"| {f['contact_events']} | {(took or 'never') if f['supervisor'] else '—'} "
                f"| {f['stuck'] if f['supervisor'] else '—'} | {stops or 'none'} |"
            )
    return "\n".join(lines)


def _quiet() -> None:
    """Only errors from the runtime's loggers; no gpiozero software-PWM warnings."""
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("robot").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="gpiozero")


def _job(job: tuple[str, str, str, str, int, int, bool]) -> tuple[str, str, dict[str, Any]]:
    """One run in a worker: (config, bundle, policy, arena, seed, ticks, supervisor) → its
    arena, its row's policy label and its figures."""
    config, bundle, policy, arena_text, seed, ticks, supervisor = job
    _quiet()
    arena = parse_arena(arena_text)
    base = load_config(config)
    run = run_arena(
        base, Path(bundle), policy, arena, seed=seed, ticks=ticks, supervisor=supervisor
    )
    return arena.name, label(policy, supervisor), run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="scripts/bench_arenas", description=__doc__)
    parser.add_argument(
        "--bundle", type=Path, default=ROOT / "reference_bundles/obstacle_avoid", help="bundle dir"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT / "robot/examples/reference_sim.toml",
        help="a robot.toml with [hardware] backend = 'sim' (its pins, [loop]); [bundle] and the "
        "world's keys are set per run",
    )
    parser.add_argument(
        "--policies", default="all", help="comma-separated: tflite,tflite-int8,qtable (default all)"
    )
    parser.add_argument(
        "--arena",
        action="append",
        default=[],
        type=_arena_arg,
        help="e.g. '3m/11 rough' (repeatable; default the suite of 10: "
        + ", ".join(a.name for a in SUITE)
        + ")",
    )
    parser.add_argument(
        "--supervisor",
        choices=tuple(MODES),
        default="both",
        help="run with the config's [supervisor] on, off, or both (default; its share shows); "
        "the bars judge the runs with it",
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds per arena (default 20)")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED, help="default 1000")
    parser.add_argument("--ticks", type=int, default=2400, help="per run (default 2400: 2 min)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--reference-m-per-min",
        type=float,
        default=REFERENCE_M_PER_MIN,
        help=f"the speed bars' reference (default {REFERENCE_M_PER_MIN}: the reference bundle)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=record.SCRATCH_DIR,
        help="where arenas.json goes (default runs/bench; scripts/bench_docs passes "
        "docs/benchmarks/data, which it renders into arenas.md)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; print the table and the bars; write the JSON; 1 if a bar is missed."""
    args = parse_args(argv)
    _quiet()
    bundle = read_bundle(args.bundle)
    present = [p for p in POLICIES if _has(bundle, p)]
    wanted = present if args.policies == "all" else args.policies.split(",")
    missing = [p for p in wanted if p not in present]
    if missing:
        print(f"bench_arenas: {args.bundle} has no {missing} (it has {present})", file=sys.stderr)
        return 2
    arenas = [parse_arena(text) for text in args.arena] or list(SUITE)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    env = record.environment(sys.argv[1:] if argv is None else argv, prog="scripts/bench_arenas")
    record.print_environment(env)
    modes = MODES[args.supervisor]
    config, bundle_dir = str(args.config), str(args.bundle.resolve())
    jobs = [
        (config, bundle_dir, policy, arena.name, seed, args.ticks, on)
        for arena in arenas
        for on in modes
        for policy in wanted
        for seed in seeds
    ]
    started = time.perf_counter()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        a.name: {label(p, on): [] for on in modes for p in wanted} for a in arenas
    }
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            done = list(pool.imap_unordered(_job, jobs))
    else:
        done = [_job(job) for job in jobs]
    for arena_name, policy, run in done:
        runs[arena_name][policy].append(run)
    wall_s = time.perf_counter() - started
    results = {
        arena: {p: aggregate(sorted(r, key=lambda x: x["seed"])) for p, r in per.items()}
        for arena, per in runs.items()
    }
    judged = bars(results, args.reference_m_per_min)
    print(table(results))
    for b in judged:
        mark = "met   " if b["met"] else "MISSED"
        where = f"{b['bar']} {b['arena']} {b['policy']}"
        print(f"{mark} {where}: {b['value']:.4g} {b['kind']} {b['limit']:.4g}")
    missed = sum(not b["met"] for b in judged)
    print(f"{len(judged) - missed}/{len(judged)} bars met; {len(jobs)} runs in {wall_s:.1f} s wall")
    payload = {
        "bundle": str(args.bundle),
        "config": str(args.config),
        "seeds": seeds,
        "ticks": args.ticks,
        "supervisor": args.supervisor,
        "jobs": args.jobs,
        "reference_m_per_min": args.reference_m_per_min,
        "wall_s": round(wall_s, 1),
        "results": results,
        "bars": judged,
        "runs": runs,
    }
    path = record.write_json("arenas", payload, record.finish(env), args.out)
    print(f"wrote {path}")
    return 1 if missed else 0


def _arena_arg(text: str) -> str:
    """An ``--arena`` value, checked (an argparse type)."""
    try:
        parse_arena(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _has(bundle: Any, policy: str) -> bool:
    """Whether ``bundle`` carries ``policy`` (a model of its kind, or a Q-table)."""
    if policy == "qtable":
        return bundle.qtable_file is not None
    return {"tflite": "float32", "tflite-int8": "int8"}[policy] in bundle.models


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m trainer sweep SPEC.toml``: many training runs on Ray Tune, ranked on fresh seeds."""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from trainer.errors import UsageError

INSTALL = "pip install -r requirements-sweep.txt"
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sweep`` and its options."""
    parser = subparsers.add_parser(
        "sweep",
        help="train a sweep of seeds and settings with Ray Tune and rank the results",
        description="Train every setting of SPEC.toml with every seed, one `trainer train` run "
        "directory per trial, on local Ray (one CPU per trial) or a cluster; rank the trials on "
        "seeds none of them trained on. Ctrl-C stops the trials at a checkpoint; --resume "
        "finishes the rest. Needs Ray Tune: " + INSTALL + ". Spec format: docs/sweeps.md.",
    )
    parser.add_argument("spec", type=Path, metavar="SPEC.toml", help="the sweep's spec")
    parser.add_argument(
        "--out", type=Path, help="sweep directory (default runs/sweeps/{spec}__{time})"
    )
    parser.add_argument(
        "--address", help="an existing Ray cluster, e.g. 127.0.0.1:6379 (default: local Ray)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="finish the sweep in --out: finished trials are kept, interrupted ones resume",
    )
    parser.add_argument(
        "--export-best",
        type=Path,
        metavar="BUNDLE_DIR",
        help="export the best setting's best trial to this bundle (its manifest names the sweep)",
    )
    parser.add_argument(
        "--max-concurrent", type=int, metavar="N", help="at most N trials at once (default: CPUs)"
    )
    parser.set_defaults(func=run)
    return parser


def _ray_available() -> bool:
    try:
        importlib.import_module("ray.tune")
    except ImportError:
        return False
    return True


def _recorded_spec(out: Path) -> dict[str, Any]:
    """The spec recorded in ``out/sweep.json`` (``UsageError`` when it is not a sweep's)."""
    record = out / "sweep.json"
    try:
        recorded = json.loads(record.read_text())["spec"]
    except FileNotFoundError:
        raise UsageError(f"--resume --out {out}: no sweep.json there; not a sweep") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"--resume --out {out}: {record} is not a sweep record ({type(exc).__name__}: "
            f"{exc}); start a new sweep with another --out"
        ) from None
    if not isinstance(recorded, dict):
        raise UsageError(f"--resume --out {out}: {record}: 'spec' is not a table; not a sweep")
    return recorded


def _prepare_out(spec: Any, args: argparse.Namespace) -> Path:
    """The sweep directory: new (refusing a non-empty one) or, with --resume, the same spec's."""
    if args.resume:
        if args.out is None:
            raise UsageError("--resume: give the sweep directory with --out DIR")
        recorded = _recorded_spec(args.out)
        given = json.loads(json.dumps(spec.to_dict()))
        for spec_dict in (recorded, given):  # the same spec by another path is the same spec
            spec_dict.pop("path", None)
        if recorded != given:
            changed = sorted(
                k for k in recorded.keys() | given.keys() if recorded.get(k) != given.get(k)
            )
            raise UsageError(
                f"--resume --out {args.out}: {spec.path} differs from the spec the sweep was "
                f"started with (recorded in {args.out / 'sweep.json'}; {', '.join(changed)} "
                "changed); resume with that spec, or start a new sweep with another --out"
            )
        return args.out
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("runs") / "sweeps" / f"{spec.path.stem}__{stamp}"
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory; choose a new directory")
    if out.exists() and any(out.iterdir()):
        raise UsageError(
            f"--out {out}: exists and is not empty; choose a new directory, or finish that "
            f"sweep with --out {out} --resume"
        )
    record = {"spec": spec.to_dict(), "created_at": _dt.datetime.now(_dt.UTC).isoformat()}
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps(record, indent=2) + "\n")
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot create it ({exc}); choose another directory"
        ) from None
    return out


def _check_bundle_target(bundle: Path | None) -> None:
    """--export-best: a new directory in an existing, writable folder (checked before training)."""
    if bundle is None:
        return
    if bundle.exists():
        raise UsageError(f"--export-best {bundle}: exists; choose a new directory")
    parent = bundle.absolute().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(
            f"--export-best {bundle}: {parent} is not a writable folder; create it or choose "
            "another BUNDLE_DIR"
        )


def _export_best(run_dir: Path, bundle: Path, checkpoint: str) -> None:
    """Export ``run_dir`` to ``bundle`` whole or not at all: into a temporary folder, renamed."""
    from trainer.export.exporter import ExportOptions, export_run

    partial = Path(
        tempfile.mkdtemp(prefix=f".{bundle.name}.partial-", dir=bundle.absolute().parent)
    )
    try:
        export_run(run_dir, partial / "bundle", ExportOptions(checkpoint=checkpoint))
        (partial / "bundle").rename(bundle)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    """Run the sweep, print the table, write the results; 0 when every trial finished."""
    if not _ray_available():
        sys.stderr.write(f"python -m trainer sweep: needs Ray Tune; install it with: {INSTALL}\n")
        return 2
    from trainer.sweep.spec import load_spec
    from trainer.sweep.trials import trials
    from trainer.sweep.tune_run import run_trials

    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UsageError(f"--max-concurrent: expected N >= 1, found {args.max_concurrent}")
    _check_bundle_target(args.export_best)
    spec = load_spec(args.spec)
    total = len(trials(spec))  # every check passed before anything is written
    out = _prepare_out(spec, args)
    print(f"sweep: {total} trials of {spec.env_id} {spec.algo} into {out}", flush=True)
    try:
        outcomes, interrupted = run_trials(
            spec, out, address=args.address, max_concurrent=args.max_concurrent
        )
    except KeyboardInterrupt:  # the second Ctrl-C: no ranking, no results files
        print(f"aborted; finish with: python -m trainer sweep {args.spec} --out {out} --resume")
        return EXIT_INTERRUPTED
    return _rank_and_export(args, spec, out, outcomes, interrupted=interrupted)


def _rank_and_export(
    args: argparse.Namespace, spec: Any, out: Path, outcomes: list[Any], *, interrupted: bool
) -> int:
    """Rank the trials, print and write the results, export the best; the exit code."""
    from trainer.sweep import ranking, report
    from trainer.sweep.rank_tasks import to_rank
    from trainer.sweep.ranked import RankParams

    resume = f"python -m trainer sweep {args.spec} --out {out} --resume"
    todo = to_rank(RankParams.of(spec), [o.run_dir for o in outcomes if o.status != "failed"])
    if todo:  # the others ranked themselves after training, or in a Ray task
        print(f"ranking {len(todo)} trials on {spec.rank_episodes} episodes each…", flush=True)
    try:
        bar = ranking.bar_of(spec.env_id)
        results = [ranking.rank_trial(spec, outcome, bar) for outcome in outcomes]
        settings = ranking.by_setting(results, bar)
        chosen = ranking.winner(settings, results)
        for result in results:
            if Path(result.run_dir, "config.json").is_file():
                report.record_sweep(Path(result.run_dir), _sweep_record(out, spec, result, chosen))
        print(report.table(spec, results, settings, bar, chosen))
        report.write_results(out, spec, results=results, settings=settings, bar=bar, chosen=chosen)
    except KeyboardInterrupt:  # the trained trials are on disk; --resume ranks them again
        print(f"interrupted while ranking; the trials are kept; rank them with: {resume}")
        return EXIT_INTERRUPTED
    print(f"results: {out}/results.csv, results.json, results.png")
    if interrupted:
        print(f"interrupted; finish with: {resume}")
        return EXIT_INTERRUPTED
    if args.export_best is not None and chosen is not None:
        try:
            _export_best(Path(chosen[1].run_dir), args.export_best, spec.rank_checkpoint)
        except KeyboardInterrupt:
            print(f"interrupted while exporting; nothing written to {args.export_best}; export "
                  f"again with: {resume} --export-best {args.export_best}")  # fmt: skip
            return EXIT_INTERRUPTED
        print(f"exported {chosen[1].name} to {args.export_best}")
    failed = [r.name for r in results if r.status == "failed"]
    if failed:
        print(f"{len(failed)} of {len(results)} trials failed: {', '.join(failed)}")
        return EXIT_FAILED
    return 0


def _sweep_record(
    out: Path, spec: Any, result: Any, chosen: tuple[Any, Any] | None
) -> dict[str, Any]:
    """What a trial's config.json (and a bundle exported from it) says about its sweep; a
    trial ranked on the arena suite names its seeds' base and the suite's arenas."""
    from shared.arena_suite import SUITE
    from trainer.evaluation import ARENA_RANKING_SEED_BASE, RANKING_SEED_BASE
    from trainer.sweep.arenas import ranks_on_arenas

    best = chosen is not None and chosen[1].name == result.name
    on_arenas = ranks_on_arenas(spec.env_id)
    return {
        "sweep_dir": str(out.resolve()),
        "spec": str(spec.path.resolve()),
        "trial": result.name,
        "setting": result.setting,
        "label": result.label,
        "ranking_seed_base": ARENA_RANKING_SEED_BASE if on_arenas else RANKING_SEED_BASE,
        **(
            {
                "arenas": [arena.name for arena in SUITE],
                "rank_arena_episodes": spec.rank_arena_episodes,
            }
            if on_arenas
            else {}
        ),
        "rank_episodes": spec.rank_episodes,
        "rank_checkpoint": spec.rank_checkpoint,
        "score": result.score,
        "setting_mean": None if chosen is None or not best else chosen[0].mean,
        "setting_std": None if chosen is None or not best else chosen[0].std,
        "chosen": best,
    }

"""``python -m trainer sweep SPEC.toml``: many training runs on Ray Tune, ranked on fresh seeds."""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import sys
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


def _prepare_out(spec: Any, args: argparse.Namespace) -> Path:
    """The sweep directory: new (refusing a non-empty one) or, with --resume, the same spec's."""
    if args.resume:
        if args.out is None:
            raise UsageError("--resume: give the sweep directory with --out DIR")
        record = args.out / "sweep.json"
        if not record.is_file():
            raise UsageError(f"--resume --out {args.out}: no sweep.json there; not a sweep")
        recorded = json.loads(record.read_text())["spec"]
        given = json.loads(json.dumps(spec.to_dict()))
        for spec_dict in (recorded, given):  # the same spec by another path is the same spec
            spec_dict.pop("path", None)
        if recorded != given:
            raise UsageError(
                f"--resume --out {args.out}: {spec.path} differs from the spec the sweep was "
                f"started with (recorded in {record}); resume with that spec, or start a new "
                "sweep with another --out"
            )
        return args.out
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("runs") / "sweeps" / f"{spec.path.stem}__{stamp}"
    if out.exists() and any(out.iterdir()):
        raise UsageError(
            f"--out {out}: exists and is not empty; choose a new directory, or finish that "
            f"sweep with --out {out} --resume"
        )
    out.mkdir(parents=True, exist_ok=True)
    record = {"spec": spec.to_dict(), "created_at": _dt.datetime.now(_dt.UTC).isoformat()}
    (out / "sweep.json").write_text(json.dumps(record, indent=2) + "\n")
    return out


def run(args: argparse.Namespace) -> int:
    """Run the sweep, print the table, write the results; 0 when every trial finished."""
    if not _ray_available():
        sys.stderr.write(f"python -m trainer sweep: needs Ray Tune; install it with: {INSTALL}\n")
        return 2
    from trainer.sweep import ranking, report
    from trainer.sweep.spec import load_spec
    from trainer.sweep.trials import trials
    from trainer.sweep.tune_run import run_trials

    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UsageError(f"--max-concurrent: expected N >= 1, found {args.max_concurrent}")
    if args.export_best is not None and args.export_best.exists():
        raise UsageError(f"--export-best {args.export_best}: exists; choose a new directory")
    spec = load_spec(args.spec)
    out = _prepare_out(spec, args)
    total = len(trials(spec))
    print(f"sweep: {total} trials of {spec.env_id} {spec.algo} into {out}", flush=True)
    try:
        outcomes, interrupted = run_trials(
            spec, out, address=args.address, max_concurrent=args.max_concurrent
        )
    except KeyboardInterrupt:  # the second Ctrl-C: no ranking, no results files
        print(f"aborted; finish with: python -m trainer sweep {args.spec} --out {out} --resume")
        return EXIT_INTERRUPTED
    bar = ranking.bar_of(spec.env_id)
    results = [ranking.rank_trial(spec, outcome, bar) for outcome in outcomes]
    settings = ranking.by_setting(results, bar)
    chosen = ranking.winner(settings, results)
    for result in results:
        if Path(result.run_dir, "config.json").is_file():
            report.record_sweep(Path(result.run_dir), _sweep_record(out, spec, result, chosen))
    print(report.table(spec, results, settings, bar, chosen))
    report.write_results(out, spec, results=results, settings=settings, bar=bar, chosen=chosen)
    print(f"results: {out}/results.csv, results.json, results.png")
    if interrupted:
        print(f"interrupted; finish with: python -m trainer sweep {args.spec} --out {out} --resume")
        return EXIT_INTERRUPTED
    if args.export_best is not None and chosen is not None:
        from trainer.export.exporter import ExportOptions, export_run

        options = ExportOptions(checkpoint=spec.rank_checkpoint)
        exported = export_run(Path(chosen[1].run_dir), args.export_best, options)
        print(f"exported {chosen[1].name} to {exported.bundle.path}")
    failed = [r.name for r in results if r.status == "failed"]
    if failed:
        print(f"{len(failed)} of {len(results)} trials failed: {', '.join(failed)}")
        return EXIT_FAILED
    return 0


def _sweep_record(
    out: Path, spec: Any, result: Any, chosen: tuple[Any, Any] | None
) -> dict[str, Any]:
    """What a trial's config.json (and a bundle exported from it) says about its sweep."""
    from trainer.evaluation import RANKING_SEED_BASE

    best = chosen is not None and chosen[1].name == result.name
    return {
        "sweep_dir": str(out.resolve()),
        "spec": str(spec.path.resolve()),
        "trial": result.name,
        "setting": result.setting,
        "label": result.label,
        "ranking_seed_base": RANKING_SEED_BASE,
        "rank_episodes": spec.rank_episodes,
        "rank_checkpoint": spec.rank_checkpoint,
        "score": result.score,
        "setting_mean": None if chosen is None or not best else chosen[0].mean,
        "setting_std": None if chosen is None or not best else chosen[0].std,
        "chosen": best,
    }

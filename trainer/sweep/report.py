"""A sweep's results: the table on stdout, ``results.csv``, ``results.json``, ``results.png``.

On the arena suite (``sim2pi/ObstacleAvoid-v0``) the table and ``results.csv`` also have each
trial's worst arena (its mean and name), and ``results.json`` every arena's episodes of both
checkpoints, with the env kwargs they were built with and their seeds.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

from shared.arena_suite import SUITE
from trainer.evaluation import ARENA_RANKING_SEED_BASE, RANKING_SEED_BASE
from trainer.rundir import write_json
from trainer.sweep.arenas import ranks_on_arenas
from trainer.sweep.ranking import SettingResult, TrialResult
from trainer.sweep.spec import SweepSpec

#: The fields of a ``TrialResult`` that only a sweep ranked on the arena suite has.
ARENA_FIELDS = ("rank_worst", "worst_arena", "arenas")


def _num(value: float | None, width: int = 8) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.1f}"


def _passed(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _ranked_on(spec: SweepSpec) -> str:
    """What the trials were ranked on, for the table's first line."""
    if not ranks_on_arenas(spec.env_id):
        return f"ranked on {spec.rank_episodes} episodes from seed {RANKING_SEED_BASE}"
    return (
        f"ranked on the arena suite: {len(SUITE)} arenas x {spec.rank_arena_episodes} episodes "
        f"from seed {ARENA_RANKING_SEED_BASE}, score the mean of all"
    )


def table(
    spec: SweepSpec,
    results: list[TrialResult],
    settings: list[SettingResult],
    bar: float | None,
    chosen: tuple[SettingResult, TrialResult] | None,
) -> str:
    """The results as text: one line per trial, then one per setting, then the winner."""
    bar_text = "no bar (the env has no reward_threshold)" if bar is None else f"bar {bar:g}"
    arenas = ranks_on_arenas(spec.env_id)
    worst = f" {'worst':>8} {'worst arena':<11}" if arenas else ""
    lines = [
        f"{_ranked_on(spec)} (checkpoint {spec.rank_checkpoint!r}); {bar_text}",
        f"{'trial':<10} {'seed':>5} {'status':<11} {'rank best':>9} {'rank last':>9}{worst} "
        f"{'passed':>6}  setting",
    ]
    for r in results:
        worst = f" {_num(r.rank_worst)} {r.worst_arena or '-':<11}" if arenas else ""
        lines.append(
            f"{r.name:<10} {r.seed:>5} {r.status:<11} {_num(r.rank_best, 9)} "
            f"{_num(r.rank_last, 9)}{worst} {_passed(r.passed):>6}  {r.label}"
        )
        if r.error:
            lines.append(f"{'':<10} error: {r.error}")
    lines.append("")
    lines.append(
        f"{'setting':<8} {'mean':>8} {'std':>8} {'min':>8} {'max':>8} {'passed':>7}  label"
    )
    for s in settings:
        passed = "-" if s.passed is None else f"{s.passed}/{s.trials}"
        failed = f"  ({s.failed} failed: cannot win)" if s.failed else ""
        lines.append(
            f"{s.setting:<8} {_num(s.mean)} {_num(s.std)} {_num(s.min)} {_num(s.max)} "
            f"{passed:>7}  {s.label}{failed}"
        )
    if chosen is not None:
        best, trial = chosen
        lines.append(
            f"\nbest setting: {best.setting} ({best.label}), mean {best.mean:.1f}; "
            f"its best trial: {trial.name} ({trial.run_dir})"
        )
    return "\n".join(lines)


def _row(result: TrialResult, arenas: bool) -> dict[str, Any]:
    """A trial's row of results.json: the arena suite's fields only where it ranked on it."""
    row = dataclasses.asdict(result)
    return row if arenas else {k: v for k, v in row.items() if k not in ARENA_FIELDS}


def write_results(
    out: Path,
    spec: SweepSpec,
    *,
    results: list[TrialResult],
    settings: list[SettingResult],
    bar: float | None,
    chosen: tuple[SettingResult, TrialResult] | None,
) -> dict[str, Any]:
    """Write results.csv (one row per trial), results.json (everything), results.png."""
    arenas = ranks_on_arenas(spec.env_id)
    rows = [_row(r, arenas) for r in results]
    flat = [{k: v for k, v in row.items() if k != "arenas"} for row in rows]
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(flat[0]) if flat else ["name"])
        writer.writeheader()
        writer.writerows(flat)
    data: dict[str, Any] = {
        "spec": spec.to_dict(),
        "ranking_seed_base": ARENA_RANKING_SEED_BASE if arenas else RANKING_SEED_BASE,
        "rank_episodes": spec.rank_episodes,
    }
    if arenas:
        data["arena_suite"] = {
            "arenas": [arena.name for arena in SUITE],
            "episodes_per_arena": spec.rank_arena_episodes,
        }
    data |= {
        "bar": bar,
        "trials": rows,
        "settings": [dataclasses.asdict(s) for s in settings],
        "winner": None
        if chosen is None
        else {"setting": dataclasses.asdict(chosen[0]), "trial": chosen[1].name},
    }
    write_json(out / "results.json", data)
    plot(out / "results.png", spec, results, settings, bar)
    return data


def plot(
    path: Path,
    spec: SweepSpec,
    results: list[TrialResult],
    settings: list[SettingResult],
    bar: float | None,
) -> None:
    """Each trial's score (dots) and each setting's mean (bars) on the ranking seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(settings) + 2), 3.6))
    xs = range(len(settings))
    ax.bar(xs, [s.mean or 0.0 for s in settings], color="#c6dbef", label="setting mean")
    for x, s in zip(xs, settings, strict=True):
        scores = [r.score for r in results if r.setting == s.setting and r.score is not None]
        ax.plot([x] * len(scores), scores, "o", color="#08519c", ms=4)
    if bar is not None:
        ax.axhline(bar, color="#a50f15", lw=1, ls="--", label=f"bar {bar:g}")
    ax.set_xticks(list(xs), [str(s.setting) for s in settings])
    ax.set_xlabel("setting (labels in results.csv)")
    on = "arena-suite" if ranks_on_arenas(spec.env_id) else "ranking"
    ax.set_ylabel(f"return, {spec.rank_episodes} {on} episodes")
    ax.set_title(f"{spec.env_id} · {spec.algo} · {len(results)} trials", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def record_sweep(run_dir: Path, record: dict[str, Any]) -> None:
    """Add ``record`` as ``sweep`` to a trial's config.json (the bundle's manifest carries it)."""
    config_file = run_dir / "config.json"
    config = json.loads(config_file.read_text())
    config["sweep"] = record
    write_json(config_file, config)

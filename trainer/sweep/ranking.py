"""Ranking a sweep's trials on seeds none of them trained, selected or confirmed on.

Every trial that saved a checkpoint plays ``rank_episodes`` greedy episodes from the ranking
seeds (``trainer.evaluation.RANKING_SEED_BASE + i``) with its best and its last checkpoint; the
spec's ``rank_checkpoint`` is its score. A setting's score is the mean over its seeds; the
winning setting has the highest mean (a tie goes to the smaller spread) among the settings none
of whose trials failed, and its best trial is the one ``--export-best`` exports.
The bar is the env's Gymnasium ``reward_threshold``.

A ``sim2pi/ObstacleAvoid-v0`` trial is ranked on the arena suite instead (``arenas.py``): each
checkpoint plays ``rank_arena_episodes`` episodes in each of the suite's arenas, from
``trainer.evaluation.ARENA_RANKING_SEED_BASE + i``; its score is the mean over all of them, and
the ranked checkpoint's worst arena (its mean and name) and every arena's episodes (with the env
kwargs they were built with) are in the results.

The trials are ranked in parallel before Ray stops, one Ray task with one CPU per trial
(``rank_tasks.py``), which keep each trial's scores in its run directory (``ranked.py``):
``rank_trial`` reads them back and computes only the ones missing or out of date (the sweep was
interrupted, a task failed), with the same functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.evaluation import evaluate, ranking_seeds
from trainer.sweep import ranked
from trainer.sweep.arenas import ArenaScore, ranks_on_arenas, score_on_arenas, suite_mean, worst
from trainer.sweep.checks import DEFAULT_ARENA_EPISODES
from trainer.sweep.ranked import RankParams
from trainer.sweep.spec import SweepSpec
from trainer.sweep.tune_run import TrialRun


@dataclass(frozen=True)
class TrialResult:
    """One trial's row of the results."""

    name: str
    setting: int
    label: str
    seed: int
    status: str
    error: str | None
    run_dir: str
    steps: int | None
    eval_best: float | None  # summary.json: best checkpoint on the evaluation seeds
    eval_last: float | None  # summary.json: last checkpoint on the evaluation seeds
    rank_best: float | None  # best checkpoint on the ranking seeds
    rank_last: float | None  # last checkpoint on the ranking seeds
    score: float | None  # the spec's rank_checkpoint on the ranking seeds
    passed: bool | None  # score >= the env's bar (None without a bar or a score)
    # the arena suite only (sim2pi/ObstacleAvoid-v0), of the ranked checkpoint:
    rank_worst: float | None = None  # the mean of its worst arena
    worst_arena: str | None = None  # e.g. "3m/11 rough"
    arenas: dict[str, list[dict[str, Any]]] | None = None  # best/last: each arena's episodes


@dataclass(frozen=True)
class SettingResult:
    """One setting over its seeds."""

    setting: int
    label: str
    trials: int
    scored: int
    failed: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    passed: int | None


def bar_of(env_id: str) -> float | None:
    """Gymnasium's ``reward_threshold`` of the env, or None."""
    import gymnasium as gym

    import trainer.envs  # noqa: F401  (registers the sim2pi/ envs in this process)

    threshold = gym.spec(env_id).reward_threshold
    return None if threshold is None else float(threshold)


def _saved(run_dir: Path, which: str) -> bool:
    return (run_dir / "checkpoints" / which / "meta.json").is_file()


def _checkpoint_score(run_dir: Path, which: str, episodes: int) -> float | None:
    from trainer.rundir import RunDir

    if not _saved(run_dir, which):
        return None
    run = RunDir(run_dir)
    env = run.make_env()
    try:
        return evaluate(env, run.greedy_policy(which), ranking_seeds(episodes)).mean
    finally:
        env.close()


def _arena_scores(run_dir: Path, which: str, episodes: int) -> list[ArenaScore] | None:
    from trainer.rundir import RunDir

    if not _saved(run_dir, which):
        return None
    return score_on_arenas(RunDir(run_dir), which, episodes)


def trial_scores(params: RankParams, run_dir: Path) -> dict[str, Any]:
    """``rank_best``, ``rank_last`` (and, on the arena suite, the worst arena and every one), as
    they read back from JSON."""
    return ranked.normalized(_scores(params, run_dir))


def _each_checkpoint(run_dir: Path, score: Callable[[str], Any]) -> dict[str, Any]:
    """``score(which)`` of the best and the last checkpoint, played once when both hold the same
    numbers (a run that stopped where it found its best: evaluation is deterministic)."""
    from trainer.rundir import weights_digest

    scores: dict[str, Any] = {}
    played: dict[str, Any] = {}
    for which in ("best", "last"):
        digest = weights_digest(run_dir / "checkpoints" / which) if _saved(run_dir, which) else None
        if digest is not None and digest in played:
            scores[which] = played[digest]
            continue
        scores[which] = score(which)
        if digest is not None:
            played[digest] = scores[which]
    return scores


def _scores(params: RankParams, run_dir: Path) -> dict[str, Any]:
    if not ranks_on_arenas(params.env_id):
        scores = _each_checkpoint(
            run_dir, lambda which: _checkpoint_score(run_dir, which, params.rank_episodes)
        )
        return {f"rank_{which}": score for which, score in scores.items()}
    episodes = params.rank_arena_episodes or DEFAULT_ARENA_EPISODES  # load_spec always sets it
    suite = _each_checkpoint(run_dir, lambda which: _arena_scores(run_dir, which, episodes))
    fields: dict[str, Any] = {
        f"rank_{which}": None if scores is None else suite_mean(scores)
        for which, scores in suite.items()
    }
    chosen = suite[params.rank_checkpoint]
    if chosen is not None:
        lowest = worst(chosen)
        fields["rank_worst"], fields["worst_arena"] = lowest.mean, lowest.arena
    fields["arenas"] = {
        which: [score.as_dict() for score in scores]
        for which, scores in suite.items()
        if scores is not None
    }
    return fields


def rank_trial(spec: SweepSpec, outcome: TrialRun, bar: float | None) -> TrialResult:
    """Score one trial's checkpoints on the ranking seeds, or on the arena suite for the robot
    env (none when it saved no checkpoint)."""
    run_dir = outcome.run_dir
    summary: dict[str, Any] = {}
    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    scores: dict[str, Any] = {"rank_best": None, "rank_last": None}
    if outcome.status != "failed" and (run_dir / "config.json").is_file():
        params = RankParams.of(spec)
        kept = ranked.load(run_dir, params)  # ranked by a Ray task
        scores |= kept if kept is not None else trial_scores(params, run_dir)
    score = scores[f"rank_{spec.rank_checkpoint}"]
    setting = outcome.trial.setting
    return TrialResult(
        name=outcome.trial.name,
        setting=setting.index,
        label=setting.label,
        seed=outcome.trial.seed,
        status=outcome.status,
        error=outcome.error,
        run_dir=str(run_dir),
        steps=summary.get("steps"),
        eval_best=summary.get("best", {}).get("eval", {}).get("mean"),
        eval_last=summary.get("last", {}).get("eval", {}).get("mean"),
        score=score,
        passed=None if bar is None or score is None else bool(score >= bar),
        **scores,
    )


def by_setting(results: list[TrialResult], bar: float | None) -> list[SettingResult]:
    """Mean, spread and passes of each setting over its seeds."""
    out = []
    for index in sorted({r.setting for r in results}):
        rows = [r for r in results if r.setting == index]
        scores = np.array([r.score for r in rows if r.score is not None], dtype=float)
        stats: list[float | None] = [None] * 4
        if scores.size:
            stats = [float(f(scores)) for f in (np.mean, np.std, np.min, np.max)]
        out.append(
            SettingResult(
                setting=index,
                label=rows[0].label,
                trials=len(rows),
                scored=int(scores.size),
                failed=sum(r.status == "failed" for r in rows),
                mean=stats[0],
                std=stats[1],
                min=stats[2],
                max=stats[3],
                passed=None if bar is None else sum(bool(r.passed) for r in rows),
            )
        )
    return out


def winner(
    settings: list[SettingResult], results: list[TrialResult]
) -> tuple[SettingResult, TrialResult] | None:
    """The best setting (highest mean, then smallest std) and its best-scoring trial.

    A setting with a failed trial cannot win: its mean is over the seeds that did not fail.
    """
    scored = [s for s in settings if s.mean is not None and not s.failed]
    if not scored:
        return None
    best = max(scored, key=lambda s: (s.mean, -(s.std or 0.0)))
    trial = max(
        (r for r in results if r.setting == best.setting and r.score is not None),
        key=lambda r: float(r.score),  # type: ignore[arg-type]
    )
    return best, trial

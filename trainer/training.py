"""One training run end to end: run directory, evaluation, checkpoints, metrics, resume.

``TrainingRun.create`` makes a run directory and the algorithm; ``TrainingRun.resume`` rebuilds
both from ``checkpoints/last``. ``run`` advances in chunks, evaluates greedily every
``eval_every`` env steps on a separate env (``trainer.selection``: which checkpoint is best, and,
with ``stop_on_solved``, when the run is done), saves the last checkpoint periodically and when
asked to stop, and finishes with ``summary.json`` (best and last evaluated on the evaluation
seeds, which selection never saw) and the learning curve. Training seconds exclude evaluation
and checkpointing.
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from shared.spec import TaskSpec
from trainer import hyperparams
from trainer.errors import RunDirError, UsageError
from trainer.evaluation import EvalResult, confirmation_seeds, eval_seeds, evaluate, selection_seeds
from trainer.gymenv import check_discrete_actions, make_checked_env, make_env
from trainer.init_from import initial_weights
from trainer.metrics import MetricsLog, plot_learning_curve
from trainer.rundir import RunDir, package_versions, run_name, write_json
from trainer.selection import judge, solved_return
from trainer.specs import task_spec_for

PROGRESS_CHUNK = 1_000  # env steps between checks of the stop flag and progress updates
RECENT_EPISODES = 20  # episodes averaged into "recent return"


def make_algorithm(
    env_id: str,
    algo: str,
    spec: TaskSpec,
    config: Any,
    seed: int,
    *,
    env_kwargs: dict[str, Any] | None = None,
    init_weights: list[np.ndarray] | None = None,
) -> Any:
    """The algorithm object (``DQN`` or ``QLearning``) at step 0, its envs built with kwargs;
    ``init_weights``: a DQN's first network weights (``--init-from``)."""
    if algo == "dqn":
        from trainer.dqn import DQN

        return DQN(env_id, spec, config, seed, env_kwargs, init_weights=init_weights)
    from trainer.qlearning import QLearning

    return QLearning(env_id, spec, config, seed, env_kwargs)


def _crossed(every: int, before: int, after: int) -> bool:
    """Whether a multiple of ``every`` (0 = never) lies in (before, after]."""
    return every > 0 and after // every > before // every


class TrainingRun:
    """A run directory plus the live algorithm training into it."""

    def __init__(
        self,
        path: Path,
        algorithm: Any,
        state: dict[str, Any],
        env_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.algorithm = algorithm
        self.config = algorithm.config
        self.state = state  # orchestration counters, saved with checkpoints/last
        self.recent = collections.deque(state.get("recent", []), maxlen=RECENT_EPISODES)
        #: Keyword arguments of every env of the run (config.json ``env_kwargs``).
        self.env_kwargs = dict(env_kwargs or {})
        #: The return that ends the run early (``stop_on_solved``), or None.
        self.solved_return = solved_return(algorithm.env_id, self.config)
        self.eval_env = make_env(algorithm.env_id, **self.env_kwargs)
        self.metrics = MetricsLog(path)

    @classmethod
    def create(  # noqa: PLR0917 (the exporter's tests pass these positionally)
        cls,
        env_id: str,
        algo: str,
        seed: int = 0,
        overrides: list[str] | None = None,
        out: Path | None = None,
        total_steps: int | None = None,
        env_kwargs: dict[str, Any] | None = None,
        init_from: Path | None = None,
    ) -> TrainingRun:
        """Check the inputs, make the run directory and the algorithm at step 0.

        ``env_kwargs`` go to every env of the run (training, evaluation, export), e.g.
        ``{"motor_gain": 0.6}``; JSON values, laid over the preset's env table key by key and
        recorded (merged) in config.json. ``init_from``: a bundle or DQN run directory whose
        network the run starts from (``trainer.init_from``), recorded as ``init_from``.
        """
        config = hyperparams.build_config(algo, env_id, overrides)
        preset_env = hyperparams.preset_env_kwargs(env_id, algo)
        if preset_env:  # checked on its own, so that an error names the preset, not --env-arg
            source = f"{hyperparams.PRESETS_FILE.name} [{env_id!r}.{algo}.{hyperparams.ENV_TABLE}]"
            make_checked_env(env_id, preset_env, source).close()
        env_kwargs = {**preset_env, **(env_kwargs or {})}
        if total_steps is not None:
            config.total_steps = total_steps
        solved_return(env_id, config)  # refuse a stop_on_solved that cannot work before any file
        probe = make_checked_env(env_id, env_kwargs)
        try:
            check_discrete_actions(env_id, probe, algo)
            spec = task_spec_for(env_id, probe)
        finally:
            probe.close()
        path = Path(out) if out is not None else Path("runs") / run_name(env_id, algo, seed)
        if path.exists() and any(path.iterdir()):
            raise UsageError(
                f"--out {path}: exists and is not empty; choose a new directory, "
                f"or continue it with --resume {path}"
            )
        initial = initial_weights(init_from, algo, spec, config)
        algorithm = make_algorithm(
            env_id,
            algo,
            spec,
            config,
            seed,
            env_kwargs=env_kwargs,
            init_weights=None if initial is None else initial.weights,
        )
        path.mkdir(parents=True, exist_ok=True)
        write_json(
            path / "config.json",
            {
                "algo": algo,
                "env_id": env_id,
                "seed": seed,
                "env_kwargs": env_kwargs,
                "hyperparameters": hyperparams.to_dict(config),
                "eval_seeds": selection_seeds(config.eval_episodes),
                "confirm_seeds": confirmation_seeds(config.confirm_episodes),
                "final_eval_seeds": eval_seeds(config.final_eval_episodes),
                **({} if initial is None else {"init_from": initial.record}),
                "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            },
        )
        write_json(path / "versions.json", package_versions())
        (path / "spec.json").write_text(spec.to_json() + "\n")
        if algo == "qlearning":
            write_json(path / "discretizer.json", algorithm.discretizer.to_dict())
        state = {"train_seconds": 0.0, "wall_seconds": 0.0, "best_mean": None, "best_step": None}
        return cls(path, algorithm, state, env_kwargs)

    @classmethod
    def resume(cls, path: Path) -> TrainingRun:
        """Rebuild a run from its ``checkpoints/last`` so that it continues exactly."""
        run = RunDir(path)
        last = run.checkpoint("last")
        config = hyperparams.from_dict(run.algo, run.config["hyperparameters"])
        env_kwargs = dict(run.config.get("env_kwargs") or {})
        algorithm = make_algorithm(
            run.env_id, run.algo, run.spec, config, run.seed, env_kwargs=env_kwargs
        )
        algorithm.load(last)
        try:
            state = json.loads((last / "run_state.json").read_text())
        except FileNotFoundError:
            raise RunDirError(f"{last}/run_state.json: missing; cannot resume") from None
        return cls(Path(path), algorithm, state, env_kwargs)

    # ---- the loop ------------------------------------------------------------------------------

    def run(
        self,
        until_step: int | None = None,
        stop_requested: Callable[[], bool] = lambda: False,
        progress: bool = True,
    ) -> bool:
        """Train to ``until_step`` (default: total_steps); True when the run is complete."""
        from tqdm import tqdm

        algo, cfg = self.algorithm, self.config
        total = cfg.total_steps
        until = total if until_step is None else min(until_step, total)
        bar = tqdm(
            total=total,
            initial=algo.step,
            unit="step",
            disable=not progress,
            dynamic_ncols=True,
            desc=f"{algo.env_id} {algo.algo}",
        )
        try:
            while algo.step < until and not stop_requested() and not self.solved:
                target = min(until, algo.step + PROGRESS_CHUNK)
                for every in (cfg.eval_every, cfg.checkpoint_every):
                    if every > 0:
                        target = min(target, (algo.step // every + 1) * every)
                before, started = algo.step, time.perf_counter()
                finished = algo.advance(target)
                elapsed = time.perf_counter() - started
                self.state["train_seconds"] += elapsed
                self.state["wall_seconds"] += elapsed
                self.recent.extend(finished)
                self.metrics.episodes(algo.step, finished)
                bar.update(algo.step - before)
                if _crossed(cfg.eval_every, before, algo.step) or algo.step >= total:
                    self._evaluate()
                if _crossed(cfg.checkpoint_every, before, algo.step) and algo.step < total:
                    self._save_last()
                bar.set_postfix(self._postfix(elapsed, algo.step - before), refresh=False)
        finally:
            bar.close()
        self._save_last()
        done = algo.step >= total or self.solved
        if done:
            self._finish()
        self.metrics.flush()
        plot_learning_curve(self.path, f"{algo.env_id} · {algo.algo} · seed {algo.seed}")
        return done

    def _postfix(self, seconds: float, steps: int) -> dict[str, str]:
        stats = self.algorithm.stats()
        last_eval = self.state.get("last_eval")
        return {
            "steps/s": f"{steps / max(seconds, 1e-9):.0f}",
            "ε": f"{stats['epsilon']:.3f}",
            "return": f"{np.mean(self.recent):.1f}" if self.recent else "-",
            "eval": "-" if last_eval is None else f"{last_eval:.1f}",
        }

    @property
    def solved(self) -> bool:
        """Whether ``stop_on_solved`` has ended the run (a confirmed score reached the bar)."""
        return self.state.get("solved_step") is not None

    def _evaluate(self) -> EvalResult:
        """Judge the policy (``trainer.selection``), keep a new best, log a metrics row."""
        started = time.perf_counter()
        algo = self.algorithm
        cfg = self.config
        explored = algo.step >= cfg.eps_fraction * cfg.total_steps  # ε has reached its floor
        best, bar = self.state["best_mean"], self.solved_return if explored else None
        verdict = judge(self.eval_env, algo.greedy_action, cfg, best, bar)
        result, score = verdict.result, verdict.score
        self.state["last_eval"] = result.mean
        if verdict.new_best:
            self.state["best_mean"], self.state["best_step"] = score, algo.step
            self._save_checkpoint("best", full=False)
        if verdict.solved:
            self.state["solved_step"] = algo.step
        stats = algo.stats()
        s = result.as_dict()
        self.state["wall_seconds"] += time.perf_counter() - started
        train_seconds = self.state["train_seconds"]
        self.metrics.row(
            {
                "step": algo.step,
                "episodes": algo.episodes,
                "train_seconds": round(train_seconds, 3),
                "wall_seconds": round(self.state["wall_seconds"], 3),
                "steps_per_second": round(algo.step / max(train_seconds, 1e-9), 1),
                "epsilon": stats["epsilon"],
                "learning_rate": stats["learning_rate"],
                "loss": stats["loss"],
                "recent_return": float(np.mean(self.recent)) if self.recent else "",
                "eval_mean": s["mean"],
                "eval_std": s["std"],
                "eval_min": s["min"],
                "eval_max": s["max"],
                "confirmed_score": "" if score is None else score,
            }
        )
        return result

    def _save_checkpoint(self, which: str, full: bool) -> None:
        """Write a checkpoint to a temp dir and swap it in, so a crash never leaves half of one."""
        started = time.perf_counter()
        final = self.path / "checkpoints" / which
        tmp = final.with_name(which + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        algo = self.algorithm
        if full:
            algo.save(tmp)
            state = {**self.state, "recent": list(self.recent)}
            write_json(tmp / "run_state.json", state)
        else:
            algo.save_policy(tmp)
        write_json(
            tmp / "meta.json",
            {
                "step": algo.step,
                "episodes": algo.episodes,
                "eval_mean": self.state.get("last_eval"),
            },
        )
        old = final.with_name(which + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        self.state["wall_seconds"] += time.perf_counter() - started

    def _save_last(self) -> None:
        self._save_checkpoint("last", full=True)

    def _finish(self) -> None:
        """Evaluate the best and last checkpoints, reloaded from disk, into summary.json."""
        run = RunDir(self.path)
        env = run.make_env()
        summary: dict[str, Any] = {
            "algo": run.algo,
            "env_id": run.env_id,
            "seed": run.seed,
            "steps": self.algorithm.step,
            "solved_step": self.state.get("solved_step"),
            "episodes": self.algorithm.episodes,
            "train_seconds": round(self.state["train_seconds"], 3),
            "wall_seconds": round(self.state["wall_seconds"], 3),
        }
        for which in ("best", "last"):
            result = evaluate(env, run.greedy_policy(which), run.final_eval_seeds)
            meta = json.loads((run.checkpoint(which) / "meta.json").read_text())
            summary[which] = {"step": meta["step"], "eval": result.as_dict()}
        env.close()
        write_json(self.path / "summary.json", summary)
        self.summary = summary

    def close(self) -> None:
        """Close envs and the metrics writer."""
        self.algorithm.close()
        self.eval_env.close()
        self.metrics.close()

"""Evaluate a bundle's policies exactly as the robot runs them, beside the run's own policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.bundle import Bundle, read_bundle
from shared.spec import TaskSpec
from trainer.errors import UsageError
from trainer.evaluation import EvalResult, eval_seeds, evaluate


@dataclass(frozen=True)
class BundleEvaluation:
    """Returns per policy (``tflite``, ``tflite-int8``, ``qtable``, ``run``) on the same seeds."""

    bundle: Bundle
    seeds: tuple[int, ...]
    results: dict[str, EvalResult]
    #: why the run's own policy was not evaluated, when it was not
    run_note: str | None = None


def _robot_act(policy: Any) -> Any:
    """``act(raw_obs) -> action`` through a ``robot.inference`` Policy: float32 channels in."""

    def act(obs: Any) -> int:
        return policy.decide(np.atleast_1d(np.asarray(obs, dtype=np.float32))).action_index

    return act


def _run_policy(bundle: Bundle) -> tuple[Any, str | None]:
    """The greedy policy of the run the bundle was exported from, or None and the reason."""
    from trainer.rundir import RunDir

    training = bundle.manifest.get("training") or {}
    run_dir = training.get("run_dir") if isinstance(training, dict) else None
    if not run_dir:
        return None, "the manifest records no run directory"
    if not (Path(run_dir) / "config.json").is_file():
        return None, f"run directory {run_dir} is not on this machine"
    run = RunDir(run_dir)
    return run.greedy_policy(str(training.get("checkpoint", "best"))), None


def _check_spec_fits(bundle: Bundle, env_spec: TaskSpec) -> None:
    """Raise UsageError naming the first channel or action where bundle and env differ."""
    pairs = [
        *zip(bundle.spec.observation.channels, env_spec.observation.channels, strict=False),
        *zip(bundle.spec.actions.actions, env_spec.actions.actions, strict=False),
    ]
    differences = [
        f"bundle has {ours}, env has {theirs}" for ours, theirs in pairs if ours != theirs
    ]
    sizes = (bundle.spec.observation.size, len(bundle.spec.actions))
    env_sizes = (env_spec.observation.size, len(env_spec.actions))
    if sizes != env_sizes:
        differences.insert(0, f"bundle has {sizes} channels/actions, env has {env_sizes}")
    if differences:
        raise UsageError(
            f"{bundle.path}: the bundle's spec does not fit the env {bundle.spec.env_id}: "
            f"{differences[0]}; re-export the bundle from a run of the env as it is now"
        )


def training_env_kwargs(bundle: Bundle) -> dict[str, Any]:
    """The env kwargs of the run the bundle was exported from (its manifest's training config)."""
    training = bundle.manifest.get("training") or {}
    config = training.get("config") if isinstance(training, dict) else None
    return dict((config or {}).get("env_kwargs") or {})


def evaluate_bundle(
    bundle_dir: str | Path, episodes: int, env_overrides: Mapping[str, Any] | None = None
) -> BundleEvaluation:
    """Greedy episodes of every policy in the bundle (via ``robot.inference``) and of its run,
    in the run's env with ``env_overrides`` (a robot profile's env, ``profile_for``) over it."""
    from robot.inference import available_policies, load_policy
    from trainer.gymenv import make_env  # imports trainer.envs, which registers the robot env
    from trainer.specs import task_spec_for

    if episodes < 1:
        raise UsageError(f"--episodes: expected a positive number, found {episodes}")
    bundle = read_bundle(bundle_dir)
    env_kwargs = {**training_env_kwargs(bundle), **(env_overrides or {})}
    env = make_env(bundle.spec.env_id, **env_kwargs)
    try:
        _check_spec_fits(bundle, task_spec_for(bundle.spec.env_id, env))
        seeds = eval_seeds(episodes)
        results = {
            name: evaluate(env, _robot_act(load_policy(bundle, name)), seeds)
            for name in available_policies(bundle)
        }
        act, note = _run_policy(bundle)
        if act is not None:
            results["run"] = evaluate(env, act, seeds)
    finally:
        env.close()
    return BundleEvaluation(bundle, tuple(seeds), results, note)


def report_lines(evaluation: BundleEvaluation) -> list[str]:
    """A table of returns (mean, std, min, max, mean length) per policy."""
    seeds = evaluation.seeds
    lines = [
        f"{evaluation.bundle.spec.env_id}: {len(seeds)} greedy episodes per policy, "
        f"reset seeds {seeds[0]}..{seeds[-1]}",
        f"  {'policy':<26} {'mean':>9} {'std':>9} {'min':>9} {'max':>9} {'length':>8}",
    ]
    training = evaluation.bundle.manifest.get("training") or {}
    for name, result in evaluation.results.items():
        label = name
        if name == "run":
            algo = training.get("algo", "?")
            label = f"run ({'keras' if algo == 'dqn' else algo}, {training.get('checkpoint')})"
        s = result.as_dict()
        lines.append(
            f"  {label:<26} {s['mean']:>9.2f} {s['std']:>9.2f} {s['min']:>9.2f} "
            f"{s['max']:>9.2f} {s['mean_length']:>8.1f}"
        )
    if evaluation.run_note:
        lines.append(f"  (the run's own policy was not evaluated: {evaluation.run_note})")
    return lines

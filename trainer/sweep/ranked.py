"""A trial's ranking scores kept in its run directory (``ranking.json``), computed in the trial.

A trial ranks its own checkpoints once its training has finished, forked from its worker's warm
server on the CPU Tune gave it (``rank_tasks.rank_command``), so one trial's ranking overlaps
another's training instead of waiting for the whole sweep; a Ray task ranks the trials that did
not (``rank_tasks.rank_on_ray``). The driver then reads the scores back instead of computing
them; it computes them itself for a trial without ``ranking.json`` or whose file no longer
matches: other ranking parameters (episodes, the checkpoint ranked, the env) or other
checkpoints (a digest of every file under ``checkpoints/best`` and ``checkpoints/last``).
Scores go through JSON either way, so the results are the same wherever they were computed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trainer.sweep.spec import SweepSpec

RANKING_FILE = "ranking.json"


@dataclass(frozen=True)
class RankParams:
    """What a trial's ranking scores depend on, besides its checkpoints."""

    env_id: str
    rank_episodes: int
    rank_checkpoint: str
    rank_arena_episodes: int | None

    @classmethod
    def of(cls, spec: SweepSpec) -> RankParams:
        """The spec's ranking parameters."""
        return cls(spec.env_id, spec.rank_episodes, spec.rank_checkpoint, spec.rank_arena_episodes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the worker's config, ``ranking.json``)."""
        return asdict(self)


def checkpoints_digest(run_dir: Path) -> str:
    """SHA-256 over every file (its path and bytes) of the run's best and last checkpoints."""
    digest = hashlib.sha256()
    for which in ("best", "last"):
        root = run_dir / "checkpoints" / which
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        for path in files:
            digest.update(str(path.relative_to(run_dir)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def normalized(scores: dict[str, Any]) -> dict[str, Any]:
    """``scores`` as they read back from JSON (tuples become lists, numpy floats floats)."""
    return json.loads(json.dumps(scores))


def save(run_dir: Path, params: RankParams, scores: dict[str, Any]) -> None:
    """Keep ``scores`` in the run directory, with what they were computed from."""
    record = {
        "params": params.as_dict(),
        "checkpoints": checkpoints_digest(run_dir),
        "scores": scores,
    }
    partial = run_dir / f".{RANKING_FILE}.partial"
    partial.write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(run_dir / RANKING_FILE)  # never a half-written file


def load(run_dir: Path, params: RankParams) -> dict[str, Any] | None:
    """The kept scores, or None when there are none or they do not match the run any more."""
    try:
        record = json.loads((run_dir / RANKING_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if record.get("params") != params.as_dict():
        return None
    if record.get("checkpoints") != checkpoints_digest(run_dir):
        return None
    scores = record.get("scores")
    return scores if isinstance(scores, dict) else None

"""Training metrics: metrics.csv (a row per evaluation), episodes.csv, TensorBoard, a PNG."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

METRIC_COLUMNS = (
    "step",
    "episodes",
    "train_seconds",
    "wall_seconds",
    "steps_per_second",
    "epsilon",
    "learning_rate",
    "loss",
    "recent_return",
    "eval_mean",
    "eval_std",
    "eval_min",
    "eval_max",
    "confirmed_score",
)


class MetricsLog:
    """Appends metric rows and episode returns to CSV files and TensorBoard under a run dir."""

    def __init__(self, run_path: Path, tensorboard: bool = True) -> None:
        self.run_path = run_path
        self.metrics_file = run_path / "metrics.csv"
        self.episodes_file = run_path / "episodes.csv"
        for file, header in (
            (self.metrics_file, METRIC_COLUMNS),
            (self.episodes_file, ("step", "return")),
        ):
            if not file.exists():
                with open(file, "w", newline="") as f:
                    csv.writer(f).writerow(header)
        #: The columns of metrics.csv as it is on disk: a run resumed from an older version keeps
        #: its header, and a column it lacks is left out of its rows.
        with open(self.metrics_file, newline="") as f:
            self.columns = tuple(next(csv.reader(f), METRIC_COLUMNS))
        self._writer = None
        if tensorboard:
            import tensorflow as tf
            from tensorflow.core.framework import summary_pb2

            # tf.summary.scalar needs the tensorboard package; tf.summary.write does not.
            self._tf = tf
            self._scalar = summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
            )
            self._writer = tf.summary.create_file_writer(str(run_path / "tb"))

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        if self._writer is None:
            return
        tf = self._tf
        with self._writer.as_default():
            for tag, value in values.items():
                if value is not None and math.isfinite(value):
                    tf.summary.write(
                        tag, tf.constant(float(value)), step=step, metadata=self._scalar
                    )

    def episodes(self, step: int, returns: list[float]) -> None:
        """Record returns of episodes that finished by env step ``step``."""
        if not returns:
            return
        with open(self.episodes_file, "a", newline="") as f:
            csv.writer(f).writerows((step, r) for r in returns)
        self._scalars(step, {"train/episode_return": sum(returns) / len(returns)})

    def row(self, values: dict[str, Any]) -> None:
        """Append one metrics row (missing columns stay empty) and its scalars to TensorBoard."""
        with open(self.metrics_file, "a", newline="") as f:
            csv.writer(f).writerow(values.get(c, "") for c in self.columns)
        scalars = {
            f"{'eval' if k.startswith('eval') else 'train'}/{k}": float(v)
            for k, v in values.items()
            if k not in ("step",) and isinstance(v, int | float)
        }
        self._scalars(int(values["step"]), scalars)

    def flush(self) -> None:
        """Flush TensorBoard events to disk."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_learning_curve(run_path: Path, title: str) -> Path:
    """Draw episode returns (and their moving mean) and greedy evaluations to learning_curve.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    episodes = read_csv(run_path / "episodes.csv")
    evals = [r for r in read_csv(run_path / "metrics.csv") if r["eval_mean"]]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if episodes:
        steps = np.array([float(r["step"]) for r in episodes])
        returns = np.array([float(r["return"]) for r in episodes])
        ax.plot(steps, returns, ".", ms=2, alpha=0.3, color="tab:blue", label="training episode")
        window = max(1, min(50, len(returns) // 10))
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color="tab:blue", label=f"mean of {window}")
    if evals:
        x = [float(r["step"]) for r in evals]
        mean = np.array([float(r["eval_mean"]) for r in evals])
        std = np.array([float(r["eval_std"]) for r in evals])
        ax.plot(x, mean, "o-", color="tab:orange", label="greedy evaluation (mean)")
        ax.fill_between(x, mean - std, mean + std, color="tab:orange", alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    out = run_path / "learning_curve.png"
    fig.savefig(out)
    plt.close(fig)
    return out

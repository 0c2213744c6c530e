"""Learning-curve plots: one run, or the mean and spread over several runs (seeds)."""

from __future__ import annotations

import os

import numpy as np

from rlblocks.train import records


def curves(run_dirs: list[str], column: str = "eval_mean", log: str = "eval.csv"):
    """Interpolate each run's `column` onto a common step grid.

    Returns:
      (steps [T], values [R, T]) over the steps covered by every run.
    """
    data = [records.read_csv(os.path.join(d, log)) for d in run_dirs]
    data = [d for d in data if d.get("env_steps")]
    if not data:
        raise ValueError(f"no rows in {log} of {run_dirs}")
    end = min(max(d["env_steps"]) for d in data)
    start = max(min(d["env_steps"]) for d in data)
    grid = np.linspace(start, end, 100) if end > start else np.array([end])
    values = [np.interp(grid, d["env_steps"], d[column]) for d in data]
    return grid, np.stack(values)


def plot(run_dirs: list[str], out: str, title: str = "") -> str:
    """Plot eval return (mean ± std, min-max band) and training return; save PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for column, log, color, label in (
        ("recent_return", "train.csv", "tab:gray", "train (recent episodes)"),
        ("eval_mean", "eval.csv", "tab:blue", "greedy eval"),
    ):
        try:
            steps, values = curves(run_dirs, column, log)
        except ValueError:
            continue
        seen = ~np.all(np.isnan(values), 0)  # e.g. before the first episode ended
        if not seen.any():
            continue
        steps, values = steps[seen], values[:, seen]
        mean, std = np.nanmean(values, 0), np.nanstd(values, 0)
        n = len(values)
        ax.plot(steps, mean, color=color, label=f"{label} (mean of {n})")
        if n > 1:
            ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.25)
            ax.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title or ", ".join(os.path.basename(d.rstrip("/")) for d in run_dirs))
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out

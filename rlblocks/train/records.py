"""Run records: CSV logs (always), TensorBoard (when installed), a progress bar."""

from __future__ import annotations

import csv
import os
import sys

from tqdm import tqdm

TRAIN_FIELDS = (
    "env_steps",
    "wall_time",
    "recent_return",
    "loss",
    "q",
    "epsilon",
    "sps",
)
EVAL_FIELDS = ("env_steps", "wall_time", "eval_mean", "eval_std", "eval_min")


class CSVLog:
    """Append rows to `path`; on resume, rows past `resume_step` are dropped."""

    def __init__(self, path: str, fields: tuple[str, ...], resume_step: int | None):
        self.path, self.fields = path, fields
        rows = []
        if resume_step is not None and os.path.exists(path):
            with open(path, newline="") as f:
                rows = [
                    r for r in csv.DictReader(f) if int(r["env_steps"]) <= resume_step
                ]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fields)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict) -> None:
        """Append one row (missing fields left empty)."""
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(
                {k: _fmt(row.get(k)) for k in self.fields}
            )


def read_csv(path: str) -> dict[str, list[float]]:
    """Columns of a CSV log as float lists (empty cells become NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = rows[0].keys() if rows else ()
    return {k: [float(r[k]) if r[k] else float("nan") for r in rows] for k in keys}


class Recorder:
    """Train/eval CSV logs, optional TensorBoard, and a tqdm progress bar."""

    def __init__(
        self,
        run_dir: str,
        total: int,
        start: int,
        resume: bool,
        train_fields: tuple[str, ...] = TRAIN_FIELDS,
    ):
        os.makedirs(run_dir, exist_ok=True)
        step = start if resume else None
        self.train = CSVLog(os.path.join(run_dir, "train.csv"), train_fields, step)
        self.eval = CSVLog(os.path.join(run_dir, "eval.csv"), EVAL_FIELDS, step)
        self.tb = _tensorboard(run_dir)
        self.bar = tqdm(
            total=total,
            initial=start,
            unit="step",
            dynamic_ncols=True,
            disable=None if sys.stderr.isatty() else True,
            file=sys.stderr,
        )

    def log_train(self, row: dict) -> None:
        """Record a training row and refresh the progress bar."""
        self.train.write(row)
        self._tb(row, "train")
        self.bar.update(row["env_steps"] - self.bar.n)
        self.bar.set_postfix(sps=f"{row['sps']:.0f}", ret=f"{row['recent_return']:.1f}")

    def log_eval(self, row: dict) -> None:
        """Record an evaluation row."""
        self.eval.write(row)
        self._tb(row, "eval")

    def close(self) -> None:
        """Close the bar and the TensorBoard writer."""
        self.bar.close()
        if self.tb is not None:
            self.tb.close()

    def _tb(self, row, prefix):
        if self.tb is None:
            return
        for k, v in row.items():
            if k not in ("env_steps", "wall_time") and v is not None and v == v:
                self.tb.add_scalar(f"{prefix}/{k}", v, row["env_steps"])


def _tensorboard(run_dir):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(os.path.join(run_dir, "tb"))


def _fmt(v):
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else v

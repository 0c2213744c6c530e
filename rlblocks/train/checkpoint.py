"""Atomic, checksummed checkpoints of arbitrary picklable training state.

A checkpoint file is `MAGIC | sha256(payload) | payload`. It is written to a
temporary file in the same directory, flushed and fsynced, then moved into place with
`os.replace`, which is atomic: a reader sees the old file or the new one, never a
partial one. A file whose checksum does not match (torn, truncated or corrupted) is
never unpickled: `load` raises, and `latest` skips it for an older valid one.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from typing import Any

MAGIC = b"RLBCKPT1"
_NAME = re.compile(r"^ckpt-(\d+)\.pkl$")


def save(path: str, obj: Any) -> None:
    """Write `obj` to `path` atomically (temp file, fsync, os.replace)."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: str) -> Any:
    """Read a checkpoint; raises `ValueError` if it is torn or corrupted."""
    with open(path, "rb") as f:
        blob = f.read()
    head, digest, payload = blob[:8], blob[8:40], blob[40:]
    if head != MAGIC or hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"checkpoint {path} is torn or corrupted; not reading it")
    return pickle.loads(payload)


def save_step(directory: str, step: int, obj: Any, keep: int = 2) -> str:
    """Save `obj` as `directory/ckpt-<step>.pkl` and delete all but `keep` newest."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"ckpt-{step:010d}.pkl")
    save(path, obj)
    for old in _steps(directory)[:-keep]:
        os.remove(os.path.join(directory, f"ckpt-{old:010d}.pkl"))
    return path


def load_step(directory: str, step: int) -> Any:
    """Read `directory/ckpt-<step>.pkl`; raises `ValueError` if missing or torn."""
    path = os.path.join(directory, f"ckpt-{step:010d}.pkl")
    if not os.path.exists(path):
        raise ValueError(f"no checkpoint of step {step} in {directory}")
    return load(path)


def latest(directory: str) -> tuple[int, Any] | None:
    """The newest valid checkpoint `(step, obj)` in `directory`, or None."""
    for step in reversed(_steps(directory)):
        try:
            return step, load(os.path.join(directory, f"ckpt-{step:010d}.pkl"))
        except ValueError:
            continue
    return None


def clear(directory: str) -> None:
    """Delete the checkpoints (and stray temp files) of a previous run."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if _NAME.match(name) or ".pkl.tmp." in name:
            os.remove(os.path.join(directory, name))


def _steps(directory: str) -> list[int]:
    if not os.path.isdir(directory):
        return []
    found = (_NAME.match(name) for name in os.listdir(directory))
    return sorted(int(m.group(1)) for m in found if m)

"""Save and load replay states exactly (numpy `.npz`, no pickle).

Every leaf of the state is stored under its pytree path with its dtype and shape.
Loading needs a `like` state of the same structure (e.g. `buf.init(example)` or
`jax.eval_shape(buf.init, example)`, which allocates nothing): numpy leaves in `like`
come back as writable numpy arrays (host buffers), other leaves as JAX arrays.
"""

from __future__ import annotations

import io
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _entries(state: Any) -> dict[str, np.ndarray]:
    pairs = jax.tree.leaves_with_path(state)
    return {jax.tree_util.keystr(p): np.asarray(x) for p, x in pairs}


def to_bytes(state: Any) -> bytes:
    """Serialise a replay state (any pytree of arrays) to `.npz` bytes.

    bytes = npz{keystr(path): leaf}

    Args:
      state: a replay state (jit or host), or any pytree of arrays.

    Returns:
      The `.npz` archive as bytes.
    """
    out = io.BytesIO()
    np.savez(out, **_entries(state))
    return out.getvalue()


def from_bytes(data: bytes, like: Any) -> Any:
    """Rebuild a state saved by `to_bytes`, with the structure of `like`.

    state = unflatten(like, npz[keystr(path)] for each path of like)

    Args:
      data: bytes from `to_bytes`.
      like: a state of the same structure, shapes and dtypes (arrays or
        `jax.ShapeDtypeStruct`s).

    Returns:
      The state: numpy leaves where `like` has numpy arrays, JAX arrays elsewhere.

    Raises:
      ValueError: if a leaf is missing or differs in shape or dtype from `like`.
    """
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        stored = {k: archive[k] for k in archive.files}
    pairs, treedef = jax.tree.flatten_with_path(like)
    names = [jax.tree_util.keystr(p) for p, _ in pairs]
    if sorted(names) != sorted(stored):
        raise ValueError(f"saved leaves {sorted(stored)} differ from like's {names}")
    leaves = []
    for name, (_, ref) in zip(names, pairs, strict=True):
        x = stored[name]
        if x.shape != tuple(ref.shape) or x.dtype != np.dtype(ref.dtype):
            raise ValueError(
                f"saved {name} has shape {x.shape} and dtype {x.dtype}, like has "
                f"{tuple(ref.shape)} and {np.dtype(ref.dtype)}"
            )
        leaves.append(np.array(x) if isinstance(ref, np.ndarray) else jnp.asarray(x))
    return jax.tree.unflatten(treedef, leaves)


def save(path: str | os.PathLike, state: Any) -> None:
    """Write a replay state to `path` atomically (temporary file, then rename).

    file = to_bytes(state)

    Args:
      path: destination file (conventionally `*.npz`).
      state: a replay state (jit or host).
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(to_bytes(state))
    os.replace(tmp, path)


def load(path: str | os.PathLike, like: Any) -> Any:
    """Read a replay state written by `save`.

    state = from_bytes(read(path), like)

    Args:
      path: file written by `save`.
      like: a state of the same structure (see `from_bytes`).

    Returns:
      The saved state, leaf for leaf equal to what was saved.
    """
    with open(os.fspath(path), "rb") as f:
        return from_bytes(f.read(), like)

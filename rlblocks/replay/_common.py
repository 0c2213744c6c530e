"""Shared pieces of the replay buffers: result types, item checks, slot arithmetic.

Every buffer is a factory returning a `Buffer` (or `PrioritizedBuffer`) of pure
functions over a NamedTuple state of arrays. Sizes (capacity, batch sizes) are static
and live in the factory's closure; the state holds only arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks._src import checks
from rlblocks._src.types import Array


class ReplaySample(NamedTuple):
    """What `sample` returns.

    Attributes:
      item: the sampled items, the example item's pytree with a leading [B] axis.
      indices: [B] int32 slots the items were read from (for `update_priorities`).
      weights: [B] float32 importance weights (ones for uniform replay; all zero
        when a traced state is sampled before `can_sample` holds).
    """

    item: Any
    indices: Array
    weights: Array


class Buffer(NamedTuple):
    """A replay buffer: pure functions over its state.

    Attributes:
      init: `init(example_item) -> state`; the item has no batch axis.
      add: `add(state, items, *, mask=None) -> state`; items have a leading [N] axis,
        `mask` [N] bool keeps only the items where it is true.
      sample: `sample(state, key, batch_size) -> ReplaySample`.
      can_sample: `can_sample(state) -> bool` array (enough items to sample).
    """

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable


class PrioritizedBuffer(NamedTuple):
    """A prioritized replay buffer: `Buffer`'s functions plus `update_priorities`.

    Attributes:
      init: `init(example_item) -> state`.
      add: `add(state, items, *, mask=None) -> state`; new items get the largest
        priority seen so far.
      sample: `sample(state, key, batch_size) -> ReplaySample` with importance weights.
      can_sample: `can_sample(state) -> bool` array.
      update_priorities: `update_priorities(state, indices, priorities) -> state`.
    """

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable
    update_priorities: Callable


def _counter(i: int, doc: str) -> property:
    return property(lambda state: state.counters[i], doc=doc)


# Read-only views of a state's `counters` [3] (insert_pos, size, count): one array,
# so that a jitted call passes and returns one buffer for them instead of three.
INSERT_POS = _counter(0, "[] slot the next item is written to (counters[0]).")
SIZE = _counter(1, "[] number of items held, <= C (counters[1]).")
COUNT = _counter(2, "[] number of items ever added (counters[2]).")


def check_capacity(capacity: int, name: str = "capacity") -> int:
    """Return `capacity` as an int, raising ValueError unless it is an integer >= 1."""
    if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer):
        raise ValueError(f"{name} must be an int >= 1, got {capacity!r}")
    if capacity < 1:
        raise ValueError(f"{name} must be >= 1, got {capacity}")
    return int(capacity)


def check_min_size(min_size: int, capacity: int) -> int:
    """Return `min_size` as an int in [1, capacity], or raise ValueError."""
    min_size = check_capacity(min_size, "min_size")
    if min_size > capacity:
        raise ValueError(
            f"min_size={min_size} must be <= capacity={capacity}: the buffer never "
            "holds more than capacity items, so can_sample would never be true"
        )
    return min_size


def _kind(dtype) -> str:
    return np.dtype(dtype).kind


def check_items(storage, items, name: str = "items") -> int:
    """Check items against the storage layout and return their leading size N.

    Items must have the example's pytree structure, each leaf shaped [N, *example]
    with a dtype of the same kind (bool, signed int, unsigned int, float) as the
    example's; precision may differ (float64 rewards go into a float32 slot).

    Raises:
      ValueError: naming the leaf whose structure, shape or dtype kind differs.
    """
    want_def = jax.tree.structure(storage)
    leaves, got_def = jax.tree.flatten(items)
    if got_def != want_def:
        raise ValueError(f"{name} must have structure {want_def}, got {got_def}")
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree.leaves_with_path(storage)]
    n = None
    for path, buf, x in zip(paths, jax.tree.leaves(storage), leaves, strict=True):
        leaf = f"{name}{path}"
        shape = tuple(np.shape(x))
        checks.check_rank(x, buf.ndim, leaf, "[N, *example_shape]")
        if shape[1:] != tuple(buf.shape[1:]) or (n is not None and shape[0] != n):
            want = ", ".join(("N", *map(str, buf.shape[1:])))
            same_n = "" if n is None else f" with the same N={n} as every leaf"
            raise ValueError(f"{leaf} must have shape [{want}]{same_n}, got {shape}")
        n = shape[0]
        if _kind(jnp.result_type(x)) != _kind(buf.dtype):
            raise ValueError(
                f"{leaf} must have a dtype of the same kind as {buf.dtype}, "
                f"got {jnp.result_type(x)}"
            )
    return 0 if n is None else n


def check_mask(mask, n: int):
    """Check an optional add mask: [N] bool."""
    if mask is not None:
        checks.check_shapes({"mask": (mask, "N", "bool")}, {"N": n})


def storage_like(example_item, capacity: int, xp=jnp):
    """Zero-filled storage: each leaf of the example gets a leading [capacity] axis."""

    def alloc(x):
        x = np.asarray(x) if xp is np else jnp.asarray(x)
        return xp.zeros((capacity, *x.shape), x.dtype)

    return jax.tree.map(alloc, example_item)


def is_traced(x) -> bool:
    """True when `x` is a tracer (inside jit/vmap), so its value is unknown."""
    return isinstance(x, jax.core.Tracer)


def write_slots(insert_pos, n: int, capacity: int, mask=None):
    """Slots for a batch add of N items in a circular buffer of `capacity` slots.

    Item k (the r-th kept item, r = k or the rank among masked-in items) goes to
    slot (insert_pos + r) mod capacity. When more than `capacity` items are kept,
    only the last `capacity` win: earlier ones get slot `capacity` (out of range,
    dropped by the scatter).

    Returns:
      (slots [N] int32, n_added [] int32).
    """
    if mask is None:
        rank = jnp.arange(n, dtype=jnp.int32)
        n_added = jnp.int32(n)
        keep = rank >= n - capacity
    else:
        rank = jnp.cumsum(mask.astype(jnp.int32)) - 1
        n_added = jnp.sum(mask.astype(jnp.int32))
        keep = mask & (rank >= n_added - capacity)
    # Both terms are >= 0: lax.rem is the modulo without jnp's sign fix-up.
    slots = jnp.where(keep, jax.lax.rem(insert_pos + rank, capacity), capacity)
    return slots.astype(jnp.int32), n_added


def scatter_items(storage, slots, items, unique: bool):
    """Write items[k] into storage[slots[k]] for every leaf; out-of-range dropped."""

    def put(buf, x):
        x = jnp.asarray(x).astype(buf.dtype)
        return buf.at[slots].set(x, mode="drop", unique_indices=unique)

    return jax.tree.map(put, storage, items)


def gather_items(storage, indices):
    """Read storage[indices] for every leaf (indices known to be in range)."""
    return jax.tree.map(
        lambda buf: buf.at[indices].get(mode="promise_in_bounds"), storage
    )


def computed_once(x):
    """`x` unchanged, but as the root of its own XLA kernel, read by its consumers.

    XLA:CPU fuses cheap elementwise producers, such as a Threefry hash, into every
    consumer and recomputes them per consumer element (a gather of [B, D] rows, a
    [B, F] comparison); `lax.optimization_barrier` does not prevent it. A max over a
    size-2 axis of (x, the dtype's lowest value) is the identity and is such a root.
    """
    dtype = jnp.result_type(x)
    low = -jnp.inf if jnp.issubdtype(dtype, jnp.floating) else jnp.iinfo(dtype).min
    return jnp.max(jnp.stack([x, jnp.full_like(x, low)], axis=-1), axis=-1)


def raise_if_cannot_sample(ok, size, min_size: int) -> None:
    """Raise ValueError when a concrete state cannot be sampled; no-op when traced."""
    if not is_traced(ok) and not bool(ok):
        raise ValueError(
            f"cannot sample: the buffer holds {int(size)} items, needs {min_size} "
            "(check can_sample(state) first)"
        )


def check_batch_size(batch_size) -> int:
    """Return batch_size as an int >= 1 or raise ValueError."""
    return check_capacity(batch_size, "batch_size")

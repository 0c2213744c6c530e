"""Uniform circular replay buffer, usable inside `jax.jit` (and `lax.scan`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src.types import Array, ArrayLike
from rlblocks.replay import _common, _random


class BufferState(NamedTuple):
    """State of a uniform buffer of capacity C.

    Attributes:
      items: the example item's pytree, each leaf [C, *leaf_shape] of its dtype.
      counters: [3] int32 (insert_pos, size, count), read as the properties
        `insert_pos` (the slot the next item is written to), `size` (items held,
        <= C) and `count` (items ever added; wraps after 2**31).
    """

    items: Any
    counters: Array
    insert_pos = _common.INSERT_POS
    size = _common.SIZE
    count = _common.COUNT


def init_state(example_item: Any, capacity: int) -> BufferState:
    """Empty state: zero storage shaped like `example_item` with a [C] axis.

    Every leaf is a buffer of its own, so the state can be donated to `jax.jit`.
    """
    items = _common.storage_like(example_item, capacity)
    return BufferState(items=items, counters=jnp.zeros(3, jnp.int32))


def add_items(state, items, capacity: int, mask=None):
    """Write a batch into a circular state; returns (state, slots [N], n_added [])."""
    n = _common.check_items(state.items, items)
    _common.check_mask(mask, n)
    slots, n_added = _common.write_slots(state.insert_pos, n, capacity, mask)
    unique = mask is None and n <= capacity
    stored = _common.scatter_items(state.items, slots, items, unique)
    pos, size, count = state.counters[0], state.counters[1], state.counters[2]
    counters = jnp.stack(
        [
            jax.lax.rem(pos + n_added, capacity),  # both >= 0: no sign fix-up
            jnp.minimum(size + n_added, capacity),
            count + n_added,
        ]
    )
    new = state._replace(items=stored, counters=counters)
    return new, slots, n_added


def uniform_buffer(capacity: int, *, min_size: int = 1) -> _common.Buffer:
    """A circular buffer sampling stored items uniformly, with replacement.

    P(i) = 1 / size for each stored item i; when full, the oldest item is overwritten.

    A batch add of N items writes them in order from `insert_pos`, wrapping around;
    if N (or the number of masked-in items) exceeds the capacity, the last
    `capacity` items win. Items must match the example item's pytree structure, shapes
    and dtype kinds (ValueError otherwise). Sampling a concrete state that holds fewer
    than `min_size` items raises ValueError; under `jax.jit` (traced state) it returns
    slot-0 items with all-zero `weights` instead.

    Args:
      capacity: number of slots C (>= 1).
      min_size: `can_sample` is true once this many items are held (>= 1).

    Returns:
      A `Buffer(init, add, sample, can_sample)`.

    References:
      Lin, "Self-improving reactive agents based on reinforcement learning,
      planning and teaching", 1992.
    """
    capacity = _common.check_capacity(capacity)
    min_size = _common.check_min_size(min_size, capacity)

    def init(example_item: Any) -> BufferState:
        return init_state(example_item, capacity)

    def add(state: BufferState, items: Any, *, mask: ArrayLike | None = None):
        return add_items(state, items, capacity, mask)[0]

    def can_sample(state: BufferState) -> Array:
        return state.size >= min_size

    def sample(state: BufferState, key: Array, batch_size: int):
        batch_size = _common.check_batch_size(batch_size)
        ok = can_sample(state)
        _common.raise_if_cannot_sample(ok, state.size, min_size)
        high = jnp.maximum(state.size, 1)
        # Hashed once, not once per gather (and per gathered element).
        indices = _common.computed_once(_random.integers(key, high, batch_size))
        weights = jnp.broadcast_to(ok.astype(jnp.float32), (batch_size,))
        item = _common.gather_items(state.items, indices)
        return _common.ReplaySample(item=item, indices=indices, weights=weights)

    return _common.Buffer(init=init, add=add, sample=sample, can_sample=can_sample)

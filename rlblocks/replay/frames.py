"""Frame-sharing transition buffer: each observation is stored once.

Slot i holds one observation (`frames[i]`) and, if it ends a transition, that
transition's action, reward and discount (`steps[i]`, `is_step[i]`). The transition
in slot i reads `obs_t = frames[i]` and `obs_tm1 = frames[i - 1]`. Adding a
transition whose `obs_tm1` equals the last stored frame (the previous transition's
`obs_t`, compared bitwise) writes one slot; otherwise (a new episode, or another
stream) it first writes `obs_tm1` in a start slot that is never sampled. Because the
test is equality, sharing is always exact, whatever the episode boundaries. Memory
is one frame per transition plus one per episode: about half the naive layout.

Feed it the transitions of one stream in time order (vmap the state over parallel
envs); interleaved streams still work but share nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src.types import Array, ArrayLike
from rlblocks.replay import _common, n_step, sum_tree, uniform


class FrameState(NamedTuple):
    """State of a frame-sharing buffer of C slots (L = next power of two >= C).

    Attributes:
      slots: `BufferState` whose items are {"frame": obs pytree [C, *obs_shape],
        "step": (a_tm1, r_t, discount_t) leaves [C, ...], "is_step": [C] bool}.
      sum_tree: [2L] float32 sum tree, leaf i = 1 if slot i can be sampled (a
        transition whose previous frame is still held), else 0.
      min_tree: [2L] float32 min tree of the same leaves (kept by the tree code).
    """

    slots: uniform.BufferState
    sum_tree: Array
    min_tree: Array


def _split(t: n_step.Transition):
    return {"frame": t.obs_tm1, "step": (t.a_tm1, t.r_t, t.discount_t)}


def _like(storage) -> n_step.Transition:
    a, r, d = storage["step"]
    return n_step.Transition(storage["frame"], a, r, d, storage["frame"])


def _continues(state: FrameState, items: n_step.Transition, mask, capacity: int):
    """[N] bool: item k's obs_tm1 equals the frame stored just before it.

    That frame is the obs_t of the previous kept item of the batch, or for the
    first kept item the last frame in the buffer (if any).
    """
    n = jnp.shape(items.r_t)[0]
    k = jnp.arange(n)
    kept = k if mask is None else jnp.where(mask, k, -1)
    prev = jnp.concatenate([jnp.array([-1]), jax.lax.cummax(kept)[:-1]])
    last = (state.slots.insert_pos - 1) % capacity

    def same(obs_tm1, obs_t, frames):
        in_batch = (prev >= 0).reshape((n,) + (1,) * (obs_t.ndim - 1))
        before = jnp.where(in_batch, obs_t[jnp.maximum(prev, 0)], frames[last][None])
        return jnp.all((obs_tm1 == before).reshape(n, -1), axis=1)

    eq = jax.tree.map(same, items.obs_tm1, items.obs_t, state.slots.items["frame"])
    all_eq = jnp.all(jnp.stack(jax.tree.leaves(eq)), axis=0)
    return all_eq & ((prev >= 0) | (state.slots.size > 0))


def _interleave(first, second):
    """[N, ...] and [N, ...] -> [2N, ...] as first[0], second[0], first[1], ..."""

    def pair(a, b):
        a, b = jnp.asarray(a), jnp.asarray(b).astype(jnp.asarray(a).dtype)
        return jnp.stack([a, b], 1).reshape(2 * a.shape[0], *a.shape[1:])

    return jax.tree.map(pair, first, second)


def frame_sharing_buffer(capacity: int, *, min_size: int = 1) -> _common.Buffer:
    """A uniform transition buffer storing each observation once.

    P(i) = 1 / #sampleable,  obs_tm1(i) = frames[i - 1],  obs_t(i) = frames[i]

    Items are `Transition(obs_tm1, a_tm1, r_t, discount_t, obs_t)` with a leading
    [N] axis (`mask` [N] skips items). `can_sample` is true once `min_size`
    transitions can be sampled. Errors as for `uniform_buffer`.

    Args:
      capacity: number of slots C (each holds one frame; >= 2).
      min_size: transitions needed before sampling.

    Returns:
      A `Buffer(init, add, sample, can_sample)` over `FrameState`s; `sample` returns
      `ReplaySample(item=Transition [B], indices [B] slots, weights [B] ones)`.

    References:
      Mnih et al., "Human-level control through deep reinforcement learning", 2015
      (replay memory storing each frame once).
    """
    capacity = _common.check_capacity(capacity)
    min_size = _common.check_min_size(min_size, capacity)
    if capacity < 2:
        raise ValueError(f"capacity must be >= 2 to share frames, got {capacity}")

    def init(example: n_step.Transition) -> FrameState:
        if not isinstance(example, n_step.Transition):
            raise ValueError(f"example must be a Transition, got {type(example)}")
        item = {**_split(example), "is_step": jnp.zeros((), bool)}
        trees = sum_tree.init(capacity)
        return FrameState(uniform.init_state(item, capacity), *trees)

    def add(state: FrameState, items: Any, *, mask: ArrayLike | None = None):
        storage = state.slots.items
        n = _common.check_items(_like(storage), items)
        _common.check_mask(mask, n)
        start = ~_continues(state, items, mask, capacity)
        first = {**_split(items), "is_step": jnp.zeros(n, bool)}
        second = {**_split(items), "frame": items.obs_t, "is_step": jnp.ones(n, bool)}
        block = _interleave(first, second)
        m = jnp.ones(n, bool) if mask is None else jnp.asarray(mask)
        block_mask = _interleave(m & start, m)
        slots, written, _ = uniform.add_items(state.slots, block, capacity, block_mask)
        full = slots.size == capacity
        oldest = slots.insert_pos
        value = jnp.where(written == oldest, 0.0, block["is_step"].astype(jnp.float32))
        idx = jnp.append(written, oldest)
        keep = jnp.append(written < capacity, full)
        trees = sum_tree.set_leaves(
            state.sum_tree, state.min_tree, idx, jnp.append(value, 0.0), keep
        )
        return FrameState(slots, *trees)

    def can_sample(state: FrameState) -> Array:
        return state.sum_tree[1] >= min_size

    def sample(state: FrameState, key: Array, batch_size: int):
        batch_size = _common.check_batch_size(batch_size)
        ok = can_sample(state)
        _common.raise_if_cannot_sample(ok, state.sum_tree[1], min_size)
        total = state.sum_tree[1]
        targets = jax.random.uniform(key, (batch_size,)) * total
        idx = jnp.minimum(sum_tree.find(state.sum_tree, targets), capacity - 1)
        rows = _common.gather_items(state.slots.items, idx)
        before = _common.gather_items(state.slots.items["frame"], (idx - 1) % capacity)
        a, r, d = rows["step"]
        item = n_step.Transition(before, a, r, d, rows["frame"])
        weights = jnp.broadcast_to(ok.astype(jnp.float32), (batch_size,))
        return _common.ReplaySample(item=item, indices=idx, weights=weights)

    return _common.Buffer(init=init, add=add, sample=sample, can_sample=can_sample)

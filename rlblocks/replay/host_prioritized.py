"""Host (numpy) prioritized replay: float64 sum/min trees written in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from rlblocks._src.types import ArrayLike
from rlblocks.replay import _common, host, prioritized, sum_tree


class HostPrioritizedState(NamedTuple):
    """Numpy state of a host prioritized buffer of capacity C (L = pow2 >= C).

    Attributes:
      items: the example item's pytree, each leaf [C, *leaf_shape] numpy array.
      counters: [3] int64 (insert_pos, size, count), as in `BufferState`; `count`
        (items ever added) is the step of a beta schedule.
      sum_tree: [2L] float64 sum tree; leaf i holds (p_i + epsilon)^alpha.
      min_tree: [2L] float64 min tree over the positive leaves.
      max_priority: [] float64 largest p + epsilon seen; new items get it.
      stale: [] int64 newest items whose leaves are set but whose ancestors are
        recomputed lazily, on the next `sample` (so `add` stays O(1)).
    """

    items: Any
    counters: np.ndarray
    sum_tree: np.ndarray
    min_tree: np.ndarray
    max_priority: np.ndarray
    stale: np.ndarray
    insert_pos = _common.INSERT_POS
    size = _common.SIZE
    count = _common.COUNT


def _flush(state: HostPrioritizedState, capacity: int) -> None:
    """Recompute the ancestors of the stale (newest) leaves."""
    stale = int(state.stale)
    if stale:
        slots = (int(state.insert_pos) - stale + np.arange(stale)) % capacity
        sum_tree.np_fix_ancestors(state.sum_tree, state.min_tree, slots)
        state.stale[...] = 0


def host_prioritized_buffer(
    capacity: int,
    *,
    alpha: float = 0.6,
    beta: float | Callable[[ArrayLike], ArrayLike] = 0.4,
    epsilon: float = 1e-6,
    min_size: int = 1,
) -> _common.PrioritizedBuffer:
    """A numpy prioritized buffer for host loops; same semantics as the jit one.

    P(i) = (p_i + ε)^α / Σ_k (p_k + ε)^α,  w_i = (N P(i))^-β / max_j (N P(j))^-β

    `add` writes items and leaves in place in O(1) per item; the trees' inner nodes
    are recomputed in one vectorised pass at the next `sample`. `sample(state, rng,
    batch_size)` takes a `numpy.random.Generator` and returns JAX arrays. Invalid
    priorities or indices always raise ValueError (the state is concrete).

    Args:
      capacity: number of slots C (>= 1).
      alpha: priority exponent α >= 0.
      beta: importance-sampling exponent in [0, 1], or a schedule of `state.count`.
      epsilon: ε >= 0 added to every priority.
      min_size: `can_sample` is true once this many items are held.

    Returns:
      A `PrioritizedBuffer(init, add, sample, can_sample, update_priorities)`.

    References:
      Schaul, Quan, Antonoglou, Silver, "Prioritized Experience Replay", 2016.
    """
    capacity = _common.check_capacity(capacity)
    min_size = _common.check_min_size(min_size, capacity)
    prioritized.check_hyper(alpha, beta, epsilon)

    def init(example_item: Any) -> HostPrioritizedState:
        base = host.init_state(example_item, capacity)
        trees = sum_tree.init(capacity, np.float64, xp=np)
        scalars = np.ones((), np.float64), np.zeros((), np.int64)
        return HostPrioritizedState(*base, *trees, *scalars)

    def add(state, items: Any, *, mask: ArrayLike | None = None):
        slots = host.write(state, items, capacity, mask)
        n = len(slots)
        leaves = state.sum_tree.shape[0] // 2
        if isinstance(slots, range):
            nodes = slice(slots.start + leaves, slots.stop + leaves)
            nodes = nodes.start if n == 1 else nodes
        else:
            nodes = slots + leaves
        value = state.max_priority.item() ** alpha
        state.sum_tree[nodes] = value
        state.min_tree[nodes] = value if value > 0 else np.inf
        stale = state.stale.item() + n
        state.stale[()] = stale if stale < capacity else capacity
        return state

    def can_sample(state) -> bool:
        return bool(state.size >= min_size)

    def sample(state, rng: np.random.Generator, batch_size: int):
        batch_size = _common.check_batch_size(batch_size)
        _common.raise_if_cannot_sample(can_sample(state), state.size, min_size)
        rng = host.check_rng(rng)
        _flush(state, capacity)
        total = state.sum_tree[1]
        prioritized.raise_if_no_mass(total)
        targets = (np.arange(batch_size) + rng.random(batch_size)) * (
            total / batch_size
        )
        indices = np.minimum(sum_tree.np_find(state.sum_tree, targets), capacity - 1)
        leaf = state.sum_tree[indices + state.sum_tree.shape[0] // 2]
        b = prioritized.beta_at(beta, int(state.count))
        weights = prioritized.importance_weights(leaf, state.min_tree[1], b)
        return host.deliver(state.items, indices, weights.astype(np.float32))

    def update_priorities(state, indices: ArrayLike, priorities: ArrayLike):
        indices, priorities = np.asarray(indices), np.asarray(priorities)
        prioritized.check_priority_args(indices, priorities, state.size)
        p = priorities.astype(np.float64) + epsilon
        nodes = indices.astype(np.int64) + state.sum_tree.shape[0] // 2
        state.sum_tree[nodes] = p**alpha  # numpy: the last of repeated indices wins
        state.min_tree[nodes] = np.where(p**alpha > 0, p**alpha, np.inf)
        stale = int(state.stale)
        recent = (int(state.insert_pos) - stale + np.arange(stale)) % capacity
        touched = np.concatenate([indices.astype(np.int64), recent])
        sum_tree.np_fix_ancestors(state.sum_tree, state.min_tree, touched)
        state.stale[...] = 0
        if p.size:
            state.max_priority[...] = max(float(state.max_priority), float(p.max()))
        return state

    return _common.PrioritizedBuffer(
        init=init,
        add=add,
        sample=sample,
        can_sample=can_sample,
        update_priorities=update_priorities,
    )

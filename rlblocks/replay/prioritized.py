"""Proportional prioritized replay (Schaul et al., 2016), usable inside `jax.jit`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from rlblocks._src import checks
from rlblocks._src.types import Array, ArrayLike
from rlblocks.replay import _common, sum_tree, uniform


class PrioritizedState(NamedTuple):
    """State of a prioritized buffer of capacity C (L = next power of two >= C).

    Attributes:
      items: the example item's pytree, each leaf [C, *leaf_shape] of its dtype.
      counters: [3] int32 (insert_pos, size, count), as in `BufferState`; `count`
        (items ever added) is the step of a beta schedule.
      sum_tree: [2L] float32 sum tree; leaf i holds (p_i + epsilon)^alpha.
      min_tree: [2L] float32 min tree over the positive leaves (+inf if none).
      max_priority: [] float32 largest p + epsilon seen; new items get it.
    """

    items: Any
    counters: Array
    sum_tree: Array
    min_tree: Array
    max_priority: Array
    insert_pos = _common.INSERT_POS
    size = _common.SIZE
    count = _common.COUNT


def check_priority_args(indices, priorities, size) -> None:
    """Shape/dtype checks, and value checks when the arguments are concrete."""
    checks.check_shapes(
        {"indices": (indices, "K", "int"), "priorities": (priorities, "K", "number")}
    )
    if _common.is_traced(priorities) or _common.is_traced(indices):
        return
    p = np.asarray(priorities, np.float64)
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"priorities must be finite and >= 0, got {p}")
    idx, n = np.asarray(indices), None if _common.is_traced(size) else int(size)
    if n is not None and (np.any(idx < 0) or np.any(idx >= n)):
        raise ValueError(f"indices must lie in [0, size={n}), got {idx}")


def raise_if_no_mass(total) -> None:
    """Raise ValueError when a concrete total priority mass is 0; no-op when traced.

    With epsilon = 0 every stored item may have priority 0: no item can be drawn
    and the importance weights would be 0/0.
    """
    if not _common.is_traced(total) and not float(total) > 0:
        raise ValueError(
            "cannot sample: every stored item has priority 0 (total mass "
            f"{float(total)}); use epsilon > 0 or give some item a priority > 0"
        )


def importance_weights(leaf, min_leaf, beta) -> Array:
    """w_i = (N P(i))^-beta / max_j (N P(j))^-beta = (p_min / p_i)^beta."""
    return (min_leaf / leaf) ** beta


def beta_at(beta, count):
    """beta itself, or beta(count) when it is a schedule."""
    return beta(count) if callable(beta) else beta


def check_hyper(alpha, beta, epsilon) -> None:
    """Raise ValueError for negative alpha/epsilon or beta outside [0, 1]."""
    checks.check_in_range(alpha, 0.0, np.inf, "alpha")
    checks.check_in_range(epsilon, 0.0, np.inf, "epsilon")
    if not callable(beta):
        checks.check_in_range(beta, 0.0, 1.0, "beta")


def prioritized_buffer(
    capacity: int,
    *,
    alpha: float = 0.6,
    beta: float | Callable[[ArrayLike], ArrayLike] = 0.4,
    epsilon: float = 1e-6,
    min_size: int = 1,
) -> _common.PrioritizedBuffer:
    """A circular buffer sampling items in proportion to priority^alpha.

    P(i) = (p_i + ε)^α / Σ_k (p_k + ε)^α,  w_i = (N P(i))^-β / max_j (N P(j))^-β

    Sampling is stratified: the total mass is cut into B equal strata and one
    prefix sum is drawn uniformly in each. New items get the largest p + ε seen so far
    (1 at the start). Adds follow `uniform_buffer` (wrap-around, last `capacity` win).
    `update_priorities` acts as if its entries were applied in order (a repeated
    index keeps its last value; all raise the max priority); concrete
    negative/NaN/inf priorities or indices outside [0, size) raise ValueError, traced
    ones are skipped (that entry keeps its priority). Sampling a concrete state before
    `can_sample` raises; under jit it gives all-zero weights. So does a state whose
    stored items all have priority 0 (possible only with ε = 0).

    Args:
      capacity: number of slots C (>= 1).
      alpha: priority exponent α >= 0 (0 is uniform).
      beta: importance-sampling exponent β in [0, 1], or a schedule called with
        `state.count` (items added so far).
      epsilon: ε >= 0 added to every priority; with ε > 0 no item has zero
        probability, with ε = 0 a priority of 0 makes an item unsampleable.
      min_size: `can_sample` is true once this many items are held.

    Returns:
      A `PrioritizedBuffer(init, add, sample, can_sample, update_priorities)`.

    References:
      Schaul, Quan, Antonoglou, Silver, "Prioritized Experience Replay", 2016.
    """
    capacity = _common.check_capacity(capacity)
    min_size = _common.check_min_size(min_size, capacity)
    check_hyper(alpha, beta, epsilon)

    def init(example_item: Any) -> PrioritizedState:
        base = uniform.init_state(example_item, capacity)
        trees = sum_tree.init(capacity)
        return PrioritizedState(*base, *trees, jnp.ones((), jnp.float32))

    def add(state: PrioritizedState, items: Any, *, mask: ArrayLike | None = None):
        new, slots, _ = uniform.add_items(state, items, capacity, mask)
        value = jnp.broadcast_to(state.max_priority**alpha, slots.shape)
        trees = sum_tree.set_leaves(
            state.sum_tree, state.min_tree, slots, value, slots < capacity
        )
        return new._replace(sum_tree=trees[0], min_tree=trees[1])

    def can_sample(state: PrioritizedState) -> Array:
        return state.size >= min_size

    def sample(state: PrioritizedState, key: Array, batch_size: int):
        batch_size = _common.check_batch_size(batch_size)
        ok = can_sample(state)
        _common.raise_if_cannot_sample(ok, state.size, min_size)
        raise_if_no_mass(state.sum_tree[1])
        ok = ok & (state.sum_tree[1] > 0)  # traced: zero weights, slot 0
        targets = sum_tree.stratified_targets(key, state.sum_tree[1], batch_size)
        found = jnp.minimum(sum_tree.find(state.sum_tree, targets), capacity - 1)
        indices = jnp.where(ok, found, 0)
        leaf = state.sum_tree[indices + state.sum_tree.shape[0] // 2]
        w = importance_weights(leaf, state.min_tree[1], beta_at(beta, state.count))
        weights = jnp.where(ok, w, 0.0).astype(jnp.float32)
        item = _common.gather_items(state.items, indices)
        return _common.ReplaySample(item=item, indices=indices, weights=weights)

    def update_priorities(
        state: PrioritizedState, indices: ArrayLike, priorities: ArrayLike
    ) -> PrioritizedState:
        check_priority_args(indices, priorities, state.size)
        indices = jnp.asarray(indices, jnp.int32)
        p = jnp.asarray(priorities, jnp.float32) + epsilon
        valid = (indices >= 0) & (indices < state.size) & jnp.isfinite(p) & (p >= 0)
        trees = sum_tree.set_leaves(
            state.sum_tree, state.min_tree, indices, p**alpha, valid
        )
        top = jnp.max(jnp.where(valid, p, 0.0), initial=0.0)
        return state._replace(
            sum_tree=trees[0],
            min_tree=trees[1],
            max_priority=jnp.maximum(state.max_priority, top),
        )

    return _common.PrioritizedBuffer(
        init=init,
        add=add,
        sample=sample,
        can_sample=can_sample,
        update_priorities=update_priorities,
    )

"""Wide sum and min trees over a fixed number of leaves, held in flat arrays.

Layout: every inner node has K = 2^b children (K <= 64) and all leaves sit at depth
d, with L = K^d >= capacity leaves (d and b as small as possible, so a 100k-slot
buffer has K = 64, d = 3). Level j (0 = the root, d = the leaves) holds K^j nodes,
stored one level after another from offset (K^j - 1) / (K - 1); node p of level j
has children pK .. pK + K - 1 of level j + 1. Leaf i is node offset(d) + i. Empty
leaves hold 0 in the sum tree and +inf in the min tree.

Every update rewrites the changed leaves and then recomputes each ancestor from its
K children, level by level: the sum by pairwise halving (c[:K/2] + c[K/2:], then
again, down to one value) and the min. No increment is ever applied, so the trees
cannot drift: after any sequence of updates each node equals exactly what a full
rebuild from the leaves would give, and a node is zero only if all its leaves are.
A wide tree keeps sampling and updates to d steps of K-wide vector work.
"""

from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks._src.types import Array
from rlblocks.replay import _random

MAX_WIDTH_BITS = 6  # at most 2^6 = 64 children per node


class Layout(NamedTuple):
    """Shape of a wide tree: node p of level j has 2^bits[j] children."""

    bits: tuple

    @property
    def depth(self) -> int:
        """Levels below the root (the leaves are level `depth`)."""
        return len(self.bits)

    def width(self, level: int) -> int:
        """Number of children of each node of `level`."""
        return 1 << self.bits[level]

    def offset(self, level: int) -> int:
        """Index of the first node of `level` (0 = root, depth = leaves)."""
        return sum(1 << sum(self.bits[:j]) for j in range(level))

    def count(self, level: int) -> int:
        """Number of nodes of `level`."""
        return 1 << sum(self.bits[:level])

    @property
    def size(self) -> int:
        """Number of nodes of the flat array."""
        return self.offset(self.depth + 1)


@functools.cache
def layout(capacity: int) -> Layout:
    """L = next power of two >= capacity leaves, in as few levels as widths allow."""
    need = max(max(capacity - 1, 0).bit_length(), 1)  # bits of a leaf index
    depth = -(-need // MAX_WIDTH_BITS)
    return Layout(tuple(need // depth + (j < need % depth) for j in range(depth)))


@functools.cache
def _layout_of_size(size: int) -> Layout:
    # size = 1 + 2^e1 + 2^e2 + ... with e_j the bits above level j: its set bits.
    ones = [e for e in range(size.bit_length()) if size >> e & 1]
    if len(ones) < 2 or ones[0] != 0:
        raise ValueError(f"no wide tree has {size} nodes")
    return Layout(tuple(b - a for a, b in itertools.pairwise(ones)))


def layout_of(tree) -> Layout:
    """The layout of a flat tree array (from its length)."""
    return _layout_of_size(int(tree.shape[0]))


def init(capacity: int, dtype=jnp.float32, xp=jnp):
    """Empty (sum_tree [N], min_tree [N]) for `capacity` leaves (N nodes)."""
    n = layout(capacity).size
    return xp.zeros(n, dtype), xp.full(n, np.inf, dtype)


def total(tree) -> Array:
    """The root: the sum of all leaves (or, for a min tree, their min)."""
    return tree[0]


def leaf_offset(tree) -> int:
    """Index of leaf 0 in the flat array."""
    lay = layout_of(tree)
    return lay.offset(lay.depth)


def leaves(tree):
    """The [L] leaves of a flat tree array."""
    return tree[leaf_offset(tree) :]


def pairwise_sum(children):
    """Sum over the last axis (a power of two long) by repeated halving."""
    while children.shape[-1] > 1:
        half = children.shape[-1] // 2
        children = children[..., :half] + children[..., half:]
    return children[..., 0]


def pairwise_min(children):
    """Min over the last axis (a power of two long) by repeated halving."""
    while children.shape[-1] > 1:
        half = children.shape[-1] // 2
        children = jnp.minimum(children[..., :half], children[..., half:])
    return children[..., 0]


def _rows(tree, lay: Layout, level: int, parents):
    """[M, K] children (at `level` + 1) of the given nodes of `level`: row gathers."""
    first = lay.offset(level + 1)
    kids = tree[first : first + lay.count(level + 1)].reshape(-1, lay.width(level))
    if isinstance(kids, np.ndarray):
        return kids[parents]
    return kids.at[parents].get(mode="promise_in_bounds")


def set_leaves(sum_tree, min_tree, slots, values, keep, *, last_wins=False):
    """Set leaves `slots[k]` to `values[k]` where `keep[k]`, then fix ancestors.

    Unless `last_wins`, slots must be unique among kept entries (or carry equal
    values). Zero values enter the min tree as +inf.

    Args:
      sum_tree: [N] sum tree.
      min_tree: [N] min tree.
      slots: [M] int leaf indices.
      values: [M] non-negative leaf values.
      keep: [M] bool, entries to apply.
      last_wins: a repeated slot takes the value of its last kept entry.

    Returns:
      The updated (sum_tree, min_tree).
    """
    lay, size = layout_of(sum_tree), sum_tree.shape[0]
    values = values.astype(sum_tree.dtype)
    pos = jnp.where(keep, slots, 0).astype(jnp.int32)
    nodes = jnp.where(keep, lay.offset(lay.depth) + pos, size)
    if last_wins:
        sum_tree, keep = _last_writers(sum_tree, nodes, keep)
        nodes = jnp.where(keep, nodes, size)
    sum_tree = sum_tree.at[nodes].set(values, mode="drop")
    min_tree = min_tree.at[nodes].set(
        jnp.where(values > 0, values, jnp.inf), mode="drop"
    )
    for level in reversed(range(lay.depth)):
        pos = pos >> lay.bits[level]
        nodes = jnp.where(keep, lay.offset(level) + pos, size)
        sums = pairwise_sum(_rows(sum_tree, lay, level, pos))
        mins = pairwise_min(_rows(min_tree, lay, level, pos))
        sum_tree = sum_tree.at[nodes].set(sums, mode="drop")
        min_tree = min_tree.at[nodes].set(mins, mode="drop")
    return sum_tree, min_tree


def _last_writers(tree, nodes, keep):
    """(scratched tree, [M] bool): true at the last kept entry of each node.

    Uses the nodes themselves as scratch: each gets -1, then the max entry number
    writing it, read back. Every scratched node has a last writer, which the caller
    then writes, so no scratch value survives. Entry numbers are exact in float32
    below 2^24 entries (a stable sort is used beyond).
    """
    m = nodes.shape[0]
    if m >= 1 << 24 or not jnp.issubdtype(tree.dtype, jnp.floating):
        order = jnp.argsort(nodes, stable=True)
        ordered = nodes[order]
        last = jnp.append(ordered[1:] != ordered[:-1], True)
        return tree, keep & jnp.zeros(m, bool).at[order].set(last)
    entry = jnp.arange(m, dtype=tree.dtype)
    tree = tree.at[nodes].set(-1.0, mode="drop").at[nodes].max(entry, mode="drop")
    return tree, keep & (tree.at[nodes].get(mode="fill", fill_value=-2.0) == entry)


def _pick(mass, targets, xp):
    """Child to enter per row of [B, K] masses: (k [B], mass before k [B]).

    k counts the children whose running sum (left to right) is <= the target, so
    its own running sum rises past the target and its mass is positive; a target at
    or beyond the total is capped at the first child whose running sum reaches the
    total (also positive when the total is). In jit the K columns are added one by
    one, elementwise, so XLA fuses a level into one kernel (no scan, no argmax).
    """
    targets = xp.maximum(targets, 0)
    if xp is np:
        running = np.cumsum(mass, axis=1)
        k = np.minimum(
            np.sum(running <= targets[:, None], axis=1),
            np.sum(running < running[:, -1:], axis=1),
        )
        return k, np.take_along_axis(running - mass, k[:, None], axis=1)[:, 0]
    cols = [mass[:, j] for j in range(mass.shape[1])]
    running = [cols[0]]
    for col in cols[1:]:
        running.append(running[-1] + col)
    below = sum((r <= targets).astype(jnp.int32) for r in running)
    k = jnp.minimum(below, sum((r < running[-1]).astype(jnp.int32) for r in running))
    before = sum(jnp.where(j < k, col, 0.0) for j, col in enumerate(cols))
    return k, before


def find(sum_tree, targets) -> Array:
    """Leaf i with prefix(i) <= target < prefix(i) + leaf(i), never an empty leaf.

    Descends from the root, entering at each level the child whose running sum of
    masses first exceeds the remaining target; a zero-mass child is never entered
    while a sibling is positive, so when the root is positive the result always has
    a positive value (targets at or beyond the total give the last positive leaf).

    Args:
      sum_tree: [N] sum tree.
      targets: [B] prefix sums in [0, total).

    Returns:
      [B] int32 leaf indices.
    """
    lay = layout_of(sum_tree)
    pos = jnp.zeros(targets.shape, jnp.int32)
    for level in range(lay.depth):
        k, before = _pick(_rows(sum_tree, lay, level, pos), targets, jnp)
        pos = (pos << lay.bits[level]) + k.astype(jnp.int32)
        targets = targets - before
    return pos


def stratified_targets(key, total, batch_size: int) -> Array:
    """u_k = (k + U_k) total / B, one uniform draw per stratum k = 0..B-1."""
    u = _random.uniform(key, batch_size, total.dtype)
    u = jax.lax.optimization_barrier(u)  # computed once, not in every consumer
    return (jnp.arange(batch_size, dtype=total.dtype) + u) * (total / batch_size)


# --- numpy (host) versions, in place ------------------------------------------


def np_fix_ancestors(sum_tree: np.ndarray, min_tree: np.ndarray, slots) -> None:
    """Recompute, in place, every ancestor of the given leaves from its children."""
    lay = layout_of(sum_tree)
    pos = np.unique(np.asarray(slots, np.int64))
    for level in reversed(range(lay.depth)):
        pos = np.unique(pos >> lay.bits[level])
        nodes = lay.offset(level) + pos
        sum_tree[nodes] = pairwise_sum(_rows(sum_tree, lay, level, pos))
        min_tree[nodes] = _rows(min_tree, lay, level, pos).min(axis=1)


def np_find(sum_tree: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Numpy twin of `find`."""
    lay = layout_of(sum_tree)
    pos = np.zeros(targets.shape, np.int64)
    for level in range(lay.depth):
        k, before = _pick(_rows(sum_tree, lay, level, pos), targets, np)
        pos, targets = (pos << lay.bits[level]) + k, targets - before
    return pos

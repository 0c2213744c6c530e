"""Host (numpy) replay buffers for Python loops such as gymnasium's.

Same semantics and state layout as the in-jit buffers, but the state holds numpy
arrays that `add` writes in place (it returns the same state object), so adding one
transition costs about one numpy row write per leaf instead of a ~15 us jit dispatch.
`sample` takes a `numpy.random.Generator` in place of a JAX key and delivers the
batch as JAX arrays in one transfer (one packed byte buffer, unpacked by one jit call).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from rlblocks._src.types import ArrayLike
from rlblocks.replay import _common, uniform


class _Layout:
    """Cached view of a storage pytree for fast per-add checks."""

    def __init__(self, storage):
        self.storage = storage
        self.leaves, self.treedef = jax.tree.flatten(storage)
        self.spec = [(b, b.shape[1:], b.dtype.kind) for b in self.leaves]
        flat = isinstance(storage, tuple | dict) and len(self.leaves) == len(storage)
        self.flat = flat and all(type(b) is np.ndarray for b in self.leaves)
        # One exactly-typed item: leaves shaped [1, *shape] with the storage dtypes;
        # a [1, *shape] row with shape != () is written whole (numpy drops the 1),
        # a [1] scalar leaf as its element.
        self.one_sig = [((1, *b.shape[1:]), b.dtype) for b in self.leaves]
        self.rows = [b.ndim > 1 for b in self.leaves]
        self.packers: dict = {}
        self.tuple_type = (
            type(storage) if self.flat and isinstance(storage, tuple) else None
        )
        # A dict's leaves in flatten order (sorted keys), whatever order it was built
        # in: items are matched to storage leaves by key, never by position.
        self.keys = (
            [path[0].key for path, _ in jax.tree.leaves_with_path(storage)]
            if self.flat and isinstance(storage, dict)
            else None
        )

    def add_one(self, state, items, capacity: int) -> int | None:
        """Write one exactly-typed item at `insert_pos`, advance, return its slot.

        The check is one list comparison of (shape, dtype) pairs (dtypes compare by
        identity first), so a well-formed single item costs about one row write per
        leaf; anything else returns None (nothing written) for the checked path.
        """
        if type(items) is not self.tuple_type:
            return None
        try:
            if [(x.shape, x.dtype) for x in items] != self.one_sig:
                return None
        except AttributeError:  # a leaf that is not an array
            return None
        counters = state.counters
        pos, size, count = counters.tolist()
        # lengths already equal (the signature check); strict=True costs ~0.3 us
        for b, x, row in zip(self.leaves, items, self.rows, strict=False):
            b[pos] = x if row else x[0]
        counters[0] = pos + 1 if pos + 1 < capacity else 0
        if size < capacity:
            counters[1] = size + 1
        counters[2] = count + 1
        return pos

    def pairs(self, items):
        """[(storage_leaf, item_leaf)], checked; fast for flat tuples and dicts."""
        if not (
            self.flat
            and type(items) is type(self.storage)
            and len(items) == len(self.storage)
            and (self.keys is None or items.keys() == self.storage.keys())
        ):
            return self._slow(items)
        xs = items if self.keys is None else [items[k] for k in self.keys]
        pairs, n = [], None
        for (b, shape, kind), x in zip(self.spec, xs, strict=True):
            if (
                type(x) is not np.ndarray
                or x.ndim != b.ndim
                or x.shape[1:] != shape
                or x.dtype.kind != kind
                or (n is not None and x.shape[:1] != n)
            ):
                return self._slow(items)  # the full check: raises or converts
            n = x.shape[:1]
            pairs.append((b, x))
        return pairs

    def _slow(self, items):
        _common.check_items(self.storage, items)
        leaves = [np.asarray(x) for x in jax.tree.leaves(items)]
        return list(zip(self.leaves, leaves, strict=True))


_LAYOUT_CACHE: list = [None]


def layout(storage) -> _Layout:
    """The (cached) layout of a storage pytree."""
    cached = _LAYOUT_CACHE[0]
    if cached is None or cached.storage is not storage:
        cached = _LAYOUT_CACHE[0] = _Layout(storage)
    return cached


def write(state: uniform.BufferState, items: Any, capacity: int, mask=None):
    """Write a batch in place; returns the slots written (a range or [n] array)."""
    lay = layout(state.items)
    if mask is None:
        pos = lay.add_one(state, items, capacity)  # fast path: one exact item
        if pos is not None:
            return range(pos, pos + 1)
    pairs = lay.pairs(items)
    n = pairs[0][1].shape[0] if pairs else 0
    if mask is not None:
        mask = np.asarray(mask)
        _common.check_mask(mask, n)
        pairs = [(b, x[mask]) for b, x in pairs]
        n = int(mask.sum())
    pos = state.counters[0].item()
    if pos + n <= capacity:
        for b, x in pairs:
            b[pos : pos + n] = x
        slots = range(pos, pos + n)
    else:
        keep = min(n, capacity)
        slots = (pos + n - keep + np.arange(keep)) % capacity
        for b, x in pairs:
            b[slots] = x[n - keep :]
    _advance(state.counters, n, capacity)
    return slots


def _advance(counters: np.ndarray, n: int, capacity: int) -> None:
    """Move the host counters [insert_pos, size, count] on by n added items."""
    pos, size, count = counters.tolist()
    counters[0] = (pos + n) % capacity
    if size < capacity:
        counters[1] = size + n if size + n < capacity else capacity
    counters[2] = count + n


def init_state(example_item: Any, capacity: int) -> uniform.BufferState:
    """Empty host state: numpy zero storage and [3] int64 counters."""
    items = _common.storage_like(example_item, capacity, xp=np)
    return uniform.BufferState(items, np.zeros(3, np.int64))


def check_rng(rng) -> np.random.Generator:
    """Raise ValueError unless `rng` is a numpy Generator."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "host buffers sample with a numpy.random.Generator "
            f"(np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def deliver(storage, rows: np.ndarray, weights, indices=None):
    """Gather `rows` on the host; move them and the indices in one transfer.

    `weights` is a numpy array (moved too) or an already-placed JAX array. When
    every leaf has a numeric dtype JAX keeps as is, the gathered leaves, indices
    and weights are packed into one fresh byte buffer and a jitted unpack bitcasts
    them back on the device (one transfer + one dispatch instead of one transfer per
    array); otherwise they go through one `jax.device_put` of the leaf list.
    """
    indices = rows if indices is None else indices
    lay = layout(storage)
    on_host = not isinstance(weights, jax.Array)
    key = (rows.shape, indices.shape, on_host, jax.config.jax_enable_x64)
    packer = lay.packers.get(key)
    if packer is None:
        packer = lay.packers[key] = _packer(lay.leaves, rows, indices, on_host)
    if packer is not None:
        moved = packer(lay.leaves, rows, indices, weights if on_host else None)
    else:
        taken = [np.take(b, rows, axis=0) for b in lay.leaves]
        extra = [weights] if on_host else []
        moved = jax.device_put([*taken, indices.astype(np.int32), *extra])
    if on_host:
        weights = moved.pop()
    item = jax.tree.unflatten(lay.treedef, moved[:-1])
    return _common.ReplaySample(item=item, indices=moved[-1], weights=weights)


def _packer(leaves, rows, indices, on_host: bool):
    """A `_Packer` for these leaves and shapes, or None if a dtype cannot be packed."""
    segs = [(b.dtype, (*rows.shape, *b.shape[1:])) for b in leaves]
    segs.append((np.dtype(np.int32), indices.shape))
    if on_host:
        segs.append((np.dtype(np.float32), indices.shape[:1]))
    for dtype, _ in segs:
        if dtype.kind not in "biuf" or jax.dtypes.canonicalize_dtype(dtype) != dtype:
            return None
    return _Packer(tuple(segs))


class _Packer:
    """Packs gathered rows, indices and weights into one byte buffer per call."""

    def __init__(self, segs):
        self.segs, self.offsets, total = segs, [], 0
        for dtype, shape in segs:
            self.offsets.append(total)
            total += -(-int(np.prod(shape, dtype=np.int64)) * dtype.itemsize // 8) * 8
        self.total = total
        self.unpack = _unpacker(segs, tuple(self.offsets))

    def __call__(self, leaves, rows, indices, weights) -> list:
        slab = np.empty(self.total, np.uint8)  # fresh: JAX may alias host memory
        views = [
            np.ndarray(shape, dtype, slab, offset)
            for (dtype, shape), offset in zip(self.segs, self.offsets, strict=True)
        ]
        for b, out in zip(leaves, views, strict=False):
            np.take(b, rows, axis=0, out=out)
        views[len(leaves)][...] = indices
        if weights is not None:
            views[-1][...] = weights
        return list(self.unpack(slab))


@functools.cache
def _unpacker(segs, offsets):
    """Jitted slab -> arrays: slice each segment and bitcast it to its dtype."""

    def unpack(slab):
        out = []
        for (dtype, shape), offset in zip(segs, offsets, strict=True):
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            part = slab[offset : offset + size]
            if dtype == np.bool_:
                out.append(part.reshape(shape) != 0)
            elif dtype.itemsize == 1:
                out.append(jax.lax.bitcast_convert_type(part.reshape(shape), dtype))
            else:
                part = part.reshape(*shape, dtype.itemsize)
                out.append(jax.lax.bitcast_convert_type(part, dtype))
        return out

    return jax.jit(unpack)


_ONES: dict[int, jax.Array] = {}


def ones(batch_size: int) -> jax.Array:
    """[B] float32 ones on the device, made once per batch size (remade if donated)."""
    cached = _ONES.get(batch_size)
    if cached is None or cached.is_deleted():
        _ONES[batch_size] = jax.device_put(np.ones(batch_size, np.float32))
    return _ONES[batch_size]


def host_uniform_buffer(capacity: int, *, min_size: int = 1) -> _common.Buffer:
    """A numpy circular buffer with uniform sampling, for host-side loops.

    P(i) = 1 / size for each stored item i; `add` writes in place.

    Same semantics as `uniform_buffer` (wrap-around, last `capacity` items win,
    ValueError on structure/shape/dtype-kind mismatch and when sampling before
    `can_sample`), but the state holds numpy arrays and `sample(state, rng,
    batch_size)` takes a `numpy.random.Generator` and returns JAX arrays.

    Args:
      capacity: number of slots C (>= 1).
      min_size: `can_sample` is true once this many items are held (>= 1).

    Returns:
      A `Buffer(init, add, sample, can_sample)` over numpy `BufferState`s.
    """
    capacity = _common.check_capacity(capacity)
    min_size = _common.check_min_size(min_size, capacity)

    def init(example_item: Any) -> uniform.BufferState:
        return init_state(example_item, capacity)

    def add(state, items: Any, *, mask: ArrayLike | None = None):
        lay = layout(state.items)
        if mask is not None or lay.add_one(state, items, capacity) is None:
            write(state, items, capacity, mask)  # not one exactly-typed item
        return state

    def can_sample(state) -> bool:
        return bool(state.size >= min_size)

    def sample(state, rng: np.random.Generator, batch_size: int):
        batch_size = _common.check_batch_size(batch_size)
        _common.raise_if_cannot_sample(can_sample(state), state.size, min_size)
        indices = check_rng(rng).integers(0, int(state.size), batch_size)
        return deliver(state.items, indices, ones(batch_size))

    return _common.Buffer(init=init, add=add, sample=sample, can_sample=can_sample)

"""Sequence (trajectory) buffer: time-ordered steps, sampled as windows of length T.

Steps are appended in time order to a circular buffer. Step k (counting every step
ever added, from 0) may start a window when k is a multiple of `period` and the
whole window [k, k + T) is still held: k >= count - size and k + T <= count. So a
window never crosses the write head and never mixes the newest with the oldest
steps. Episode boundaries inside a window are the caller's business: store
`discount`/`done` fields in the steps and let the return (lambda-returns, Retrace,
V-trace) cut at them.

For E parallel envs keep one stream per env with `jax.vmap` over the state:
`jax.vmap(buf.add)(states, steps)` with steps [E, N, ...], and
`jax.vmap(buf.sample, in_axes=(0, 0, None))(states, keys, B)` -> [E, B, T, ...].
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks._src.types import Array, ArrayLike
from rlblocks.replay import _common, host, uniform


def window_starts(count, size, sequence_length: int, period: int, xp=jnp):
    """(first start, number of starts) of the windows held by the buffer.

    first = ceil((count - size) / period) * period,
    n = floor((count - T - first) / period) + 1 if count - T >= first else 0.
    """
    oldest = count - size
    first = -((-oldest) // period) * period
    last = count - sequence_length
    n = xp.where(last >= first, (last - first) // period + 1, 0)
    return first, n


def _check_sizes(capacity: int, sequence_length: int, period: int | None):
    capacity = _common.check_capacity(capacity)
    t = _common.check_capacity(sequence_length, "sequence_length")
    period = _common.check_capacity(period if period is not None else 1, "period")
    if t > capacity:
        raise ValueError(f"sequence_length={t} must be <= capacity={capacity}")
    if period > capacity - t + 1:  # the C - T + 1 starts held must meet a multiple
        raise ValueError(
            f"period={period} must be <= capacity - sequence_length + 1 = "
            f"{capacity - t + 1} (capacity={capacity}, sequence_length={t}): "
            "otherwise a full buffer at some times holds no whole window"
        )
    return capacity, t, period


def sequence_buffer(
    capacity: int, sequence_length: int, *, period: int | None = None
) -> _common.Buffer:
    """A circular buffer of time-ordered steps sampled as windows of T steps.

    start k ~ U{k : k mod period = 0, count - size <= k, k + T <= count}

    Windows overlap by T - period steps (period = 1: every start; period = T: no
    overlap). `can_sample` is true once one window is held. Sampling a concrete
    state before that raises ValueError; under jit it gives all-zero weights.

    Args:
      capacity: number of step slots C (>= T).
      sequence_length: window length T.
      period: distance between consecutive window starts (default 1), at most
        C - T + 1 so that a full buffer always holds a window.

    Returns:
      A `Buffer(init, add, sample, can_sample)`; `sample` returns items with
      leaves [B, T, ...], `indices` [B] the slot of each window's first step and
      `weights` [B] ones.
    """
    capacity, t, period = _check_sizes(capacity, sequence_length, period)
    offsets = jnp.arange(t, dtype=jnp.int32)

    def init(example_step: Any) -> uniform.BufferState:
        return uniform.init_state(example_step, capacity)

    def add(state: uniform.BufferState, steps: Any, *, mask: ArrayLike | None = None):
        return uniform.add_items(state, steps, capacity, mask)[0]

    def can_sample(state: uniform.BufferState) -> Array:
        return window_starts(state.count, state.size, t, period)[1] >= 1

    def sample(state: uniform.BufferState, key: Array, batch_size: int):
        batch_size = _common.check_batch_size(batch_size)
        first, n = window_starts(state.count, state.size, t, period)
        ok = n >= 1
        _common.raise_if_cannot_sample(ok, state.size, t)
        k = jax.random.randint(key, (batch_size,), 0, jnp.maximum(n, 1))
        starts = ((first + k * period) % capacity).astype(jnp.int32)
        slots = (starts[:, None] + offsets[None, :]) % capacity
        item = _common.gather_items(state.items, slots)
        weights = jnp.broadcast_to(ok.astype(jnp.float32), (batch_size,))
        return _common.ReplaySample(item=item, indices=starts, weights=weights)

    return _common.Buffer(init=init, add=add, sample=sample, can_sample=can_sample)


def host_sequence_buffer(
    capacity: int, sequence_length: int, *, period: int | None = None
) -> _common.Buffer:
    """Numpy twin of `sequence_buffer` (in-place adds, numpy Generator sampling).

    start k ~ U{k : k mod period = 0, count - size <= k, k + T <= count}

    Args:
      capacity: number of step slots C (>= T).
      sequence_length: window length T.
      period: distance between consecutive window starts (default 1), at most
        C - T + 1 so that a full buffer always holds a window.

    Returns:
      A `Buffer(init, add, sample, can_sample)` over numpy states; `sample(state,
      rng, batch_size)` returns JAX arrays with leaves [B, T, ...].
    """
    capacity, t, period = _check_sizes(capacity, sequence_length, period)

    def init(example_step: Any) -> uniform.BufferState:
        return host.init_state(example_step, capacity)

    def add(state, steps: Any, *, mask: ArrayLike | None = None):
        host.write(state, steps, capacity, mask)
        return state

    def starts_of(state):
        return window_starts(int(state.count), int(state.size), t, period, xp=np)

    def can_sample(state) -> bool:
        return bool(starts_of(state)[1] >= 1)

    def sample(state, rng: np.random.Generator, batch_size: int):
        batch_size = _common.check_batch_size(batch_size)
        first, n = starts_of(state)
        _common.raise_if_cannot_sample(n >= 1, state.size, t)
        k = host.check_rng(rng).integers(0, n, batch_size)
        starts = (first + k * period) % capacity
        slots = (starts[:, None] + np.arange(t)[None, :]) % capacity
        return host.deliver(state.items, slots, host.ones(batch_size), indices=starts)

    return _common.Buffer(init=init, add=add, sample=sample, can_sample=can_sample)

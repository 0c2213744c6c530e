"""Uniform draws for replay sampling as straight-line Threefry-2x32, fused by XLA.

On CPU, `jax.random` lowers Threefry to a rolled loop of 5 steps (several kernels
each), and `randint` also splits the key and hashes twice: inside a small jitted
sample that costs more than the gathers. These functions hash the counters 0..n-1
with the same Threefry-2x32 (20 rounds, the key and counter layout of
`jax.random.bits`) written out round by round, so the whole draw becomes one
elementwise kernel. Keys of another PRNG implementation use `jax.random` instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks._src.types import Array

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32, 20 rounds: key words (k0, k1), counter words (x0, x1), uint32.

    References:
      Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", 2011.
    """
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def key_words(key) -> Array | None:
    """The [2] uint32 data of a single Threefry key (typed or raw), else None."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape or str(jax.random.key_impl(key)) != "threefry2x32":
            return None
        return jax.random.key_data(key)
    default = jax.config.jax_default_prng_impl == "threefry2x32"
    if default and key.shape == (2,) and key.dtype == jnp.uint32:
        return key
    return None


def hashed_counters(words, n: int):
    """([n], [n]) uint32: the two Threefry output words of counters (0, i)."""
    counters = jnp.arange(n, dtype=jnp.uint32)
    return threefry2x32(words[0], words[1], jnp.zeros_like(counters), counters)


def _mulhi(a, b):
    """floor(a b / 2^32) for uint32 a, b, from 16-bit halves (no 64-bit ints)."""
    a0, a1 = a & 0xFFFF, a >> 16
    b0, b1 = b & 0xFFFF, b >> 16
    hl = a1 * b0
    cross = ((a0 * b0) >> 16) + (hl & 0xFFFF) + a0 * b1  # < 2^32: no overflow
    return a1 * b1 + (hl >> 16) + (cross >> 16)


def integers(key, high, n: int) -> Array:
    """[n] int32 uniform in [0, high), high a [] int in [1, 2^31).

    i = floor((2^32 h + l) high / 2^64) with (h, l) the 64 hashed bits of counter
    i, so each value has probability 1/high within a relative 2^-32.
    """
    high = jnp.asarray(high, jnp.int32)
    words = key_words(key)
    if words is None:
        return jax.random.randint(key, (n,), 0, high, dtype=jnp.int32)
    h, lo = hashed_counters(words, n)
    m = high.astype(jnp.uint32)
    low_product = h * m  # h m mod 2^32
    carry = (low_product + _mulhi(lo, m)) < low_product
    return (_mulhi(h, m) + carry.astype(jnp.uint32)).astype(jnp.int32)


def uniform(key, n: int, dtype=jnp.float32) -> Array:
    """[n] floats in [0, 1), bit for bit `jax.random.uniform(key, (n,), dtype)`."""
    words = key_words(key)
    if words is None or jnp.dtype(dtype) != jnp.float32:
        return jax.random.uniform(key, (n,), dtype)
    h, lo = hashed_counters(words, n)
    mantissa = ((h ^ lo) >> np.uint32(9)) | np.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0

"""Value transforms, 2-hot encodings and transform pairs (rlax names and arguments).

Value transforms squash returns into a range a network fits easily (R2D2's h,
signed log, power) or encode them as 2-hot probabilities over a fixed support
(MuZero). A `TxPair` bundles a transform and its inverse for the non-linear Bellman
targets of `nonlinear_bellman.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import checks
from rlblocks._src.types import Array, ArrayLike


def identity(x: ArrayLike) -> Array:
    """Identity transform, the trivial value transform.

    f(x) = x

    Args:
      x: [...] floating-point values.

    Returns:
      `x` as an array.
    """
    checks.check_dtype(x, "float", "x")
    return jnp.asarray(x)


def signed_logp1(x: ArrayLike) -> Array:
    """Signed logarithm of 1 + |x|; inverse of `signed_expm1`.

    f(x) = sign(x) log(1 + |x|)

    Args:
      x: [...] floating-point values.

    Returns:
      [...] transformed values.
    """
    checks.check_dtype(x, "float", "x")
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def signed_expm1(x: ArrayLike) -> Array:
    """Signed exp(|x|) − 1; inverse of `signed_logp1`.

    f(x) = sign(x) (exp(|x|) − 1)

    Args:
      x: [...] floating-point values.

    Returns:
      [...] transformed values.
    """
    checks.check_dtype(x, "float", "x")
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


def signed_hyperbolic(x: ArrayLike, eps: float = 1e-3) -> Array:
    """R2D2's value rescaling h; inverse of `signed_parabolic`.

    h(x) = sign(x) (√(|x| + 1) − 1) + ε x

    Computed as x / (√(|x| + 1) + 1) + ε x, which equals the formula above and
    keeps full relative precision near zero.

    Args:
      x: [...] floating-point values.
      eps: the linear term ε > 0 that keeps h invertible with a Lipschitz inverse.

    Returns:
      [...] transformed values.

    References:
      Pohlen et al., Observe and Look Further: Achieving Consistent Performance on
      Atari, 2018. Kapturowski et al., Recurrent Experience Replay in Distributed
      Reinforcement Learning, 2019.
    """
    checks.check_dtype(x, "float", "x")
    _check_eps(eps)
    x = jnp.asarray(x)
    return x / (jnp.sqrt(jnp.abs(x) + 1.0) + 1.0) + eps * x


def _check_eps(eps) -> None:
    if checks.is_number(eps) and not eps >= 0:  # < 0 makes h non-monotone, h⁻¹ NaN
        raise ValueError(f"eps must be >= 0, got {eps}")


def signed_parabolic(x: ArrayLike, eps: float = 1e-3) -> Array:
    """Inverse of R2D2's value rescaling, h⁻¹; inverse of `signed_hyperbolic`.

    h⁻¹(y) = sign(y) ((√(1 + 4ε(|y| + 1 + ε)) − 1) / (2ε))² − sign(y)

    Computed as sign(y) u (u + 2) with u = 2|y| / (1 + 2ε + √((1 + 2ε)² + 4ε|y|)),
    the root of ε u² + (1 + 2ε) u = |y| written without cancellation (and with
    sign(y) u = 2y / (…), so the derivative at 0 is exact).

    Args:
      x: [...] floating-point values (transformed values y).
      eps: the same ε as used by `signed_hyperbolic`.

    Returns:
      [...] values in the original scale.

    References:
      Pohlen et al., Observe and Look Further: Achieving Consistent Performance on
      Atari, 2018.
    """
    checks.check_dtype(x, "float", "x")
    _check_eps(eps)
    x = jnp.asarray(x)
    b = 1.0 + 2.0 * eps
    denominator = b + jnp.sqrt(b * b + 4.0 * eps * jnp.abs(x))
    signed_u = 2.0 * x / denominator
    return signed_u * (jnp.abs(signed_u) + 2.0)


def hyperbolic_sin(x: ArrayLike) -> Array:
    """Hyperbolic sine; inverse of `hyperbolic_arcsin`.

    f(x) = sinh(x)

    Args:
      x: [...] floating-point values.

    Returns:
      [...] transformed values.
    """
    checks.check_dtype(x, "float", "x")
    return jnp.sinh(x)


def hyperbolic_arcsin(x: ArrayLike) -> Array:
    """Inverse hyperbolic sine, a squashing transform; inverse of `hyperbolic_sin`.

    f(x) = arcsinh(x) = log(x + √(x² + 1))

    Args:
      x: [...] floating-point values.

    Returns:
      [...] transformed values.
    """
    checks.check_dtype(x, "float", "x")
    return jnp.arcsinh(x)


def power(x: ArrayLike, p: float) -> Array:
    """Signed power transform; `power(·, 1/p)` is the inverse of `power(·, p)`.

    f(x) = sign(x) ((|x| / √p + 1)^p − 1) / √p

    Args:
      x: [...] floating-point values.
      p: the exponent p > 0.

    Returns:
      [...] transformed values.
    """
    checks.check_dtype(x, "float", "x")
    if checks.is_number(p) and not p > 0:
        raise ValueError(f"p must be > 0, got {p}")
    q = jnp.sqrt(p)
    return jnp.sign(x) * jnp.expm1(p * jnp.log1p(jnp.abs(x) / q)) / q


def transform_to_2hot(
    scalar: ArrayLike, min_value: float, max_value: float, num_bins: int
) -> Array:
    """Encode scalars as 2-hot vectors over a uniform support (mean-preserving).

    x ↦ p with pᵢ = 1 − |x − zᵢ| / Δ on the two atoms zᵢ bracketing clip(x),
    zᵢ = min_value + i Δ, Δ = (max_value − min_value) / (num_bins − 1)

    Args:
      scalar: [...] floating-point values; clipped to [min_value, max_value].
      min_value: the first atom of the support.
      max_value: the last atom of the support (> min_value).
      num_bins: number of atoms (>= 2).

    Returns:
      [..., num_bins] probabilities whose mean under the support is clip(scalar).

    References:
      Schrittwieser et al., Mastering Atari, Go, Chess and Shogi by Planning with a
      Learned Model, 2020.
    """
    _check_support(min_value, max_value, num_bins)
    checks.check_dtype(scalar, "float", "scalar")
    scalar = jnp.clip(jnp.asarray(scalar), min_value, max_value)
    pos = (scalar - min_value) / (max_value - min_value) * (num_bins - 1)
    lower = jnp.clip(jnp.floor(pos), 0, num_bins - 2)
    frac = (pos - lower)[..., None]
    lower = lower.astype(jnp.int32)
    below = jax.nn.one_hot(lower, num_bins, dtype=scalar.dtype)
    above = jax.nn.one_hot(lower + 1, num_bins, dtype=scalar.dtype)
    return below * (1.0 - frac) + above * frac


def transform_from_2hot(
    probs: ArrayLike, min_value: float, max_value: float, num_bins: int
) -> Array:
    """Mean of a categorical distribution over a uniform support.

    x = Σᵢ pᵢ zᵢ, zᵢ = min_value + i (max_value − min_value) / (num_bins − 1)

    Args:
      probs: [..., num_bins] probabilities (e.g. from `transform_to_2hot`).
      min_value: the first atom of the support.
      max_value: the last atom of the support.
      num_bins: number of atoms.

    Returns:
      [...] the means.
    """
    _check_support(min_value, max_value, num_bins)
    checks.check_dtype(probs, "float", "probs")
    probs = jnp.asarray(probs)
    if probs.ndim < 1 or probs.shape[-1] != num_bins:
        raise ValueError(
            f"probs must have shape [..., {num_bins}] (num_bins), got {probs.shape}"
        )
    support = jnp.linspace(min_value, max_value, num_bins, dtype=probs.dtype)
    return jnp.sum(probs * support, axis=-1)


def _check_support(min_value, max_value, num_bins) -> None:
    if not checks.is_integer(num_bins) or num_bins < 2:
        raise ValueError(f"num_bins must be an integer >= 2, got {num_bins!r}")
    concrete = all(checks.is_number(v) for v in (min_value, max_value))
    if concrete and not min_value < max_value:
        raise ValueError(
            f"min_value must be < max_value, got {min_value} and {max_value}"
        )


def _to_2hot_on_bins(scalar: Array, bins: Array) -> Array:
    """2-hot encoding over an increasing, possibly non-uniform support `bins` [K]."""
    scalar = jnp.clip(scalar, bins[0], bins[-1])
    lower = jnp.clip(jnp.searchsorted(bins, scalar, side="right") - 1, 0, len(bins) - 2)
    frac = ((scalar - bins[lower]) / (bins[lower + 1] - bins[lower]))[..., None]
    below = jax.nn.one_hot(lower, len(bins), dtype=bins.dtype)
    above = jax.nn.one_hot(lower + 1, len(bins), dtype=bins.dtype)
    return below * (1.0 - frac) + above * frac


def _from_2hot_on_bins(probs: Array, bins: Array) -> Array:
    return jnp.sum(probs * bins, axis=-1)


# --- transform pairs -------------------------------------------------------------


class TxPair(NamedTuple):
    """A value transform and its inverse, used by the non-linear Bellman targets.

    Attributes:
      apply: f, mapping values to the transformed (learned) space.
      apply_inv: f⁻¹, mapping transformed values back to values.
    """

    apply: Callable[[Array], Array]
    apply_inv: Callable[[Array], Array]


IDENTITY_PAIR = TxPair(identity, identity)
SIGNED_LOGP1_PAIR = TxPair(signed_logp1, signed_expm1)
SIGNED_HYPERBOLIC_PAIR = TxPair(signed_hyperbolic, signed_parabolic)
HYPERBOLIC_SIN_PAIR = TxPair(hyperbolic_arcsin, hyperbolic_sin)
identity_pair = IDENTITY_PAIR
signed_logp1_pair = SIGNED_LOGP1_PAIR
signed_hyperbolic_pair = SIGNED_HYPERBOLIC_PAIR


def compose_tx(*tx_list: TxPair) -> TxPair:
    """Compose transform pairs: apply in the given order, invert in reverse order.

    [f, g] ↦ (x ↦ g(f(x)), y ↦ f⁻¹(g⁻¹(y)))

    Args:
      *tx_list: the TxPairs, first applied first.

    Returns:
      The composed TxPair.
    """

    def apply(x):
        for tx in tx_list:
            x = tx.apply(x)
        return x

    def apply_inv(x):
        for tx in reversed(tx_list):
            x = tx.apply_inv(x)
        return x

    return TxPair(apply, apply_inv)


def twohot_pair(min_value: float, max_value: float, num_bins: int) -> TxPair:
    """The 2-hot encoding over a uniform support and its inverse (the mean).

    (x ↦ transform_to_2hot(x), p ↦ transform_from_2hot(p))

    Args:
      min_value: the first atom of the support.
      max_value: the last atom of the support.
      num_bins: number of atoms.

    Returns:
      A TxPair mapping [...] values to [..., num_bins] probabilities and back.
    """
    _check_support(min_value, max_value, num_bins)
    support = dict(min_value=min_value, max_value=max_value, num_bins=num_bins)
    return TxPair(
        functools.partial(transform_to_2hot, **support),
        functools.partial(transform_from_2hot, **support),
    )


def muzero_pair(
    min_value: float, max_value: float, num_bins: int, tx: TxPair
) -> TxPair:
    """MuZero's value encoding: squash with `tx`, then 2-hot over a uniform support.

    (x ↦ 2hot(f(x)), p ↦ f⁻¹(mean(p)))

    Args:
      min_value: the first atom of the support, in the transformed space.
      max_value: the last atom of the support, in the transformed space.
      num_bins: number of atoms.
      tx: the squashing TxPair f, e.g. `SIGNED_HYPERBOLIC_PAIR`.

    Returns:
      A TxPair mapping [...] values to [..., num_bins] probabilities and back.

    References:
      Schrittwieser et al., Mastering Atari, Go, Chess and Shogi by Planning with a
      Learned Model, 2020.
    """
    return compose_tx(tx, twohot_pair(min_value, max_value, num_bins))


def unbiased_transform_pair(
    min_value: float, max_value: float, num_bins: int, tx: TxPair
) -> TxPair:
    """2-hot encoding over the non-uniform support f⁻¹(uniform grid): mean-unbiased.

    bᵢ = f⁻¹(min_value + i Δ); (x ↦ 2hot_b(x), p ↦ Σᵢ pᵢ bᵢ)

    Unlike `muzero_pair`, the non-linearity moves the atoms instead of the value,
    so the mean of the encoding is the value itself (no Jensen bias).

    Args:
      min_value: the first atom, in the transformed space.
      max_value: the last atom, in the transformed space.
      num_bins: number of atoms.
      tx: the TxPair f whose inverse places the atoms.

    Returns:
      A TxPair mapping [...] values to [..., num_bins] probabilities and back.
    """
    _check_support(min_value, max_value, num_bins)
    bins = tx.apply_inv(jnp.linspace(min_value, max_value, num_bins))
    return TxPair(
        functools.partial(_to_2hot_on_bins, bins=bins),
        functools.partial(_from_2hot_on_bins, bins=bins),
    )

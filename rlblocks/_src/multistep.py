"""Multistep returns over one trajectory: n-step, λ-returns, GAE, off-policy returns.

Every function here acts on one trajectory of length T (time-major, unbatched) and
is computed by a reverse `jax.lax.scan` of the linear recursion
``Gₜ = aₜ + bₜ Gₜ₊₁``; batch with `jax.vmap`. Names, arguments and semantics
follow rlax, with one deliberate difference: ``stop_target_gradients`` defaults to
True everywhere (rlax's returns default to False), see docs/conventions.md.

Indexing follows rlax: ``r_t[i]``, ``discount_t[i]`` and ``v_t[i]`` belong to
time i+1, the returned ``G[i]`` is the return from time i.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks._src import checks
from rlblocks._src.types import Array, ArrayLike, Numeric

# Unrolling a few scan iterations removes most of the loop overhead on CPU.
_UNROLL = 1


def maybe_stop_gradient(x: Array, stop: bool | ArrayLike) -> Array:
    """Return `stop_gradient(x)` if `stop` else `x`; `stop` may be traced."""
    if isinstance(stop, (bool, np.bool_)):
        return jax.lax.stop_gradient(x) if stop else x
    return jnp.where(stop, jax.lax.stop_gradient(x), x)


def per_step(x: Numeric, size: int, name: str, dtype) -> Array:
    """Broadcast a scalar-or-[size] parameter (e.g. λ) to shape [size]."""
    x = jnp.asarray(x, dtype)
    if x.ndim == 1:
        checks.check_shapes({name: (x, "T")}, {"T": size})
    elif x.ndim != 0:
        raise ValueError(
            f"{name} must be a scalar or have shape [{size}], got shape {x.shape}"
        )
    return jnp.broadcast_to(x, (size,))


def lambda_per_step(lambda_: Numeric, size: int, name: str, dtype) -> Array:
    """`per_step` for a trace-decay parameter, checked to lie in [0, 1] if concrete."""
    checks.check_in_range(lambda_, 0.0, 1.0, name)
    return per_step(lambda_, size, name, dtype)


def linear_scan(a: Array, b: Array, init: Array) -> Array:
    """Solve Gₜ = aₜ + bₜ Gₜ₊₁ backwards from G_T = init; returns [G₀ … G_T₋₁]."""

    def body(acc, ab):
        acc = ab[0] + ab[1] * acc
        return acc, acc

    init = jnp.asarray(init, a.dtype)
    return jax.lax.scan(body, init, (a, b), reverse=True, unroll=_UNROLL)[1]


# XLA on CPU reduces a short minor axis slowly; up to this many actions the
# reductions over actions below are unrolled into elementwise ops instead.
_UNROLL_ACTIONS = 16


def reduce_actions(x: Array, op: str) -> Array:
    """Sum or max over the last (action) axis of `x`."""
    size = x.shape[-1]
    if size > _UNROLL_ACTIONS:
        return jnp.sum(x, axis=-1) if op == "sum" else jnp.max(x, axis=-1)
    combine = jnp.add if op == "sum" else jnp.maximum
    return functools.reduce(combine, (x[..., i] for i in range(size)))


def select_actions(q: Array, a: ArrayLike) -> Array:
    """q[..., a[...]] for q [..., A] and integer a [...]."""
    a = jnp.asarray(a)
    if q.shape[-1] > _UNROLL_ACTIONS:
        return jnp.take_along_axis(q, a[..., None], axis=-1)[..., 0]
    picked = (jnp.where(a == i, q[..., i], 0.0) for i in range(q.shape[-1]))
    return functools.reduce(jnp.add, picked)


def lambda_returns(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    lambda_: Numeric = 1.0,
    stop_target_gradients: bool = True,
) -> Array:
    """Truncated λ-returns of a trajectory, bootstrapping from `v_t[-1]`.

    Gₜ = rₜ₊₁ + γₜ₊₁ [(1 − λₜ₊₁) vₜ₊₁ + λₜ₊₁ Gₜ₊₁],  G_T₋₁ = r_T + γ_T v_T

    Args:
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T (0 where an episode ends).
      v_t: [T] state values at times 1..T.
      lambda_: [] or [T] mixing parameter λ at times 1..T.
      stop_target_gradients: stop gradients through the returns (default True;
        rlax defaults to False here).

    Returns:
      [T] λ-returns G₀ … G_T₋₁.

    References:
      Sutton & Barto, Reinforcement Learning: An Introduction, 2018, ch. 12.
    """
    dims = checks.check_shapes(
        {
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "v_t": (v_t, "T", "float"),
        }
    )
    r_t, discount_t, v_t = (jnp.asarray(x) for x in (r_t, discount_t, v_t))
    lam = lambda_per_step(lambda_, dims["T"], "lambda_", v_t.dtype)
    a = r_t + discount_t * (1.0 - lam) * v_t
    returns = linear_scan(a, discount_t * lam, v_t[-1])
    return maybe_stop_gradient(returns, stop_target_gradients)


def discounted_returns(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Discounted returns of a trajectory, bootstrapping from the last value.

    Gₜ = rₜ₊₁ + γₜ₊₁ Gₜ₊₁,  G_T = v_T

    Args:
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      v_t: [] or [T] values; only the last one (the bootstrap v_T) is used.
      stop_target_gradients: stop gradients through the returns (default True).

    Returns:
      [T] discounted returns G₀ … G_T₋₁.

    References:
      Sutton & Barto, Reinforcement Learning: An Introduction, 2018, ch. 3.
    """
    dims = checks.check_shapes(
        {"r_t": (r_t, "T", "number"), "discount_t": (discount_t, "T", "number")}
    )
    checks.check_dtype(v_t, "float", "v_t")
    v_t = per_step(v_t, dims["T"], "v_t", jnp.result_type(v_t))
    return lambda_returns(r_t, discount_t, v_t, 1.0, stop_target_gradients)


def n_step_bootstrapped_returns(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    n: int,
    lambda_t: Numeric = 1.0,
    stop_target_gradients: bool = True,
) -> Array:
    """n-step (optionally λ-mixed) bootstrapped returns, truncated at the end.

    Gₜ = Σₖ₌₀ⁿ⁻¹ (Πⱼ<ₖ γₜ₊ⱼ₊₁) rₜ₊ₖ₊₁ + (Πⱼ<ₙ γₜ₊ⱼ₊₁) vₜ₊ₙ  (for λ = 1)

    Near the end of the trajectory the horizon shrinks to T − t steps.

    Args:
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      v_t: [T] values at times 1..T.
      n: number of rewards accumulated before bootstrapping (n ≥ 1).
      lambda_t: [] or [T] mixing parameter at times 1..T.
      stop_target_gradients: stop gradients through the returns (default True).

    Returns:
      [T] n-step returns G₀ … G_T₋₁.

    References:
      Sutton & Barto, Reinforcement Learning: An Introduction, 2018, ch. 7.
    """
    dims = checks.check_shapes(
        {
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "v_t": (v_t, "T", "float"),
        }
    )
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    size = dims["T"]
    r_t, discount_t, v_t = (jnp.asarray(x) for x in (r_t, discount_t, v_t))
    lam = lambda_per_step(lambda_t, size, "lambda_t", v_t.dtype)
    # Past the end: a = 0, b = 1, so the bootstrap passes through unchanged.
    a = jnp.append(r_t + discount_t * (1.0 - lam) * v_t, 0.0)
    b = jnp.append(discount_t * lam, 1.0)
    steps = min(int(n), size)
    idx = jnp.minimum(jnp.arange(steps)[:, None] + jnp.arange(size)[None], size)
    init = v_t[jnp.minimum(jnp.arange(size) + steps - 1, size - 1)]

    def body(acc, ab):
        return ab[0] + ab[1] * acc, None

    returns = jax.lax.scan(body, init, (a[idx], b[idx]), reverse=True)[0]
    return maybe_stop_gradient(returns, stop_target_gradients)


def truncated_generalized_advantage_estimation(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    lambda_: Numeric,
    values: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Truncated generalized advantage estimates (GAE) of a trajectory.

    Âₜ = Σₖ (Πⱼ<ₖ γₜ₊ⱼ₊₁ λₜ₊ⱼ₊₁) δₜ₊ₖ,  δₜ = rₜ₊₁ + γₜ₊₁ vₜ₊₁ − vₜ

    Args:
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      lambda_: [] or [T] mixing parameter λ at times 1..T.
      values: [T+1] state values at times 0..T.
      stop_target_gradients: stop gradients through the whole advantage
        (default True; rlax defaults to False).

    Returns:
      [T] advantages Â₀ … Â_T₋₁.

    References:
      Schulman et al., High-Dimensional Continuous Control Using Generalized
      Advantage Estimation, 2016.
    """
    dims = checks.check_shapes(
        {"r_t": (r_t, "T", "number"), "discount_t": (discount_t, "T", "number")}
    )
    checks.check_shapes({"values": (values, "T1", "float")}, {"T1": dims["T"] + 1})
    r_t, discount_t, values = (jnp.asarray(x) for x in (r_t, discount_t, values))
    lam = lambda_per_step(lambda_, dims["T"], "lambda_", values.dtype)
    delta = r_t + discount_t * values[1:] - values[:-1]
    advantages = linear_scan(delta, discount_t * lam, 0.0)
    return maybe_stop_gradient(advantages, stop_target_gradients)


def importance_corrected_td_errors(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    rho_tm1: ArrayLike,
    lambda_: Numeric,
    values: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Multistep TD errors with per-decision importance sampling.

    eₜ = ρₜ δₜ(ρ,λ),  δₜ(ρ,λ) = δₜ + γₜ₊₁ λₜ₊₁ ρₜ₊₁ δₜ₊₁(ρ,λ)

    Args:
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      rho_tm1: [T] importance ratios π(a|s)/μ(a|s) at times 0..T−1.
      lambda_: [] or [T] mixing parameter λ at times 1..T.
      values: [T+1] state values at times 0..T.
      stop_target_gradients: gradients flow only into `values[:-1]` (default
        True; rlax defaults to False).

    Returns:
      [T] importance-corrected multistep TD errors.

    References:
      Sutton et al., A new Q(λ) with interim forward view and Monte Carlo
      equivalence, 2014.
    """
    dims = checks.check_shapes(
        {
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "rho_tm1": (rho_tm1, "T", "float"),
        }
    )
    checks.check_shapes({"values": (values, "T1", "float")}, {"T1": dims["T"] + 1})
    r_t, discount_t, rho_tm1, values = (
        jnp.asarray(x) for x in (r_t, discount_t, rho_tm1, values)
    )
    lam = lambda_per_step(lambda_, dims["T"], "lambda_", values.dtype)
    rho_t = jnp.append(rho_tm1[1:], 1.0)
    delta = r_t + discount_t * values[1:] - values[:-1]
    errors = rho_tm1 * linear_scan(delta, discount_t * lam * rho_t, 0.0)
    v_tm1 = values[:-1]
    return maybe_stop_gradient(errors + v_tm1, stop_target_gradients) - v_tm1


def general_off_policy_returns_from_q_and_v(
    q_t: ArrayLike,
    v_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    c_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Off-policy returns from action values and state values (Retrace family).

    Gₜ = rₜ₊₁ + γₜ₊₁ (vₜ₊₁ − cₜ₊₁ qₜ₊₁ + cₜ₊₁ Gₜ₊₁),  G_T₋₁ = r_T + γ_T v_T

    `c_t` picks the algorithm: π/μ (importance sampling), λ (Harutyunyan's
    Q(λ)), π (tree backup), λ min(1, π/μ) (Retrace).

    Args:
      q_t: [T−1] target-policy values of the actions taken at times 1..T−1.
      v_t: [T] target-policy state values at times 1..T.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      c_t: [T−1] trace coefficients at times 1..T−1.
      stop_target_gradients: stop gradients through the returns (default True).

    Returns:
      [T] off-policy returns G₀ … G_T₋₁.

    References:
      Munos et al., Safe and Efficient Off-Policy Reinforcement Learning, 2016.
    """
    dims = checks.check_shapes(
        {
            "v_t": (v_t, "T", "float"),
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
        }
    )
    checks.check_shapes(
        {"q_t": (q_t, "K", "float"), "c_t": (c_t, "K", "float")},
        {"K": dims["T"] - 1},
    )
    q_t, v_t, r_t, discount_t, c_t = (
        jnp.asarray(x) for x in (q_t, v_t, r_t, discount_t, c_t)
    )
    # The last step has no trace: c = 0 there gives G_T₋₁ = r_T + γ_T v_T.
    c = jnp.append(c_t, 0.0).astype(v_t.dtype)
    q = jnp.append(q_t, 0.0).astype(v_t.dtype)
    a = r_t + discount_t * (v_t - c * q)
    returns = linear_scan(a, discount_t * c, 0.0)
    return maybe_stop_gradient(returns, stop_target_gradients)


def general_off_policy_returns_from_action_values(
    q_t: ArrayLike,
    a_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    c_t: ArrayLike,
    pi_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Off-policy returns from action values and target-policy probabilities.

    Gₜ = rₜ₊₁ + γₜ₊₁ (Σₐ π(a|sₜ₊₁) q(sₜ₊₁, a) − cₜ₊₁ q(sₜ₊₁, aₜ₊₁) + cₜ₊₁ Gₜ₊₁)

    Args:
      q_t: [T, A] action values at times 1..T.
      a_t: [T] actions taken at times 1..T.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      c_t: [T] trace coefficients at times 1..T (the last one is unused).
      pi_t: [T, A] target-policy probabilities at times 1..T.
      stop_target_gradients: stop gradients through the returns (default True).

    Returns:
      [T] off-policy returns G₀ … G_T₋₁.

    References:
      Munos et al., Safe and Efficient Off-Policy Reinforcement Learning, 2016.
    """
    checks.check_shapes(
        {
            "q_t": (q_t, "T A", "float"),
            "a_t": (a_t, "T", "int"),
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "c_t": (c_t, "T", "float"),
            "pi_t": (pi_t, "T A", "float"),
        }
    )
    q_t, pi_t = jnp.asarray(q_t), jnp.asarray(pi_t)
    v_t = reduce_actions(pi_t * q_t, "sum")
    q_a_t = select_actions(q_t, a_t)[:-1]
    return general_off_policy_returns_from_q_and_v(
        q_a_t, v_t, r_t, discount_t, jnp.asarray(c_t)[:-1], stop_target_gradients
    )

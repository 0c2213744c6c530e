"""Multistep targets for transformed values: non-linear Bellman equations.

A network that learns f(q) instead of q (f squashing, e.g. R2D2's h) needs targets
in the transformed space: map the bootstrap values back with f⁻¹, run the ordinary
multistep recursion on rewards, and map the result forward with f,

    G̃ = f(G(r, γ, f⁻¹(ṽ))).

Every function takes a `TxPair` (f, f⁻¹) from `value_transforms.py`; with
`IDENTITY_PAIR` they are the plain lambda, n-step and off-policy returns. Names,
arguments and semantics follow rlax. The recursions are written here as reverse
`jax.lax.scan`s over time, so this module stands on its own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlblocks._src import checks, multistep, transforms, value_transforms
from rlblocks._src.types import Array, ArrayLike

TxPair = value_transforms.TxPair
_IDENTITY = value_transforms.IDENTITY_PAIR


# --- plain recursions (values already untransformed) ---------------------------


def _maybe_stop(x: Array, stop_target_gradients) -> Array:
    return jnp.where(stop_target_gradients, jax.lax.stop_gradient(x), x)


def _as_float(*xs):
    dtype = jnp.result_type(*xs)
    return [jnp.asarray(x, dtype) for x in xs]


def _check_lambda(lambda_, name: str, length: int) -> None:
    checks.check_in_range(lambda_, 0.0, 1.0, name)
    if jnp.ndim(lambda_) == 1:
        checks.check_shapes({name: (lambda_, "T")}, {"T": length})
    else:
        checks.check_rank(lambda_, 0, name, "[] or [T]")


def _lambda_returns(r_t, discount_t, v_t, lambda_):
    """Gₜ = rₜ₊₁ + γₜ₊₁ ((1 − λₜ₊₁) vₜ₊₁ + λₜ₊₁ Gₜ₊₁), G_T = v_T, scanned backwards."""
    r_t, discount_t, v_t, lambda_ = _as_float(r_t, discount_t, v_t, lambda_)
    lambda_ = jnp.broadcast_to(lambda_, r_t.shape)

    def step(g_next, xs):
        r, discount, v, lam = xs
        g = r + discount * ((1.0 - lam) * v + lam * g_next)
        return g, g

    _, g = jax.lax.scan(step, v_t[-1], (r_t, discount_t, v_t, lambda_), reverse=True)
    return g


def _n_step_returns(r_t, discount_t, v_t, n, lambda_t):
    """The lambda recursion applied n times from each t, bootstrapping on vₜ₊ₙ."""
    r_t, discount_t, v_t, lambda_t = _as_float(r_t, discount_t, v_t, lambda_t)
    length = r_t.shape[0]
    lambda_t = jnp.broadcast_to(lambda_t, r_t.shape)

    def pad(x, value):  # past the end: no reward, no discount, bootstrap on v_T
        return jnp.concatenate([x, jnp.full((n - 1,), value, x.dtype)])

    r, discount = pad(r_t, 0.0), pad(discount_t, 1.0)
    lam, v = pad(lambda_t, 1.0), pad(v_t, v_t[-1])
    window = jnp.arange(n)[:, None] + jnp.arange(length)[None, :]  # [n, T]

    def step(g_next, xs):
        r_k, discount_k, lam_k, v_k = xs
        return r_k + discount_k * ((1.0 - lam_k) * v_k + lam_k * g_next), None

    xs = (r[window], discount[window], lam[window], v[window])
    g, _ = jax.lax.scan(step, v[window[-1]], xs, reverse=True)
    return g


def _off_policy_returns(q_t, a_t, r_t, discount_t, c_t, pi_t):
    """Gₜ = rₜ₊₁ + γₜ₊₁ (E_π q(sₜ₊₁, ·) − cₜ₊₁ q(sₜ₊₁, aₜ₊₁) + cₜ₊₁ Gₜ₊₁)."""
    q_t, r_t, discount_t, c_t, pi_t = _as_float(q_t, r_t, discount_t, c_t, pi_t)
    v_t = jnp.sum(pi_t * q_t, axis=-1)
    qa_t = transforms.batched_index(q_t, a_t)
    g_last = r_t[-1] + discount_t[-1] * v_t[-1]

    def step(g_next, xs):
        r, discount, v, c, qa = xs
        g = r + discount * (v - c * qa + c * g_next)
        return g, g

    xs = (r_t[:-1], discount_t[:-1], v_t[:-1], c_t[:-1], qa_t[:-1])
    _, g = jax.lax.scan(step, g_last, xs, reverse=True)
    return jnp.concatenate([g, g_last[None]])


# --- transformed returns (rlax names and arguments) ------------------------------


def transformed_lambda_returns(
    tx_pair: TxPair,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    lambda_: ArrayLike = 1.0,
    stop_target_gradients: bool = True,
) -> Array:
    """λ-returns in a transformed value space.

    G̃ₜ = f(rₜ₊₁ + γₜ₊₁ ((1 − λₜ₊₁) f⁻¹(ṽₜ₊₁) + λₜ₊₁ f⁻¹(G̃ₜ₊₁)))

    Args:
      tx_pair: the transform f and its inverse.
      r_t: [T] rewards rₜ₊₁.
      discount_t: [T] discounts γₜ₊₁.
      v_t: [T] transformed state values ṽₜ₊₁ (any layout f⁻¹ maps to [T]).
      lambda_: [] or [T] mixing parameter.
      stop_target_gradients: stop gradients through the returns (default True,
        as for every return here; rlax defaults to False).

    Returns:
      [T] transformed returns G̃ₜ for t = 0 … T − 1 (in f's layout).

    References:
      van Hasselt et al., General non-linear Bellman equations, 2019.
      Sutton and Barto, Reinforcement Learning: An Introduction, 2018.
    """
    values = tx_pair.apply_inv(v_t)
    checks.check_shapes(
        {
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "v_t (after tx_pair.apply_inv)": (values, "T", "float"),
        }
    )
    _check_lambda(lambda_, "lambda_", jnp.shape(r_t)[0])
    returns = _lambda_returns(r_t, discount_t, values, lambda_)
    return _maybe_stop(tx_pair.apply(returns), stop_target_gradients)


def transformed_n_step_returns(
    tx_pair: TxPair,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    n: int,
    lambda_t: ArrayLike = 1.0,
    stop_target_gradients: bool = True,
) -> Array:
    """n-step bootstrapped returns in a transformed value space.

    G̃ₜ = f(rₜ₊₁ + γₜ₊₁ rₜ₊₂ + … + γₜ₊₁ ⋯ γₜ₊ₙ f⁻¹(ṽₜ₊ₙ)) (for λ = 1)

    Near the end of the sequence fewer rewards are summed and the last value
    bootstraps. With λₜ ≠ 1 the n steps mix values as in `transformed_lambda_returns`.

    Args:
      tx_pair: the transform f and its inverse.
      r_t: [T] rewards rₜ₊₁.
      discount_t: [T] discounts γₜ₊₁.
      v_t: [T] transformed values ṽₜ₊₁ to bootstrap from.
      n: number of rewards accumulated before bootstrapping (>= 1).
      lambda_t: [] or [T] mixing parameter.
      stop_target_gradients: stop gradients through the returns (default True,
        as for every return here; rlax defaults to False).

    Returns:
      [T] transformed n-step returns G̃ₜ for t = 0 … T − 1.

    References:
      Kapturowski et al., Recurrent Experience Replay in Distributed Reinforcement
      Learning, 2019.
    """
    if not checks.is_integer(n) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(n)
    values = tx_pair.apply_inv(v_t)
    checks.check_shapes(
        {
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "v_t (after tx_pair.apply_inv)": (values, "T", "float"),
        }
    )
    _check_lambda(lambda_t, "lambda_t", jnp.shape(r_t)[0])
    returns = _n_step_returns(r_t, discount_t, values, n, lambda_t)
    return _maybe_stop(tx_pair.apply(returns), stop_target_gradients)


def transformed_general_off_policy_returns_from_action_values(
    tx_pair: TxPair,
    q_t: ArrayLike,
    a_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    c_t: ArrayLike,
    pi_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Off-policy returns (Retrace, Tree-Backup, Q(λ), IS) in a transformed space.

    G̃ₜ = f(rₜ₊₁ + γₜ₊₁ (Σₐ π(a|sₜ₊₁) qₜ₊₁(a) − cₜ₊₁ qₜ₊₁(aₜ₊₁) + cₜ₊₁ f⁻¹(G̃ₜ₊₁))),
    q = f⁻¹(q̃)

    Args:
      tx_pair: the transform f and its inverse.
      q_t: [T, A] transformed action values q̃ₜ₊₁.
      a_t: [T] actions aₜ₊₁ taken by the behaviour policy.
      r_t: [T] rewards rₜ₊₁.
      discount_t: [T] discounts γₜ₊₁.
      c_t: [T] trace coefficients cₜ₊₁ (c_t[-1] is unused).
      pi_t: [T, A] target-policy probabilities π(·|sₜ₊₁).
      stop_target_gradients: stop gradients through the returns (default True,
        as for every return here; rlax defaults to False).

    Returns:
      [T] transformed returns G̃ₜ for t = 0 … T − 1.

    References:
      Munos et al., Safe and Efficient Off-Policy Reinforcement Learning, 2016.
    """
    q_values = tx_pair.apply_inv(q_t)
    checks.check_shapes(
        {
            "q_t (after tx_pair.apply_inv)": (q_values, "T A", "float"),
            "a_t": (a_t, "T", "int"),
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "c_t": (c_t, "T", "float"),
            "pi_t": (pi_t, "T A", "float"),
        }
    )
    returns = _off_policy_returns(q_values, a_t, r_t, discount_t, c_t, pi_t)
    return _maybe_stop(tx_pair.apply(returns), stop_target_gradients)


# --- transformed TD errors ---------------------------------------------------------


def transformed_q_lambda(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    lambda_: ArrayLike,
    stop_target_gradients: bool = True,
    tx_pair: TxPair = _IDENTITY,
) -> Array:
    """Peng's (scalar λ) or Watkins' (per-step λ) Q(λ) error in a transformed space.

    δₜ = f(λ-return with vₜ₊₁ = f⁻¹(maxₐ q̃ₜ₊₁(a))) − q̃ₜ(aₜ)

    Args:
      q_tm1: [T, A] transformed action values q̃ₜ.
      a_tm1: [T] actions aₜ.
      r_t: [T] rewards rₜ₊₁.
      discount_t: [T] discounts γₜ₊₁.
      q_t: [T, A] transformed action values q̃ₜ₊₁.
      lambda_: [] or [T] mixing parameter.
      stop_target_gradients: stop gradients through the targets.
      tx_pair: the transform f and its inverse (elementwise).

    Returns:
      [T] TD errors δₜ.

    References:
      van Hasselt et al., General non-linear Bellman equations, 2019.
      Peng and Williams, Incremental Multi-Step Q-Learning, 1996.
    """
    checks.check_shapes(
        {
            "q_tm1": (q_tm1, "T A", "float"),
            "a_tm1": (a_tm1, "T", "int"),
            "q_t": (q_t, "T A", "float"),
        }
    )
    v_t = jnp.max(jnp.asarray(q_t), axis=-1)
    target = transformed_lambda_returns(
        tx_pair, r_t, discount_t, v_t, lambda_, stop_target_gradients=False
    )
    target = _maybe_stop(target, stop_target_gradients)
    return target - transforms.batched_index(q_tm1, a_tm1)


def transformed_retrace(
    q_tm1: ArrayLike,
    q_t: ArrayLike,
    a_tm1: ArrayLike,
    a_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    pi_t: ArrayLike,
    mu_t: ArrayLike,
    lambda_: float,
    eps: float = 1e-8,
    stop_target_gradients: bool = True,
    tx_pair: TxPair = _IDENTITY,
) -> Array:
    """Retrace error in a transformed value space (R2D2-style targets).

    δₜ = G̃ₜ − q̃ₜ(aₜ), G̃ from the off-policy returns with cₜ = λ min(1, π(aₜ)/μₜ)

    Args:
      q_tm1: [T, A] transformed action values q̃ₜ.
      q_t: [T, A] transformed (target-network) action values q̃ₜ₊₁.
      a_tm1: [T] actions aₜ.
      a_t: [T] actions aₜ₊₁.
      r_t: [T] rewards rₜ₊₁.
      discount_t: [T] discounts γₜ₊₁.
      pi_t: [T, A] target-policy probabilities π(·|sₜ₊₁).
      mu_t: [T] behaviour-policy probabilities μ(aₜ₊₁|sₜ₊₁).
      lambda_: scalar trace parameter λ.
      eps: added to `mu_t` before dividing.
      stop_target_gradients: stop gradients through the targets.
      tx_pair: the transform f and its inverse (elementwise).

    Returns:
      [T] Retrace errors δₜ.

    References:
      Munos et al., Safe and Efficient Off-Policy Reinforcement Learning, 2016.
      Kapturowski et al., Recurrent Experience Replay in Distributed Reinforcement
      Learning, 2019.
    """
    dims = checks.check_shapes(
        {
            "q_tm1": (q_tm1, "T A", "float"),
            "a_tm1": (a_tm1, "T", "int"),
            "pi_t": (pi_t, "T A", "float"),
            "a_t": (a_t, "T", "int"),
            "mu_t": (mu_t, "T", "float"),
        }
    )
    lam = multistep.lambda_per_step(
        lambda_, dims["T"], "lambda_", jnp.result_type(pi_t)
    )
    pi_a_t = transforms.batched_index(pi_t, a_t)
    c_t = jnp.minimum(1.0, pi_a_t / (jnp.asarray(mu_t) + eps)) * lam
    target = transformed_general_off_policy_returns_from_action_values(
        tx_pair, q_t, a_t, r_t, discount_t, c_t, pi_t, stop_target_gradients=False
    )
    target = _maybe_stop(target, stop_target_gradients)
    return target - transforms.batched_index(q_tm1, a_tm1)


def transformed_n_step_q_learning(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    target_q_t: ArrayLike,
    a_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    n: int,
    stop_target_gradients: bool = True,
    tx_pair: TxPair = _IDENTITY,
) -> Array:
    """n-step Q-learning error in a transformed value space (R2D2).

    δₜ = f(n-step return bootstrapping on f⁻¹(q̃ₜ₊ₙ(aₜ₊ₙ))) − q̃ₜ(aₜ)

    Args:
      q_tm1: [T, A] transformed action values q̃ₜ.
      a_tm1: [T] actions aₜ.
      target_q_t: [T, A] transformed target action values q̃ₜ₊₁.
      a_t: [T] actions aₜ₊₁ selecting the bootstrap values (argmax of the online
        network for double Q-learning, of `target_q_t` for Q-learning).
      r_t: [T] rewards rₜ₊₁.
      discount_t: [T] discounts γₜ₊₁.
      n: number of rewards accumulated before bootstrapping.
      stop_target_gradients: stop gradients through the targets.
      tx_pair: the transform f and its inverse (elementwise).

    Returns:
      [T] TD errors δₜ.

    References:
      Kapturowski et al., Recurrent Experience Replay in Distributed Reinforcement
      Learning, 2019.
    """
    checks.check_shapes(
        {
            "q_tm1": (q_tm1, "T A", "float"),
            "a_tm1": (a_tm1, "T", "int"),
            "target_q_t": (target_q_t, "T A", "float"),
            "a_t": (a_t, "T", "int"),
        }
    )
    v_t = transforms.batched_index(target_q_t, a_t)
    target = transformed_n_step_returns(
        tx_pair, r_t, discount_t, v_t, n, stop_target_gradients=False
    )
    target = _maybe_stop(target, stop_target_gradients)
    return target - transforms.batched_index(q_tm1, a_tm1)

"""Multistep TD errors on one trajectory: TD(λ), Sarsa(λ), Q(λ) and Retrace.

Each function builds a multistep target from `rlblocks._src.multistep` and returns
``target − prediction``. Names, arguments and semantics follow rlax; with the
default ``stop_target_gradients=True`` gradients flow only into the prediction
(`v_tm1` or `q_tm1`).
"""

from __future__ import annotations

import jax.numpy as jnp

from rlblocks._src import checks, multistep
from rlblocks._src.types import Array, ArrayLike, Numeric


def _pick(q: Array, a: ArrayLike) -> Array:
    return multistep.select_actions(q, a)


def td_lambda(
    v_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    lambda_: Numeric,
    stop_target_gradients: bool = True,
) -> Array:
    """TD(λ) errors of a trajectory of state values.

    δₜ = Gₜ^λ − v(sₜ),  Gₜ^λ = rₜ₊₁ + γₜ₊₁ [(1 − λₜ₊₁) vₜ₊₁ + λₜ₊₁ Gₜ₊₁^λ]

    Args:
      v_tm1: [T] state values at times 0..T−1 (the predictions).
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      v_t: [T] state values at times 1..T (the bootstraps).
      lambda_: [] or [T] mixing parameter λ.
      stop_target_gradients: gradients flow only into `v_tm1` (default True).

    Returns:
      [T] TD(λ) errors.

    References:
      Sutton, Learning to Predict by the Methods of Temporal Differences, 1988.
    """
    checks.check_shapes(
        {
            "v_tm1": (v_tm1, "T", "float"),
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "v_t": (v_t, "T", "float"),
        }
    )
    target = multistep.lambda_returns(
        r_t, discount_t, v_t, lambda_, stop_target_gradients
    )
    return target - jnp.asarray(v_tm1)


def _check_q(q_tm1, a_tm1, r_t, discount_t, q_t, a_t=None) -> None:
    specs = {
        "q_tm1": (q_tm1, "T A", "float"),
        "a_tm1": (a_tm1, "T", "int"),
        "r_t": (r_t, "T", "number"),
        "discount_t": (discount_t, "T", "number"),
        "q_t": (q_t, "T A", "float"),
    }
    if a_t is not None:
        specs["a_t"] = (a_t, "T", "int")
    checks.check_shapes(specs)


def sarsa_lambda(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    a_t: ArrayLike,
    lambda_: Numeric,
    stop_target_gradients: bool = True,
) -> Array:
    """Sarsa(λ) errors: λ-returns bootstrapping from the next actions' values.

    δₜ = Gₜ^λ − q(sₜ, aₜ),  bootstrapping from q(sₜ₊₁, aₜ₊₁)

    Args:
      q_tm1: [T, A] action values at times 0..T−1.
      a_tm1: [T] actions taken at times 0..T−1.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      q_t: [T, A] action values at times 1..T.
      a_t: [T] actions taken at times 1..T.
      lambda_: [] or [T] mixing parameter λ.
      stop_target_gradients: gradients flow only into `q_tm1` (default True).

    Returns:
      [T] Sarsa(λ) errors.

    References:
      Rummery & Niranjan, On-line Q-learning using connectionist systems, 1994.
    """
    _check_q(q_tm1, a_tm1, r_t, discount_t, q_t, a_t)
    q_tm1, q_t = jnp.asarray(q_tm1), jnp.asarray(q_t)
    target = multistep.lambda_returns(
        r_t, discount_t, _pick(q_t, a_t), lambda_, stop_target_gradients
    )
    return target - _pick(q_tm1, a_tm1)


def q_lambda(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    lambda_: Numeric,
    stop_target_gradients: bool = True,
) -> Array:
    """Peng's or Watkins' Q(λ) errors: λ-returns bootstrapping from max_a q.

    δₜ = Gₜ^λ − q(sₜ, aₜ),  Gₜ^λ = rₜ₊₁ + γₜ₊₁ [(1 − λₜ₊₁) maxₐ qₜ₊₁ + λₜ₊₁ Gₜ₊₁^λ]

    A scalar λ gives Peng's Q(λ). Watkins' Q(λ) cuts the trace after a
    non-greedy action: pass ``lambda_ = λ * (a_t == argmax(q_t, -1))`` ([T]).

    Args:
      q_tm1: [T, A] action values at times 0..T−1.
      a_tm1: [T] actions taken at times 0..T−1.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      q_t: [T, A] action values at times 1..T.
      lambda_: [] (Peng's) or [T] (e.g. Watkins') mixing parameter λ.
      stop_target_gradients: gradients flow only into `q_tm1` (default True).

    Returns:
      [T] Q(λ) errors.

    References:
      Peng & Williams, Incremental Multi-Step Q-Learning, 1996;
      Watkins, Learning from Delayed Rewards, 1989.
    """
    _check_q(q_tm1, a_tm1, r_t, discount_t, q_t)
    q_tm1, q_t = jnp.asarray(q_tm1), jnp.asarray(q_t)
    target = multistep.lambda_returns(
        r_t,
        discount_t,
        multistep.reduce_actions(q_t, "max"),
        lambda_,
        stop_target_gradients,
    )
    return target - _pick(q_tm1, a_tm1)


def retrace(
    q_tm1: ArrayLike,
    q_t: ArrayLike,
    a_tm1: ArrayLike,
    a_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    pi_t: ArrayLike,
    mu_t: ArrayLike,
    lambda_: Numeric,
    eps: float = 1e-8,
    stop_target_gradients: bool = True,
) -> Array:
    """Retrace errors for discrete actions.

    δₜ = Gₜ − q(sₜ, aₜ),  Gₜ as in general off-policy returns with
    cₜ = λ min(1, π(aₜ|sₜ) / (μ(aₜ|sₜ) + eps))

    Args:
      q_tm1: [T, A] action values at times 0..T−1.
      q_t: [T, A] action values at times 1..T (usually a target network).
      a_tm1: [T] actions taken at times 0..T−1.
      a_t: [T] actions taken at times 1..T.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      pi_t: [T, A] target-policy probabilities at times 1..T.
      mu_t: [T] behaviour-policy probabilities of `a_t`.
      lambda_: [] or [T] mixing parameter λ.
      eps: added to `mu_t` before dividing.
      stop_target_gradients: gradients flow only into `q_tm1` (default True).

    Returns:
      [T] Retrace errors.

    References:
      Munos et al., Safe and Efficient Off-Policy Reinforcement Learning, 2016.
    """
    _check_q(q_tm1, a_tm1, r_t, discount_t, q_t, a_t)
    dims = checks.check_shapes(
        {"pi_t": (pi_t, "T A", "float"), "mu_t": (mu_t, "T", "float")},
        {"T": jnp.shape(q_t)[0], "A": jnp.shape(q_t)[1]},
    )
    q_tm1, pi_t = jnp.asarray(q_tm1), jnp.asarray(pi_t)
    lam = multistep.lambda_per_step(lambda_, dims["T"], "lambda_", pi_t.dtype)
    c_t = jnp.minimum(1.0, _pick(pi_t, a_t) / (jnp.asarray(mu_t) + eps)) * lam
    target = multistep.general_off_policy_returns_from_action_values(
        q_t, a_t, r_t, discount_t, c_t, pi_t, stop_target_gradients
    )
    return target - _pick(q_tm1, a_tm1)


def retrace_continuous(
    q_tm1: ArrayLike,
    q_t: ArrayLike,
    v_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    log_rhos: ArrayLike,
    lambda_: Numeric,
    stop_target_gradients: bool = True,
) -> Array:
    """Retrace errors from values of the taken actions (continuous actions).

    δₜ = Gₜ − q(sₜ, aₜ),  cₜ = λ min(1, exp(log ρₜ))

    Args:
      q_tm1: [T] values of the taken actions at times 0..T−1.
      q_t: [T−1] values of the taken actions at times 1..T−1.
      v_t: [T] target-policy state values at times 1..T.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      log_rhos: [T−1] log π(aₜ|sₜ)/μ(aₜ|sₜ) at times 1..T−1.
      lambda_: [] or [T−1] mixing parameter λ.
      stop_target_gradients: gradients flow only into `q_tm1` (default True).

    Returns:
      [T] Retrace errors.

    References:
      Munos et al., Safe and Efficient Off-Policy Reinforcement Learning, 2016.
    """
    dims = checks.check_shapes(
        {"q_tm1": (q_tm1, "T", "float"), "v_t": (v_t, "T", "float")}
    )
    checks.check_shapes({"log_rhos": (log_rhos, "K", "float")}, {"K": dims["T"] - 1})
    log_rhos = jnp.asarray(log_rhos)
    lam = multistep.lambda_per_step(lambda_, dims["T"] - 1, "lambda_", log_rhos.dtype)
    c_t = jnp.minimum(1.0, jnp.exp(log_rhos)) * lam
    target = multistep.general_off_policy_returns_from_q_and_v(
        q_t, v_t, r_t, discount_t, c_t, stop_target_gradients
    )
    return target - jnp.asarray(q_tm1)

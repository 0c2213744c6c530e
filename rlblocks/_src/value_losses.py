"""Batched TRFL-style one-step losses: `[B, ...]` in, `(scalar loss, extras)` out.

Each `*_loss` checks the whole batch at trace time, vmaps the unbatched primitive
of `value_learning.py`, and reduces the per-example TD errors δ with
loss = (1/B) Σ_b w_b penalty(δ_b), penalty = ½δ² or Huber(δ, huber_delta). Targets
are always stopped; `extras` holds per-example `td_error`, `target` and the
prediction being trained, ready for priority updates.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import losses, transforms, value_learning
from rlblocks._src.types import Array, ArrayLike

# --- extras ------------------------------------------------------------------


class TDExtra(NamedTuple):
    """Per-example outputs of `td_learning_loss`.

    Attributes:
      td_error: [B] TD errors δ = G − v.
      target: [B] stop-gradiented targets G.
      v_pred: [B] the value estimates v(sₜ₋₁) being trained.
    """

    td_error: Array
    target: Array
    v_pred: Array


class QExtra(NamedTuple):
    """Per-example outputs of the Q-learning family of batched losses.

    Attributes:
      td_error: [B] TD errors δ = G − q(sₜ₋₁, aₜ₋₁).
      target: [B] stop-gradiented targets G.
      q_pred: [B] the action values q(sₜ₋₁, aₜ₋₁) being trained.
    """

    td_error: Array
    target: Array
    q_pred: Array


class DoubleQExtra(NamedTuple):
    """Per-example outputs of `double_q_learning_loss`.

    Attributes:
      td_error: [B] TD errors δ = G − q(sₜ₋₁, aₜ₋₁).
      target: [B] stop-gradiented targets G.
      q_pred: [B] the action values q(sₜ₋₁, aₜ₋₁) being trained.
      best_action: [B] argmax_a of `q_t_selector`, the action evaluated by `q_t_value`.
    """

    td_error: Array
    target: Array
    q_pred: Array
    best_action: Array


def _batched_loss(primitive, args: dict, weights, huber_delta, extras=QExtra):
    """Check a whole batch, vmap `primitive`, reduce, and build the extras.

    Args:
      primitive: the unbatched primitive, called positionally with `args` values.
      args: the batched arguments by name, in the primitive's order.
      weights: optional [B] importance weights.
      huber_delta: None for ½δ², else the Huber threshold.
      extras: `QExtra` (prediction q_tm1[a_tm1]) or `TDExtra` (prediction v_tm1).

    Returns:
      (loss, extras) with target = prediction + δ, stop-gradiented.
    """
    value_learning.check_args(batched=True, weights=weights, **args)
    td_error = jax.vmap(primitive)(*args.values())
    if "v_tm1" in args:
        pred = jnp.asarray(args["v_tm1"])
    else:
        pred = transforms.batched_index(args["q_tm1"], args["a_tm1"])
    target = jax.lax.stop_gradient(pred + td_error)
    loss = losses.weighted_mean(losses.td_penalty(td_error, huber_delta), weights)
    return loss, extras(td_error, target, pred)


# --- batched TRFL-style losses -------------------------------------------------
# Shared Args of every loss below: weights: optional [B] importance weights (e.g.
# from prioritized replay), None for 1; huber_delta: None for ½δ², else the Huber
# threshold. Loss = (1/B) Σ_b w_b penalty(δ_b); targets are always stopped.


def td_learning_loss(
    v_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, TDExtra]:
    """Batched TD(0) loss on state values.

    L = (1/B) Σ_b w_b penalty(r_b + γ_b v'_b − v_b)

    Args:
      v_tm1: [B] value estimates at time t-1.
      r_t: [B] rewards at time t.
      discount_t: [B] discounts at time t.
      v_t: [B] value estimates at time t.
      weights: optional [B] importance weights.
      huber_delta: None for the squared loss, else the Huber threshold.

    Returns:
      (scalar loss, `TDExtra` with [B] td_error, target, v_pred).

    References:
      Sutton, Learning to Predict by the Methods of Temporal Differences, 1988.
    """
    args = dict(v_tm1=v_tm1, r_t=r_t, discount_t=discount_t, v_t=v_t)
    return _batched_loss(
        value_learning.td_learning, args, weights, huber_delta, TDExtra
    )


def q_learning_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, QExtra]:
    """Batched Q-learning loss (DQN's loss with a target network's `q_t`).

    L = (1/B) Σ_b w_b penalty(r_b + γ_b maxₐ q'_b(a) − q_b(a_b))

    Args:
      q_tm1: [B, A] action values at time t-1.
      a_tm1: [B] integer actions taken at time t-1.
      r_t: [B] rewards at time t.
      discount_t: [B] discounts at time t.
      q_t: [B, A] action values at time t.
      weights: optional [B] importance weights.
      huber_delta: None for the squared loss, else the Huber threshold.

    Returns:
      (scalar loss, `QExtra` with [B] td_error, target, q_pred).

    References:
      Mnih et al., Human-level Control through Deep Reinforcement Learning, 2015.
    """
    args = dict(q_tm1=q_tm1, a_tm1=a_tm1, r_t=r_t, discount_t=discount_t, q_t=q_t)
    return _batched_loss(value_learning.q_learning, args, weights, huber_delta)


def double_q_learning_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t_value: ArrayLike,
    q_t_selector: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, DoubleQExtra]:
    """Batched double Q-learning loss.

    L = (1/B) Σ_b w_b penalty(r_b + γ_b q_value_b(argmaxₐ q_selector_b(a)) − q_b(a_b))

    Args:
      q_tm1: [B, A] action values at time t-1.
      a_tm1: [B] integer actions taken at time t-1.
      r_t: [B] rewards at time t.
      discount_t: [B] discounts at time t.
      q_t_value: [B, A] action values at time t that evaluate (target net).
      q_t_selector: [B, A] action values at time t that select (online net).
      weights: optional [B] importance weights.
      huber_delta: None for the squared loss, else the Huber threshold.

    Returns:
      (scalar loss, `DoubleQExtra` with [B] td_error, target, q_pred, best_action).

    References:
      van Hasselt, Guez and Silver, Deep Reinforcement Learning with Double
      Q-learning, 2016.
    """
    args = dict(
        q_tm1=q_tm1,
        a_tm1=a_tm1,
        r_t=r_t,
        discount_t=discount_t,
        q_t_value=q_t_value,
        q_t_selector=q_t_selector,
    )
    loss, extras = _batched_loss(
        value_learning.double_q_learning, args, weights, huber_delta
    )
    best_action = jnp.argmax(q_t_selector, axis=-1)
    return loss, DoubleQExtra(*extras, best_action=best_action)


def persistent_q_learning_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    action_gap_scale: float = 0.5,
    *,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, QExtra]:
    """Batched persistent Q-learning loss.

    L = (1/B) Σ_b w_b penalty(r_b + γ_b [(1 − α) maxₐ q'_b(a) + α q'_b(a_b)] − q_b(a_b))

    Args:
      q_tm1: [B, A] action values at time t-1.
      a_tm1: [B] integer actions taken at time t-1.
      r_t: [B] rewards at time t.
      discount_t: [B] discounts at time t.
      q_t: [B, A] action values at time t.
      action_gap_scale: α in [0, 1]; 0 gives Q-learning.
      weights: optional [B] importance weights.
      huber_delta: None for the squared loss, else the Huber threshold.

    Returns:
      (scalar loss, `QExtra` with [B] td_error, target, q_pred).

    References:
      Bellemare, Ostrovski, Guez, Thomas and Munos, Increasing the Action Gap: New
      Operators for Reinforcement Learning, 2016.
    """
    primitive = functools.partial(
        value_learning.persistent_q_learning, action_gap_scale=action_gap_scale
    )
    args = dict(q_tm1=q_tm1, a_tm1=a_tm1, r_t=r_t, discount_t=discount_t, q_t=q_t)
    return _batched_loss(primitive, args, weights, huber_delta)


def sarsa_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    a_t: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, QExtra]:
    """Batched SARSA loss.

    L = (1/B) Σ_b w_b penalty(r_b + γ_b q'_b(a'_b) − q_b(a_b))

    Args:
      q_tm1: [B, A] action values at time t-1.
      a_tm1: [B] integer actions taken at time t-1.
      r_t: [B] rewards at time t.
      discount_t: [B] discounts at time t.
      q_t: [B, A] action values at time t.
      a_t: [B] integer actions taken at time t.
      weights: optional [B] importance weights.
      huber_delta: None for the squared loss, else the Huber threshold.

    Returns:
      (scalar loss, `QExtra` with [B] td_error, target, q_pred).

    References:
      Rummery and Niranjan, On-line Q-learning Using Connectionist Systems, 1994.
    """
    args = dict(
        q_tm1=q_tm1, a_tm1=a_tm1, r_t=r_t, discount_t=discount_t, q_t=q_t, a_t=a_t
    )
    return _batched_loss(value_learning.sarsa, args, weights, huber_delta)


def expected_sarsa_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    probs_a_t: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, QExtra]:
    """Batched expected SARSA loss.

    L = (1/B) Σ_b w_b penalty(r_b + γ_b Σₐ π_b(a) q'_b(a) − q_b(a_b))

    Args:
      q_tm1: [B, A] action values at time t-1.
      a_tm1: [B] integer actions taken at time t-1.
      r_t: [B] rewards at time t.
      discount_t: [B] discounts at time t.
      q_t: [B, A] action values at time t.
      probs_a_t: [B, A] probabilities of the evaluated policy at time t.
      weights: optional [B] importance weights.
      huber_delta: None for the squared loss, else the Huber threshold.

    Returns:
      (scalar loss, `QExtra` with [B] td_error, target, q_pred).

    References:
      van Seijen, van Hasselt, Whiteson and Wiering, A Theoretical and Empirical
      Analysis of Expected Sarsa, 2009.
    """
    args = dict(
        q_tm1=q_tm1,
        a_tm1=a_tm1,
        r_t=r_t,
        discount_t=discount_t,
        q_t=q_t,
        probs_a_t=probs_a_t,
    )
    return _batched_loss(value_learning.expected_sarsa, args, weights, huber_delta)


def qv_learning_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, QExtra]:
    """Batched QV-learning loss (the action-value half of QV-learning).

    L = (1/B) Σ_b w_b penalty(r_b + γ_b v'_b − q_b(a_b))

    Args:
      q_tm1: [B, A] action values at time t-1.
      a_tm1: [B] integer actions taken at time t-1.
      r_t: [B] rewards at time t.
      discount_t: [B] discounts at time t.
      v_t: [B] state values at time t.
      weights: optional [B] importance weights.
      huber_delta: None for the squared loss, else the Huber threshold.

    Returns:
      (scalar loss, `QExtra` with [B] td_error, target, q_pred).

    References:
      Wiering and van Hasselt, Two Novel On-policy Reinforcement Learning
      Algorithms based on TD(λ)-methods, 2007.
    """
    args = dict(q_tm1=q_tm1, a_tm1=a_tm1, r_t=r_t, discount_t=discount_t, v_t=v_t)
    return _batched_loss(value_learning.qv_learning, args, weights, huber_delta)

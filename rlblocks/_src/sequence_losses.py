"""Batched, time-major multistep losses returning `(loss, extras)` (TRFL style).

Inputs are `[T, B, ...]`. Each loss vmaps an unbatched primitive over the batch,
sums the per-step penalty over time (as TRFL does) and averages over the batch
with optional importance `weights: [B]`:

    loss = (1/B) Σ_b w_b Σ_{t < L_b} penalty(δ_{t,b})

`sequence_lengths: [B]` marks steps t ≥ L_b as padding. A sequence of length L is
treated exactly like the unbatched primitive on its first L steps (the last valid
step bootstraps from its own `v_t`), and padded steps contribute exactly zero
loss and zero gradient, whatever they hold (even NaN). Targets are always
stop-gradiented.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import checks, losses, multistep, multistep_td, vtrace
from rlblocks._src.types import Array, ArrayLike, Numeric


class SequenceExtra(NamedTuple):
    """Per-step outputs of a sequence loss; all [T, B], zero on padded steps.

    Fields: `td_error` target − prediction; `target` the stop-gradiented
    multistep target; `mask` 1.0 on valid steps, 0.0 on padding.
    """

    td_error: Array
    target: Array
    mask: Array


class VTraceExtra(NamedTuple):
    """Outputs of `vtrace_loss`; per-step fields are [T, B], zero on padding.

    Fields: `td_error` vₛ − V(xₛ); `target` and `vs` the stop-gradiented V-trace
    targets vₛ; `pg_advantages` the clipped-ρ advantages (TRFL's
    `vtrace_from_importance_weights` returns `vs` and `pg_advantages`);
    `q_estimate`; `rho` the importance ratios; `value_loss` and `policy_loss`
    the two scalar parts of the loss; `mask`.
    """

    td_error: Array
    target: Array
    vs: Array
    pg_advantages: Array
    q_estimate: Array
    rho: Array
    value_loss: Array
    policy_loss: Array
    mask: Array


def _masks(sequence_lengths, size: int, batch: int):
    """(valid [T, B], has_next [T, B]): steps t < L and steps with t + 1 < L."""
    if sequence_lengths is None:
        lengths = jnp.full((batch,), size)
    else:
        checks.check_shapes(
            {"sequence_lengths": (sequence_lengths, "B", "int")}, {"B": batch}
        )
        checks.check_in_range(sequence_lengths, 0, size, "sequence_lengths")
        lengths = jnp.asarray(sequence_lengths)
    t = jnp.arange(size)[:, None]
    return t < lengths[None], t + 1 < lengths[None]


def _pad(valid: Array, x: ArrayLike, fill: float = 0.0) -> Array:
    """Replace padded steps of `x` [T, B, ...] by `fill` (cuts their gradient)."""
    x = jnp.asarray(x)
    shape = valid.shape + (1,) * (x.ndim - valid.ndim)
    return jnp.where(valid.reshape(shape), x, jnp.asarray(fill, x.dtype))


def _lambda(lambda_, dims, has_next, dtype) -> Array:
    """λ as [T, B], zero at each sequence's last valid step (no trace past it)."""
    checks.check_in_range(lambda_, 0.0, 1.0, "lambda_")
    lam = jnp.asarray(lambda_, dtype)
    if lam.ndim != 0:
        checks.check_shapes({"lambda_": (lam, "T B")}, dims)
    return jnp.where(has_next, lam, 0.0)


def _reduce(td, prediction, valid, weights, huber_delta):
    td = _pad(valid, td)
    target = jax.lax.stop_gradient(_pad(valid, td + prediction))
    per_sequence = jnp.sum(losses.td_penalty(td, huber_delta), axis=0)
    loss = losses.weighted_mean(per_sequence, weights)
    return loss, SequenceExtra(td, target, valid.astype(td.dtype))


def td_lambda_loss(
    v_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    lambda_: Numeric,
    *,
    sequence_lengths: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, SequenceExtra]:
    """Batched TD(λ) loss over time-major sequences.

    L = (1/B) Σ_b w_b Σ_t penalty(G^λ_{t,b} − v_{t,b})

    Args:
      v_tm1: [T, B] state values at times 0..T−1.
      r_t: [T, B] rewards at times 1..T.
      discount_t: [T, B] discounts at times 1..T.
      v_t: [T, B] state values at times 1..T.
      lambda_: [] or [T, B] mixing parameter λ.
      sequence_lengths: optional [B] valid lengths L_b; steps t ≥ L_b are padding.
      weights: optional [B] importance weights.
      huber_delta: None for ½δ², else the Huber threshold.

    Returns:
      `(loss, SequenceExtra(td_error, target, mask))`.

    References:
      Sutton, Learning to Predict by the Methods of Temporal Differences, 1988.
    """
    dims = checks.check_shapes(
        {
            "v_tm1": (v_tm1, "T B", "float"),
            "r_t": (r_t, "T B", "number"),
            "discount_t": (discount_t, "T B", "number"),
            "v_t": (v_t, "T B", "float"),
        }
    )
    valid, has_next = _masks(sequence_lengths, dims["T"], dims["B"])
    v_tm1, r_t, discount_t, v_t = (
        _pad(valid, x) for x in (v_tm1, r_t, discount_t, v_t)
    )
    lam = _lambda(lambda_, dims, has_next, v_t.dtype)
    td = jax.vmap(multistep_td.td_lambda, 1, 1)(v_tm1, r_t, discount_t, v_t, lam)
    return _reduce(td, v_tm1, valid, weights, huber_delta)


def _check_q(specs, extra=None):
    base = {
        "q_tm1": (specs[0], "T B A", "float"),
        "a_tm1": (specs[1], "T B", "int"),
        "r_t": (specs[2], "T B", "number"),
        "discount_t": (specs[3], "T B", "number"),
        "q_t": (specs[4], "T B A", "float"),
    }
    return checks.check_shapes({**base, **(extra or {})})


def _picked(q, a):
    return multistep.select_actions(q, a)


def sarsa_lambda_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    a_t: ArrayLike,
    lambda_: Numeric,
    *,
    sequence_lengths: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, SequenceExtra]:
    """Batched Sarsa(λ) loss over time-major sequences.

    L = (1/B) Σ_b w_b Σ_t penalty(G^λ_{t,b} − q_{t,b}(a_{t,b}))

    Args:
      q_tm1: [T, B, A] action values at times 0..T−1.
      a_tm1: [T, B] actions at times 0..T−1.
      r_t: [T, B] rewards at times 1..T.
      discount_t: [T, B] discounts at times 1..T.
      q_t: [T, B, A] action values at times 1..T.
      a_t: [T, B] actions at times 1..T.
      lambda_: [] or [T, B] mixing parameter λ.
      sequence_lengths: optional [B] valid lengths; steps t ≥ L_b are padding.
      weights: optional [B] importance weights.
      huber_delta: None for ½δ², else the Huber threshold.

    Returns:
      `(loss, SequenceExtra(td_error, target, mask))`.

    References:
      Rummery & Niranjan, On-line Q-learning using connectionist systems, 1994.
    """
    dims = _check_q((q_tm1, a_tm1, r_t, discount_t, q_t), {"a_t": (a_t, "T B", "int")})
    valid, has_next = _masks(sequence_lengths, dims["T"], dims["B"])
    q_tm1, a_tm1, r_t, discount_t, q_t, a_t = (
        _pad(valid, x) for x in (q_tm1, a_tm1, r_t, discount_t, q_t, a_t)
    )
    lam = _lambda(lambda_, dims, has_next, q_t.dtype)
    td = jax.vmap(multistep_td.sarsa_lambda, 1, 1)(
        q_tm1, a_tm1, r_t, discount_t, q_t, a_t, lam
    )
    return _reduce(td, _picked(q_tm1, a_tm1), valid, weights, huber_delta)


def q_lambda_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    lambda_: Numeric,
    *,
    sequence_lengths: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, SequenceExtra]:
    """Batched Q(λ) loss (Peng's; Watkins' with a [T, B] λ) over sequences.

    L = (1/B) Σ_b w_b Σ_t penalty(G^λ_{t,b} − q_{t,b}(a_{t,b})), bootstrapping
    from maxₐ q_t

    Args:
      q_tm1: [T, B, A] action values at times 0..T−1.
      a_tm1: [T, B] actions at times 0..T−1.
      r_t: [T, B] rewards at times 1..T.
      discount_t: [T, B] discounts at times 1..T.
      q_t: [T, B, A] action values at times 1..T.
      lambda_: [] or [T, B] mixing parameter λ.
      sequence_lengths: optional [B] valid lengths; steps t ≥ L_b are padding.
      weights: optional [B] importance weights.
      huber_delta: None for ½δ², else the Huber threshold.

    Returns:
      `(loss, SequenceExtra(td_error, target, mask))`.

    References:
      Peng & Williams, Incremental Multi-Step Q-Learning, 1996.
    """
    dims = _check_q((q_tm1, a_tm1, r_t, discount_t, q_t))
    valid, has_next = _masks(sequence_lengths, dims["T"], dims["B"])
    q_tm1, a_tm1, r_t, discount_t, q_t = (
        _pad(valid, x) for x in (q_tm1, a_tm1, r_t, discount_t, q_t)
    )
    lam = _lambda(lambda_, dims, has_next, q_t.dtype)
    td = jax.vmap(multistep_td.q_lambda, 1, 1)(q_tm1, a_tm1, r_t, discount_t, q_t, lam)
    return _reduce(td, _picked(q_tm1, a_tm1), valid, weights, huber_delta)


def retrace_loss(
    q_tm1: ArrayLike,
    q_t: ArrayLike,
    a_tm1: ArrayLike,
    a_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    pi_t: ArrayLike,
    mu_t: ArrayLike,
    lambda_: Numeric,
    *,
    eps: float = 1e-8,
    sequence_lengths: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, SequenceExtra]:
    """Batched Retrace loss over time-major sequences.

    L = (1/B) Σ_b w_b Σ_t penalty(G^ret_{t,b} − q_{t,b}(a_{t,b})),
    cₜ = λ min(1, π(aₜ|sₜ)/μ(aₜ|sₜ))

    Args:
      q_tm1: [T, B, A] action values at times 0..T−1.
      q_t: [T, B, A] action values at times 1..T (usually a target network).
      a_tm1: [T, B] actions at times 0..T−1.
      a_t: [T, B] actions at times 1..T.
      r_t: [T, B] rewards at times 1..T.
      discount_t: [T, B] discounts at times 1..T.
      pi_t: [T, B, A] target-policy probabilities at times 1..T.
      mu_t: [T, B] behaviour-policy probabilities of `a_t`.
      lambda_: [] or [T, B] mixing parameter λ.
      eps: added to `mu_t` before dividing.
      sequence_lengths: optional [B] valid lengths; steps t ≥ L_b are padding.
      weights: optional [B] importance weights.
      huber_delta: None for ½δ², else the Huber threshold.

    Returns:
      `(loss, SequenceExtra(td_error, target, mask))`.

    References:
      Munos et al., Safe and Efficient Off-Policy Reinforcement Learning, 2016.
    """
    dims = _check_q(
        (q_tm1, a_tm1, r_t, discount_t, q_t),
        {"a_t": (a_t, "T B", "int"), "pi_t": (pi_t, "T B A", "float")},
    )
    dims = checks.check_shapes({"mu_t": (mu_t, "T B", "float")}, dims)
    valid, has_next = _masks(sequence_lengths, dims["T"], dims["B"])
    q_tm1, q_t, a_tm1, a_t, r_t, discount_t, pi_t = (
        _pad(valid, x) for x in (q_tm1, q_t, a_tm1, a_t, r_t, discount_t, pi_t)
    )
    mu_t = _pad(valid, mu_t, 1.0)
    lam = _lambda(lambda_, dims, has_next, q_t.dtype)
    fn = jax.vmap(multistep_td.retrace, (1,) * 9 + (None,), 1)
    td = fn(q_tm1, q_t, a_tm1, a_t, r_t, discount_t, pi_t, mu_t, lam, eps)
    return _reduce(td, _picked(q_tm1, a_tm1), valid, weights, huber_delta)


def vtrace_loss(
    v_tm1: ArrayLike,
    v_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    log_pi_a_tm1: ArrayLike,
    log_mu_a_tm1: ArrayLike,
    lambda_: Numeric = 1.0,
    *,
    clip_rho_threshold: float = 1.0,
    clip_pg_rho_threshold: float = 1.0,
    baseline_cost: float = 1.0,
    sequence_lengths: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    huber_delta: float | None = None,
) -> tuple[Array, VTraceExtra]:
    """Batched IMPALA loss: V-trace value regression plus policy gradient.

    L = (1/B) Σ_b w_b Σ_t [c_v penalty(vₛ − V(xₛ)) − Aₛ log π(aₛ|xₛ)]

    The importance ratios ρ = π/μ and the advantages Aₛ are stop-gradiented:
    gradients reach `v_tm1` through the value part and `log_pi_a_tm1` through the
    policy part. Add an entropy bonus separately.

    Args:
      v_tm1: [T, B] values V(xₛ) at times 0..T−1.
      v_t: [T, B] values at times 1..T.
      r_t: [T, B] rewards at times 1..T.
      discount_t: [T, B] discounts at times 1..T.
      log_pi_a_tm1: [T, B] target-policy log-probabilities of the actions taken.
      log_mu_a_tm1: [T, B] behaviour-policy log-probabilities of those actions.
      lambda_: [] or [T, B] mixing parameter λ.
      clip_rho_threshold: clip of the TD importance weights.
      clip_pg_rho_threshold: clip of the policy-gradient importance weights.
      baseline_cost: c_v, weight of the value part.
      sequence_lengths: optional [B] valid lengths; steps t ≥ L_b are padding.
      weights: optional [B] importance weights.
      huber_delta: None for ½δ² in the value part, else the Huber threshold.

    Returns:
      `(loss, VTraceExtra(...))`.

    References:
      Espeholt et al., IMPALA: Scalable Distributed Deep-RL with Importance
      Weighted Actor-Learner Architectures, 2018.
    """
    dims = checks.check_shapes(
        {
            "v_tm1": (v_tm1, "T B", "float"),
            "v_t": (v_t, "T B", "float"),
            "r_t": (r_t, "T B", "number"),
            "discount_t": (discount_t, "T B", "number"),
            "log_pi_a_tm1": (log_pi_a_tm1, "T B", "float"),
            "log_mu_a_tm1": (log_mu_a_tm1, "T B", "float"),
        }
    )
    valid, has_next = _masks(sequence_lengths, dims["T"], dims["B"])
    v_tm1, v_t, r_t, discount_t, log_pi, log_mu = (
        _pad(valid, x)
        for x in (v_tm1, v_t, r_t, discount_t, log_pi_a_tm1, log_mu_a_tm1)
    )
    # After the last valid step, V(x_L) is that step's bootstrap v_t[L-1].
    v_tm1 = jnp.where(valid, v_tm1, jnp.roll(v_t, 1, axis=0))
    rho = jnp.exp(jax.lax.stop_gradient(log_pi) - log_mu)
    lam = _lambda(lambda_, dims, has_next, v_t.dtype)
    fn = jax.vmap(vtrace.vtrace_td_error_and_advantage, (1,) * 6 + (None,) * 2, 1)
    out = fn(
        v_tm1, v_t, r_t, discount_t, rho, lam, clip_rho_threshold, clip_pg_rho_threshold
    )
    return _vtrace_reduce(
        out, v_tm1, rho, log_pi, valid, baseline_cost, weights, huber_delta
    )


def _vtrace_reduce(out, v_tm1, rho, log_pi, valid, baseline_cost, weights, delta):
    td, adv, q_est = (_pad(valid, x) for x in out)
    vs = jax.lax.stop_gradient(_pad(valid, td + v_tm1))
    adv, q_est = jax.lax.stop_gradient(adv), jax.lax.stop_gradient(q_est)
    value = jnp.sum(losses.td_penalty(td, delta), axis=0)
    policy = -jnp.sum(adv * log_pi, axis=0)
    loss = losses.weighted_mean(policy + baseline_cost * value, weights)
    parts = (
        losses.weighted_mean(value, weights),
        losses.weighted_mean(policy, weights),
    )
    rho = jax.lax.stop_gradient(_pad(valid, rho))
    mask = valid.astype(td.dtype)
    return loss, VTraceExtra(td, vs, vs, adv, q_est, rho, *parts, mask)

"""V-trace and leaky V-trace on one trajectory (IMPALA's off-policy corrections).

Names, arguments and semantics follow rlax. With ``stop_target_gradients=True``
(the default, as everywhere in rlblocks) the V-trace targets vₛ and the Q estimates
are stopped, so gradients flow only into `v_tm1`; rlax leaves the Q estimate
partly differentiable.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from rlblocks._src import checks, multistep
from rlblocks._src.types import Array, ArrayLike, Numeric


class VTraceOutput(NamedTuple):
    """V-trace errors and policy-gradient advantages.

    Fields (all [T]): `errors` vₛ − V(xₛ); `pg_advantage` clipped ρₛ (qₛ − V(xₛ));
    `q_estimate` qₛ = rₛ₊₁ + γₛ₊₁ (λ vₛ₊₁ + (1 − λ) V(xₛ₊₁)).
    """

    errors: Array
    pg_advantage: Array
    q_estimate: Array


def _inputs(v_tm1, v_t, r_t, discount_t, rho_tm1, lambda_, sample_mask):
    dims = checks.check_shapes(
        {
            "v_tm1": (v_tm1, "T", "float"),
            "v_t": (v_t, "T", "float"),
            "r_t": (r_t, "T", "number"),
            "discount_t": (discount_t, "T", "number"),
            "rho_tm1": (rho_tm1, "T", "float"),
        }
    )
    xs = [jnp.asarray(x) for x in (v_tm1, v_t, r_t, discount_t, rho_tm1)]
    dtype = xs[0].dtype
    lam = multistep.lambda_per_step(lambda_, dims["T"], "lambda_", dtype)
    if sample_mask is None:
        mask = jnp.ones(dims["T"], dtype)
    else:
        checks.check_shapes({"sample_mask": (sample_mask, "T")}, dims)
        mask = jnp.asarray(sample_mask).astype(dtype)
    return (*xs, lam, mask)


def _errors(v_tm1, v_t, r_t, discount_t, c_tm1, rho_bar, mask, stop):
    # Masked steps are skipped: their error is the next learnable step's error.
    td = rho_bar * (r_t + discount_t * v_t - v_tm1)
    b = mask * discount_t * c_tm1 + (1.0 - mask)
    errors = multistep.linear_scan(mask * td, b, 0.0)
    return multistep.maybe_stop_gradient(errors + v_tm1, stop) - v_tm1


def _advantage(errors, v_tm1, v_t, r_t, discount_t, lam, pg_rho_bar, stop):
    targets = errors + v_tm1
    boot = lam[:-1] * targets[1:] + (1.0 - lam[:-1]) * v_tm1[1:]
    q_estimate = r_t + discount_t * jnp.append(boot, v_t[-1])
    q_estimate = multistep.maybe_stop_gradient(q_estimate, stop)
    return VTraceOutput(errors, pg_rho_bar * (q_estimate - v_tm1), q_estimate)


def vtrace(
    v_tm1: ArrayLike,
    v_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    rho_tm1: ArrayLike,
    lambda_: Numeric = 1.0,
    clip_rho_threshold: float = 1.0,
    stop_target_gradients: bool = True,
    sample_mask: ArrayLike | None = None,
) -> Array:
    """V-trace errors vₛ − V(xₛ) from importance ratios.

    vₛ − V(xₛ) = Σₜ (Πᵢ₌ₛᵗ⁻¹ γᵢ₊₁ cᵢ) ρ̄ₜ (rₜ₊₁ + γₜ₊₁ V(xₜ₊₁) − V(xₜ)),
    cᵢ = λ min(1, ρᵢ), ρ̄ₜ = min(ρ̄, ρₜ)

    Args:
      v_tm1: [T] values V(xₛ) at times 0..T−1.
      v_t: [T] values at times 1..T.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      rho_tm1: [T] importance ratios π/μ of the actions at times 0..T−1.
      lambda_: [] or [T] mixing parameter λ.
      clip_rho_threshold: ρ̄, the clip of the TD importance weights.
      stop_target_gradients: gradients flow only into `v_tm1` (default True).
      sample_mask: optional [T] bool, learnable steps; other steps are skipped
        in the recursion (their error is the next learnable step's error).

    Returns:
      [T] V-trace errors.

    References:
      Espeholt et al., IMPALA: Scalable Distributed Deep-RL with Importance
      Weighted Actor-Learner Architectures, 2018.
    """
    v_tm1, v_t, r_t, discount_t, rho, lam, mask = _inputs(
        v_tm1, v_t, r_t, discount_t, rho_tm1, lambda_, sample_mask
    )
    c_tm1 = lam * jnp.minimum(1.0, rho)
    rho_bar = jnp.minimum(clip_rho_threshold, rho)
    return _errors(
        v_tm1, v_t, r_t, discount_t, c_tm1, rho_bar, mask, stop_target_gradients
    )


def vtrace_td_error_and_advantage(
    v_tm1: ArrayLike,
    v_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    rho_tm1: ArrayLike,
    lambda_: Numeric = 1.0,
    clip_rho_threshold: float = 1.0,
    clip_pg_rho_threshold: float = 1.0,
    stop_target_gradients: bool = True,
    sample_mask: ArrayLike | None = None,
) -> VTraceOutput:
    """V-trace errors and IMPALA's policy-gradient advantages.

    Aₛ = min(ρ̄_pg, ρₛ) (rₛ₊₁ + γₛ₊₁ (λ vₛ₊₁ + (1 − λ) V(xₛ₊₁)) − V(xₛ))

    Args:
      v_tm1: [T] values at times 0..T−1.
      v_t: [T] values at times 1..T.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      rho_tm1: [T] importance ratios at times 0..T−1.
      lambda_: [] or [T] mixing parameter λ.
      clip_rho_threshold: clip of the TD importance weights.
      clip_pg_rho_threshold: clip of the policy-gradient importance weights.
      stop_target_gradients: stop gradients through vₛ and qₛ (default True).
      sample_mask: optional [T] bool, learnable steps (see `vtrace`).

    Returns:
      `VTraceOutput(errors, pg_advantage, q_estimate)`, each [T].

    References:
      Espeholt et al., IMPALA: Scalable Distributed Deep-RL with Importance
      Weighted Actor-Learner Architectures, 2018.
    """
    v_tm1, v_t, r_t, discount_t, rho, lam, mask = _inputs(
        v_tm1, v_t, r_t, discount_t, rho_tm1, lambda_, sample_mask
    )
    stop = stop_target_gradients
    c_tm1 = lam * jnp.minimum(1.0, rho)
    rho_bar = jnp.minimum(clip_rho_threshold, rho)
    errors = _errors(v_tm1, v_t, r_t, discount_t, c_tm1, rho_bar, mask, stop)
    pg_rho_bar = jnp.minimum(clip_pg_rho_threshold, rho)
    return _advantage(errors, v_tm1, v_t, r_t, discount_t, lam, pg_rho_bar, stop)


def _leaky(rho, alpha, threshold):
    return (1.0 - alpha) * rho + alpha * jnp.minimum(threshold, rho)


def leaky_vtrace(
    v_tm1: ArrayLike,
    v_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    rho_tm1: ArrayLike,
    alpha_: float = 1.0,
    lambda_: Numeric = 1.0,
    clip_rho_threshold: float = 1.0,
    stop_target_gradients: bool = True,
    sample_mask: ArrayLike | None = None,
) -> Array:
    """Leaky V-trace errors: V-trace with clipped ratios mixed with raw ones.

    cᵢ = λ ((1 − α) ρᵢ + α min(1, ρᵢ)),  ρ̄ₜ = (1 − α) ρₜ + α min(ρ̄, ρₜ)

    Args:
      v_tm1: [T] values at times 0..T−1.
      v_t: [T] values at times 1..T.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      rho_tm1: [T] importance ratios at times 0..T−1.
      alpha_: α, weight of the clipped ratios (1 gives V-trace, 0 importance
        sampling).
      lambda_: [] or [T] mixing parameter λ.
      clip_rho_threshold: clip of the TD importance weights.
      stop_target_gradients: gradients flow only into `v_tm1` (default True).
      sample_mask: optional [T] bool, learnable steps (see `vtrace`).

    Returns:
      [T] leaky V-trace errors.

    References:
      Zahavy et al., A Self-Tuning Actor-Critic Algorithm, 2020.
    """
    v_tm1, v_t, r_t, discount_t, rho, lam, mask = _inputs(
        v_tm1, v_t, r_t, discount_t, rho_tm1, lambda_, sample_mask
    )
    c_tm1 = lam * _leaky(rho, alpha_, 1.0)
    rho_bar = _leaky(rho, alpha_, clip_rho_threshold)
    return _errors(
        v_tm1, v_t, r_t, discount_t, c_tm1, rho_bar, mask, stop_target_gradients
    )


def leaky_vtrace_td_error_and_advantage(
    v_tm1: ArrayLike,
    v_t: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    rho_tm1: ArrayLike,
    alpha: float = 1.0,
    lambda_: Numeric = 1.0,
    clip_rho_threshold: float = 1.0,
    clip_pg_rho_threshold: float = 1.0,
    stop_target_gradients: bool = True,
    sample_mask: ArrayLike | None = None,
) -> VTraceOutput:
    """Leaky V-trace errors and policy-gradient advantages.

    Aₛ = ((1 − α) ρₛ + α min(ρ̄_pg, ρₛ)) (qₛ − V(xₛ))

    Args:
      v_tm1: [T] values at times 0..T−1.
      v_t: [T] values at times 1..T.
      r_t: [T] rewards at times 1..T.
      discount_t: [T] discounts at times 1..T.
      rho_tm1: [T] importance ratios at times 0..T−1.
      alpha: α, weight of the clipped ratios.
      lambda_: [] or [T] mixing parameter λ.
      clip_rho_threshold: clip of the TD importance weights.
      clip_pg_rho_threshold: clip of the policy-gradient importance weights.
      stop_target_gradients: stop gradients through vₛ and qₛ (default True).
      sample_mask: optional [T] bool, learnable steps (see `vtrace`).

    Returns:
      `VTraceOutput(errors, pg_advantage, q_estimate)`, each [T].

    References:
      Zahavy et al., A Self-Tuning Actor-Critic Algorithm, 2020.
    """
    v_tm1, v_t, r_t, discount_t, rho, lam, mask = _inputs(
        v_tm1, v_t, r_t, discount_t, rho_tm1, lambda_, sample_mask
    )
    stop = stop_target_gradients
    c_tm1 = lam * _leaky(rho, alpha, 1.0)
    rho_bar = _leaky(rho, alpha, clip_rho_threshold)
    errors = _errors(v_tm1, v_t, r_t, discount_t, c_tm1, rho_bar, mask, stop)
    pg_rho_bar = _leaky(rho, alpha, clip_pg_rho_threshold)
    return _advantage(errors, v_tm1, v_t, r_t, discount_t, lam, pg_rho_bar, stop)

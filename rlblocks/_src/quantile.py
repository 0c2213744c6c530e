"""Quantile-regression distributional value learning (QR-DQN).

Unbatched primitives with rlax's names, arguments and semantics. A quantile
distribution is N values θᵢ at fractions τᵢ; per-action distributions are laid out
[N, A] (quantiles first, as in rlax). Each function returns a non-negative loss,
the distributional "TD error". Batched versions live in `distributional_losses.py`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlblocks._src import checks, distributional, losses
from rlblocks._src.types import Array, ArrayLike

_maybe_stop = distributional._maybe_stop


def quantile_regression_loss(
    dist_src: ArrayLike,
    tau_src: ArrayLike,
    dist_target: ArrayLike,
    huber_param: float = 0.0,
    stop_target_gradients: bool = True,
) -> Array:
    """Quantile (Huber) regression loss of N quantiles against M target samples.

    L = Σᵢ (1/M) Σⱼ |τᵢ − 𝟙{δᵢⱼ < 0}| ℓ_κ(δᵢⱼ), δᵢⱼ = yⱼ − θᵢ,
    ℓ_κ = Huber(·, κ) for κ > 0, |·| for κ = 0

    As in rlax, ℓ_κ is not divided by κ.

    Args:
      dist_src: [N] predicted quantile values θᵢ.
      tau_src: [N] quantile fractions τᵢ in [0, 1].
      dist_target: [M] target samples yⱼ.
      huber_param: κ >= 0, a Python float (static).
      stop_target_gradients: stop gradients into `dist_target`.

    Returns:
      [] the loss.

    References:
      Koenker and Bassett, Regression Quantiles, 1978. Dabney et al., Distributional
      Reinforcement Learning with Quantile Regression, 2018.
    """
    checks.check_shapes(
        {
            "dist_src": (dist_src, "N", "float"),
            "tau_src": (tau_src, "N", "float"),
            "dist_target": (dist_target, "M", "float"),
        }
    )
    checks.check_in_range(huber_param, 0.0, float("inf"), "huber_param")
    dist_target = _maybe_stop(jnp.asarray(dist_target), stop_target_gradients)
    delta = dist_target[None, :] - jnp.asarray(dist_src)[:, None]  # [N, M]
    below = jax.lax.stop_gradient((delta < 0).astype(delta.dtype))
    weight = jnp.abs(jnp.asarray(tau_src)[:, None] - below)
    if huber_param > 0:
        penalty = losses.huber_loss(delta, huber_param)
    else:
        penalty = jnp.abs(delta)
    return jnp.sum(jnp.mean(weight * penalty, axis=-1))


def _quantile_check(dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t, **dist_t):
    specs = {
        "dist_q_tm1": (dist_q_tm1, "N A", "float"),
        "tau_q_tm1": (tau_q_tm1, "N", "float"),
        "a_tm1": (a_tm1, "", "int"),
        "r_t": (r_t, "", "number"),
        "discount_t": (discount_t, "", "number"),
    }
    specs.update(dist_t)
    checks.check_shapes(specs)


def _quantile_q(
    dist_q_tm1,
    tau_q_tm1,
    a_tm1,
    r_t,
    discount_t,
    dist_q_t_selector,
    dist_q_t,
    huber_param,
    stop,
):
    """(loss, target samples [M], greedy action) of one quantile Q transition."""
    _quantile_check(
        dist_q_tm1,
        tau_q_tm1,
        a_tm1,
        r_t,
        discount_t,
        dist_q_t_selector=(dist_q_t_selector, "M A", "float"),
        dist_q_t=(dist_q_t, "M A", "float"),
    )
    a_t = jnp.argmax(jnp.mean(jnp.asarray(dist_q_t_selector), axis=0))
    target = _maybe_stop(r_t + discount_t * jnp.asarray(dist_q_t)[:, a_t], stop)
    dist_qa_tm1 = jnp.asarray(dist_q_tm1)[:, a_tm1]
    loss = quantile_regression_loss(dist_qa_tm1, tau_q_tm1, target, huber_param)
    return loss, target, a_t


def quantile_q_learning(
    dist_q_tm1: ArrayLike,
    tau_q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    dist_q_t_selector: ArrayLike,
    dist_q_t: ArrayLike,
    huber_param: float = 0.0,
    stop_target_gradients: bool = True,
) -> Array:
    """Quantile-regression Q-learning (QR-DQN) for one transition.

    L = QR(θₜ₋₁[:, aₜ₋₁], τ, rₜ + γₜ θₜ[:, a*]), a* = argmaxₐ meanᵢ θ_selᵢ(a)

    Args:
      dist_q_tm1: [N, A] quantile values at sₜ₋₁.
      tau_q_tm1: [N] quantile fractions of `dist_q_tm1`.
      a_tm1: [] action aₜ₋₁.
      r_t: [] reward rₜ.
      discount_t: [] discount γₜ.
      dist_q_t_selector: [M, A] quantile values at sₜ selecting a* (online
        network for double Q-learning, else the same as `dist_q_t`).
      dist_q_t: [M, A] quantile values at sₜ (target network).
      huber_param: κ >= 0 of the quantile Huber loss (static).
      stop_target_gradients: stop gradients through the target.

    Returns:
      [] quantile regression loss (the distributional TD error).

    References:
      Dabney et al., Distributional Reinforcement Learning with Quantile
      Regression, 2018.
    """
    return _quantile_q(
        dist_q_tm1,
        tau_q_tm1,
        a_tm1,
        r_t,
        discount_t,
        dist_q_t_selector,
        dist_q_t,
        huber_param,
        stop_target_gradients,
    )[0]


def _quantile_expected_sarsa(
    dist_q_tm1,
    tau_q_tm1,
    a_tm1,
    r_t,
    discount_t,
    dist_q_t,
    probs_a_t,
    huber_param,
    stop,
):
    """(loss, target samples [M, A]) of one quantile expected-SARSA transition."""
    _quantile_check(
        dist_q_tm1,
        tau_q_tm1,
        a_tm1,
        r_t,
        discount_t,
        dist_q_t=(dist_q_t, "M A", "float"),
        probs_a_t=(probs_a_t, "A", "float"),
    )
    target = _maybe_stop(r_t + discount_t * jnp.asarray(dist_q_t), stop)
    probs_a_t = _maybe_stop(jnp.asarray(probs_a_t), stop)
    dist_qa_tm1 = jnp.asarray(dist_q_tm1)[:, a_tm1]
    per_action = jax.vmap(quantile_regression_loss, in_axes=(None, None, 1, None))(
        dist_qa_tm1, tau_q_tm1, target, huber_param
    )
    return per_action @ probs_a_t, target


def quantile_expected_sarsa(
    dist_q_tm1: ArrayLike,
    tau_q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    dist_q_t: ArrayLike,
    probs_a_t: ArrayLike,
    huber_param: float = 0.0,
    stop_target_gradients: bool = True,
) -> Array:
    """Quantile-regression expected SARSA: the QR loss averaged over π(·|sₜ).

    L = Σₐ π(a|sₜ) QR(θₜ₋₁[:, aₜ₋₁], τ, rₜ + γₜ θₜ[:, a])

    Args:
      dist_q_tm1: [N, A] quantile values at sₜ₋₁.
      tau_q_tm1: [N] quantile fractions of `dist_q_tm1`.
      a_tm1: [] action aₜ₋₁.
      r_t: [] reward rₜ.
      discount_t: [] discount γₜ.
      dist_q_t: [M, A] quantile values at sₜ.
      probs_a_t: [A] policy probabilities π(·|sₜ).
      huber_param: κ >= 0 of the quantile Huber loss (static).
      stop_target_gradients: stop gradients through the targets and `probs_a_t`.

    Returns:
      [] expected quantile regression loss.

    References:
      Dabney et al., Distributional Reinforcement Learning with Quantile
      Regression, 2018.
    """
    return _quantile_expected_sarsa(
        dist_q_tm1,
        tau_q_tm1,
        a_tm1,
        r_t,
        discount_t,
        dist_q_t,
        probs_a_t,
        huber_param,
        stop_target_gradients,
    )[0]

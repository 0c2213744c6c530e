"""Batched TRFL-style distributional losses returning `(loss, extras)`.

Each `*_loss` takes a leading batch axis [B] on every per-transition argument
(atoms stay shared, [N]), checks all shapes against the batch at trace time, vmaps
the unbatched primitive of `distributional.py` / `quantile.py` with targets always
stopped, and reduces the per-example losses with `losses.weighted_mean`:

    loss = (1/B) Σ_b w_b ℓ_b.

`extras.td_error` is the per-example loss ℓ_b (non-negative: what rlax calls the
distributional TD error; use it as a replay priority) and `extras.target` the
stop-gradiented target distribution.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import checks, distributional, losses, quantile
from rlblocks._src.types import Array, ArrayLike


class CategoricalExtra(NamedTuple):
    """Per-example outputs of `categorical_td_learning_loss`.

    Attributes:
      td_error: [B] cross-entropy losses (the distributional TD errors).
      target: [B, N] stop-gradiented projected target probabilities.
    """

    td_error: Array
    target: Array


class CategoricalQExtra(NamedTuple):
    """Per-example outputs of the categorical Q-learning losses.

    Attributes:
      td_error: [B] cross-entropy losses (the distributional TD errors).
      target: [B, N] stop-gradiented projected target probabilities.
      best_action: [B] the greedy action a* at sₜ whose distribution is the target.
    """

    td_error: Array
    target: Array
    best_action: Array


class QuantileQExtra(NamedTuple):
    """Per-example outputs of `quantile_q_learning_loss`.

    Attributes:
      td_error: [B] quantile regression losses (the distributional TD errors).
      target: [B, M] stop-gradiented target samples rₜ + γₜ θₜ[:, a*].
      best_action: [B] the greedy action a* at sₜ.
    """

    td_error: Array
    target: Array
    best_action: Array


class QuantileExtra(NamedTuple):
    """Per-example outputs of `quantile_expected_sarsa_loss`.

    Attributes:
      td_error: [B] expected quantile regression losses.
      target: [B, M, A] stop-gradiented target samples rₜ + γₜ θₜ.
    """

    td_error: Array
    target: Array


def _check(specs: dict, weights) -> None:
    if weights is not None:
        specs["weights"] = (weights, "B", "number")
    checks.check_shapes(specs)


def _vmap_core(core, in_axes, *args):
    """vmap `core(*args, stop=True)`; return (per-example loss, stopped outputs)."""
    outputs = jax.vmap(lambda *a: core(*a, True), in_axes=in_axes)(*args)
    return outputs[0], jax.lax.stop_gradient(outputs[1:])


def categorical_td_learning_loss(
    v_atoms_tm1: ArrayLike,
    v_logits_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_atoms_t: ArrayLike,
    v_logits_t: ArrayLike,
    *,
    weights: ArrayLike | None = None,
) -> tuple[Array, CategoricalExtra]:
    """Batched categorical TD(0) loss for state-value distributions.

    L = (1/B) Σ_b w_b H(Π(r_b + γ_b z_t, softmax(l_t,b)), softmax(l_tm1,b))

    Args:
      v_atoms_tm1: [N] atoms at sₜ₋₁ (shared by the batch).
      v_logits_tm1: [B, N] logits at sₜ₋₁.
      r_t: [B] rewards.
      discount_t: [B] discounts.
      v_atoms_t: [M] atoms at sₜ.
      v_logits_t: [B, M] logits at sₜ.
      weights: optional [B] importance weights.

    Returns:
      (scalar loss, `CategoricalExtra`).

    References:
      Bellemare, Dabney and Munos, A Distributional Perspective on Reinforcement
      Learning, 2017.
    """
    specs = {
        "v_atoms_tm1": (v_atoms_tm1, "N", "float"),
        "v_logits_tm1": (v_logits_tm1, "B N", "float"),
        "r_t": (r_t, "B", "number"),
        "discount_t": (discount_t, "B", "number"),
        "v_atoms_t": (v_atoms_t, "M", "float"),
        "v_logits_t": (v_logits_t, "B M", "float"),
    }
    _check(specs, weights)
    args = (v_atoms_tm1, v_logits_tm1, r_t, discount_t, v_atoms_t, v_logits_t)
    per_example, (target,) = _vmap_core(
        distributional._categorical_td, (None, 0, 0, 0, None, 0), *args
    )
    return losses.weighted_mean(per_example, weights), CategoricalExtra(
        per_example, target
    )


def _categorical_q_specs(args) -> dict:
    names = ("q_atoms_tm1", "q_logits_tm1", "a_tm1", "r_t", "discount_t")
    names += ("q_atoms_t", "q_logits_t")
    layouts = ("N", "B A N", "B", "B", "B", "M", "B A M")
    kinds = ("float", "float", "int", "number", "number", "float", "float")
    return {n: spec for n, *spec in zip(names, args, layouts, kinds, strict=True)}


def _categorical_q_loss(args, selector, weights):
    """vmap the categorical Q core given the [B, A] selector of a*; reduce."""
    per_example, (target, best_action) = _vmap_core(
        distributional._categorical_q, (None, 0, 0, 0, 0, None, 0, 0), *args, selector
    )
    extra = CategoricalQExtra(per_example, target, best_action)
    return losses.weighted_mean(per_example, weights), extra


def categorical_q_learning_loss(
    q_atoms_tm1: ArrayLike,
    q_logits_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_atoms_t: ArrayLike,
    q_logits_t: ArrayLike,
    *,
    weights: ArrayLike | None = None,
) -> tuple[Array, CategoricalQExtra]:
    """Batched categorical Q-learning (C51) loss.

    L = (1/B) Σ_b w_b H(Π(r_b + γ_b z_t, softmax(l_t,b[a*])), softmax(l_tm1,b[a_b]))

    Args:
      q_atoms_tm1: [N] atoms at sₜ₋₁ (shared by the batch).
      q_logits_tm1: [B, A, N] logits at sₜ₋₁.
      a_tm1: [B] actions.
      r_t: [B] rewards.
      discount_t: [B] discounts.
      q_atoms_t: [M] atoms at sₜ.
      q_logits_t: [B, A, M] logits at sₜ (target network); a* maximises their mean.
      weights: optional [B] importance weights.

    Returns:
      (scalar loss, `CategoricalQExtra`).

    References:
      Bellemare, Dabney and Munos, A Distributional Perspective on Reinforcement
      Learning, 2017.
    """
    args = (q_atoms_tm1, q_logits_tm1, a_tm1, r_t, discount_t, q_atoms_t, q_logits_t)
    _check(_categorical_q_specs(args), weights)
    selector = jax.vmap(distributional._categorical_means, (None, 0))(
        q_atoms_t, q_logits_t
    )
    return _categorical_q_loss(args, selector, weights)


def categorical_double_q_learning_loss(
    q_atoms_tm1: ArrayLike,
    q_logits_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_atoms_t: ArrayLike,
    q_logits_t: ArrayLike,
    q_t_selector: ArrayLike,
    *,
    weights: ArrayLike | None = None,
) -> tuple[Array, CategoricalQExtra]:
    """Batched categorical double Q-learning loss: a* = argmax of `q_t_selector`.

    L = (1/B) Σ_b w_b H(Π(r_b + γ_b z_t, softmax(l_t,b[a*_b])), softmax(l_tm1,b[a_b]))

    Args:
      q_atoms_tm1: [N] atoms at sₜ₋₁ (shared by the batch).
      q_logits_tm1: [B, A, N] logits at sₜ₋₁.
      a_tm1: [B] actions.
      r_t: [B] rewards.
      discount_t: [B] discounts.
      q_atoms_t: [M] atoms at sₜ.
      q_logits_t: [B, A, M] logits at sₜ (target network).
      q_t_selector: [B, A] action values at sₜ (online network).
      weights: optional [B] importance weights.

    Returns:
      (scalar loss, `CategoricalQExtra`).

    References:
      Hessel et al., Rainbow: Combining Improvements in Deep Reinforcement
      Learning, 2018.
    """
    args = (q_atoms_tm1, q_logits_tm1, a_tm1, r_t, discount_t, q_atoms_t, q_logits_t)
    specs = _categorical_q_specs(args)
    specs["q_t_selector"] = (q_t_selector, "B A", "float")
    _check(specs, weights)
    return _categorical_q_loss(args, q_t_selector, weights)


def _quantile_specs(dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t) -> dict:
    return {
        "dist_q_tm1": (dist_q_tm1, "B N A", "float"),
        "tau_q_tm1": (tau_q_tm1, "N" if jnp.ndim(tau_q_tm1) == 1 else "B N", "float"),
        "a_tm1": (a_tm1, "B", "int"),
        "r_t": (r_t, "B", "number"),
        "discount_t": (discount_t, "B", "number"),
    }


def quantile_q_learning_loss(
    dist_q_tm1: ArrayLike,
    tau_q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    dist_q_t_selector: ArrayLike,
    dist_q_t: ArrayLike,
    huber_param: float = 0.0,
    *,
    weights: ArrayLike | None = None,
) -> tuple[Array, QuantileQExtra]:
    """Batched quantile-regression Q-learning (QR-DQN) loss.

    L = (1/B) Σ_b w_b QR(θ_tm1,b[:, a_b], τ_b, r_b + γ_b θ_t,b[:, a*_b])

    Args:
      dist_q_tm1: [B, N, A] quantile values at sₜ₋₁.
      tau_q_tm1: [N] quantile fractions shared by the batch (QR-DQN), or [B, N]
        per example (IQN).
      a_tm1: [B] actions.
      r_t: [B] rewards.
      discount_t: [B] discounts.
      dist_q_t_selector: [B, M, A] quantile values at sₜ selecting a*.
      dist_q_t: [B, M, A] quantile values at sₜ (target network).
      huber_param: κ >= 0 of the quantile Huber loss (static).
      weights: optional [B] importance weights.

    Returns:
      (scalar loss, `QuantileQExtra`).

    References:
      Dabney et al., Distributional Reinforcement Learning with Quantile
      Regression, 2018.
    """
    specs = _quantile_specs(dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t)
    specs["dist_q_t_selector"] = (dist_q_t_selector, "B M A", "float")
    specs["dist_q_t"] = (dist_q_t, "B M A", "float")
    _check(specs, weights)
    tau_axis = 0 if jnp.ndim(tau_q_tm1) == 2 else None

    def core(*args):
        return quantile._quantile_q(*args[:-1], huber_param, args[-1])

    args = (dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t, dist_q_t_selector, dist_q_t)
    in_axes = (0, tau_axis, 0, 0, 0, 0, 0)
    per_example, (target, best_action) = _vmap_core(core, in_axes, *args)
    extra = QuantileQExtra(per_example, target, best_action)
    return losses.weighted_mean(per_example, weights), extra


def quantile_expected_sarsa_loss(
    dist_q_tm1: ArrayLike,
    tau_q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    dist_q_t: ArrayLike,
    probs_a_t: ArrayLike,
    huber_param: float = 0.0,
    *,
    weights: ArrayLike | None = None,
) -> tuple[Array, QuantileExtra]:
    """Batched quantile-regression expected SARSA loss.

    L = (1/B) Σ_b w_b Σₐ π_b(a) QR(θ_tm1,b[:, a_b], τ_b, r_b + γ_b θ_t,b[:, a])

    Args:
      dist_q_tm1: [B, N, A] quantile values at sₜ₋₁.
      tau_q_tm1: [N] shared or [B, N] per-example quantile fractions.
      a_tm1: [B] actions.
      r_t: [B] rewards.
      discount_t: [B] discounts.
      dist_q_t: [B, M, A] quantile values at sₜ.
      probs_a_t: [B, A] policy probabilities at sₜ.
      huber_param: κ >= 0 of the quantile Huber loss (static).
      weights: optional [B] importance weights.

    Returns:
      (scalar loss, `QuantileExtra`).

    References:
      Dabney et al., Distributional Reinforcement Learning with Quantile
      Regression, 2018.
    """
    specs = _quantile_specs(dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t)
    specs["dist_q_t"] = (dist_q_t, "B M A", "float")
    specs["probs_a_t"] = (probs_a_t, "B A", "float")
    _check(specs, weights)
    tau_axis = 0 if jnp.ndim(tau_q_tm1) == 2 else None

    def core(*args):
        return quantile._quantile_expected_sarsa(*args[:-1], huber_param, args[-1])

    args = (dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t, dist_q_t, probs_a_t)
    in_axes = (0, tau_axis, 0, 0, 0, 0, 0)
    per_example, (target,) = _vmap_core(core, in_axes, *args)
    return losses.weighted_mean(per_example, weights), QuantileExtra(
        per_example, target
    )

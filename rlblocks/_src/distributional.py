"""Categorical distributional value learning (C51): projection and losses.

Unbatched primitives with rlax's names, arguments and semantics: each acts on one
transition and returns a non-negative per-example loss, which rlax (and therefore
rlblocks) calls the distributional "TD error". Categorical distributions are given
by fixed atoms [N] and logits [N] (or [A, N] per action). Quantile losses live in
`quantile.py`, batched `*_loss` versions in `distributional_losses.py`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks._src import checks
from rlblocks._src.types import Array, ArrayLike


def _maybe_stop(x: Array, stop_target_gradients) -> Array:
    return jnp.where(stop_target_gradients, jax.lax.stop_gradient(x), x)


def categorical_l2_project(z_p: ArrayLike, probs: ArrayLike, z_q: ArrayLike) -> Array:
    """Project a categorical distribution onto a new support (Cramér projection).

    qᵢ = Σⱼ pⱼ max(0, 1 − |clip(z_pⱼ) − z_qᵢ| / Δᵢ), Δᵢ the gap to the neighbour of
    z_qᵢ on the side of z_pⱼ; clip to [z_q₀, z_q_last]

    Each source atom splits its mass between the two target atoms around it, in
    proportion to closeness; atoms outside the support go to the nearest end. This
    is the L2 (Cramér) projection; it preserves total mass, and the mean too when no
    atom is clipped. `z_q` need not be uniform nor the size of `z_p`.

    Args:
      z_p: [P] source atoms, any order, possibly outside `z_q`'s range.
      probs: [P] source probabilities.
      z_q: [Q] target atoms, strictly increasing.

    Returns:
      [Q] projected probabilities.

    References:
      Bellemare, Dabney and Munos, A Distributional Perspective on Reinforcement
      Learning, 2017 (Algorithm 1). Rowland et al., An Analysis of Categorical
      Distributional Reinforcement Learning, 2018.
    """
    checks.check_shapes(
        {
            "z_p": (z_p, "P", "float"),
            "probs": (probs, "P", "float"),
            "z_q": (z_q, "Q", "float"),
        }
    )
    if not isinstance(z_q, jax.core.Tracer) and np.any(np.diff(np.asarray(z_q)) < 0):
        raise ValueError(f"z_q must be increasing, got {np.asarray(z_q)}")
    z_q = jnp.asarray(z_q)
    inf = jnp.full((1,), jnp.inf, z_q.dtype)
    gaps = jnp.diff(z_q)
    gaps = jnp.where(gaps > 0, gaps, jnp.inf)  # repeated atoms: no division by 0
    gap_above = jnp.concatenate([gaps, inf])[:, None]  # [Q, 1], z_q[i+1] − z_q[i]
    gap_below = jnp.concatenate([inf, gaps])[:, None]  # [Q, 1], z_q[i] − z_q[i-1]
    delta = jnp.clip(jnp.asarray(z_p), z_q[0], z_q[-1])[None, :] - z_q[:, None]
    distance = jnp.where(delta >= 0, delta / gap_above, -delta / gap_below)
    return jnp.clip(1.0 - distance, 0.0, 1.0) @ jnp.asarray(probs)


def categorical_cross_entropy(labels: ArrayLike, logits: ArrayLike) -> Array:
    """Cross-entropy of a softmax distribution against target probabilities.

    H(p, softmax(l)) = −Σᵢ pᵢ log softmax(l)ᵢ

    Args:
      labels: [..., N] target probabilities (non-negative, summing to 1).
      logits: [..., N] unnormalised log-probabilities.

    Returns:
      [...] cross-entropies (a scalar for rank-1 inputs).
    """
    layout = " ".join(f"d{i}" for i in range(jnp.ndim(logits)))
    if not layout:
        raise ValueError("logits must have rank >= 1 ([..., N]), got shape ()")
    checks.check_shapes(
        {"logits": (logits, layout, "float"), "labels": (labels, layout, "float")}
    )
    return -jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1)


# --- categorical TD losses ----------------------------------------------------------


def _categorical_target(atoms_tm1, r_t, discount_t, atoms_t, probs_t, stop):
    target = categorical_l2_project(r_t + discount_t * atoms_t, probs_t, atoms_tm1)
    return _maybe_stop(target, stop)


def _categorical_q(
    q_atoms_tm1,
    q_logits_tm1,
    a_tm1,
    r_t,
    discount_t,
    q_atoms_t,
    q_logits_t,
    q_t_selector,
    stop,
):
    """(loss, projected target [N], greedy action) of one categorical Q transition."""
    checks.check_shapes(
        {
            "q_atoms_tm1": (q_atoms_tm1, "N", "float"),
            "q_logits_tm1": (q_logits_tm1, "A N", "float"),
            "a_tm1": (a_tm1, "", "int"),
            "r_t": (r_t, "", "number"),
            "discount_t": (discount_t, "", "number"),
            "q_atoms_t": (q_atoms_t, "M", "float"),
            "q_logits_t": (q_logits_t, "A M", "float"),
            "q_t_selector": (q_t_selector, "A", "float"),
        }
    )
    a_t = jnp.argmax(q_t_selector)
    probs_t = jax.nn.softmax(jnp.asarray(q_logits_t)[a_t])
    target = _categorical_target(q_atoms_tm1, r_t, discount_t, q_atoms_t, probs_t, stop)
    loss = categorical_cross_entropy(target, jnp.asarray(q_logits_tm1)[a_tm1])
    return loss, target, a_t


def _categorical_means(q_atoms_t, q_logits_t) -> Array:
    """[A] means Σᵢ softmax(l)ᵢ zᵢ of per-action categorical distributions."""
    return jax.nn.softmax(jnp.asarray(q_logits_t), axis=-1) @ jnp.asarray(q_atoms_t)


def categorical_td_learning(
    v_atoms_tm1: ArrayLike,
    v_logits_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_atoms_t: ArrayLike,
    v_logits_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Categorical TD(0) for state-value distributions.

    L = H(Π(rₜ + γₜ z_t, softmax(l_t)), softmax(l_tm1)), Π = `categorical_l2_project`

    Args:
      v_atoms_tm1: [N] atoms of the distribution at sₜ₋₁.
      v_logits_tm1: [N] logits at sₜ₋₁.
      r_t: [] reward rₜ.
      discount_t: [] discount γₜ.
      v_atoms_t: [M] atoms of the distribution at sₜ.
      v_logits_t: [M] logits at sₜ.
      stop_target_gradients: stop gradients through the projected target.

    Returns:
      [] cross-entropy loss (the distributional TD error).

    References:
      Bellemare, Dabney and Munos, A Distributional Perspective on Reinforcement
      Learning, 2017.
    """
    return _categorical_td(
        v_atoms_tm1,
        v_logits_tm1,
        r_t,
        discount_t,
        v_atoms_t,
        v_logits_t,
        stop_target_gradients,
    )[0]


def _categorical_td(
    v_atoms_tm1, v_logits_tm1, r_t, discount_t, v_atoms_t, v_logits_t, stop
):
    """(loss, projected target [N]) of one categorical TD(0) transition."""
    checks.check_shapes(
        {
            "v_atoms_tm1": (v_atoms_tm1, "N", "float"),
            "v_logits_tm1": (v_logits_tm1, "N", "float"),
            "r_t": (r_t, "", "number"),
            "discount_t": (discount_t, "", "number"),
            "v_atoms_t": (v_atoms_t, "M", "float"),
            "v_logits_t": (v_logits_t, "M", "float"),
        }
    )
    probs_t = jax.nn.softmax(jnp.asarray(v_logits_t))
    target = _categorical_target(v_atoms_tm1, r_t, discount_t, v_atoms_t, probs_t, stop)
    return categorical_cross_entropy(target, v_logits_tm1), target


def categorical_q_learning(
    q_atoms_tm1: ArrayLike,
    q_logits_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_atoms_t: ArrayLike,
    q_logits_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Categorical Q-learning (C51) for one transition.

    L = H(Π(rₜ + γₜ z_t, softmax(l_t[a*])), softmax(l_tm1[aₜ₋₁])),
    a* = argmaxₐ Σᵢ softmax(l_t[a])ᵢ z_tᵢ

    Args:
      q_atoms_tm1: [N] atoms of the distributions at sₜ₋₁.
      q_logits_tm1: [A, N] logits at sₜ₋₁, one row per action.
      a_tm1: [] action aₜ₋₁.
      r_t: [] reward rₜ.
      discount_t: [] discount γₜ.
      q_atoms_t: [M] atoms at sₜ.
      q_logits_t: [A, M] logits at sₜ (target network).
      stop_target_gradients: stop gradients through the projected target.

    Returns:
      [] cross-entropy loss (the distributional TD error).

    References:
      Bellemare, Dabney and Munos, A Distributional Perspective on Reinforcement
      Learning, 2017.
    """
    checks.check_shapes(
        {
            "q_atoms_t": (q_atoms_t, "M", "float"),
            "q_logits_t": (q_logits_t, "A M", "float"),
        }
    )
    q_t_selector = _categorical_means(q_atoms_t, q_logits_t)
    return _categorical_q(
        q_atoms_tm1,
        q_logits_tm1,
        a_tm1,
        r_t,
        discount_t,
        q_atoms_t,
        q_logits_t,
        q_t_selector,
        stop_target_gradients,
    )[0]


def categorical_double_q_learning(
    q_atoms_tm1: ArrayLike,
    q_logits_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_atoms_t: ArrayLike,
    q_logits_t: ArrayLike,
    q_t_selector: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Categorical double Q-learning: the greedy action comes from `q_t_selector`.

    L = H(Π(rₜ + γₜ z_t, softmax(l_t[a*])), softmax(l_tm1[aₜ₋₁])), a* = argmax q_sel

    Args:
      q_atoms_tm1: [N] atoms of the distributions at sₜ₋₁.
      q_logits_tm1: [A, N] logits at sₜ₋₁.
      a_tm1: [] action aₜ₋₁.
      r_t: [] reward rₜ.
      discount_t: [] discount γₜ.
      q_atoms_t: [M] atoms at sₜ.
      q_logits_t: [A, M] logits at sₜ (target network), evaluating a*.
      q_t_selector: [A] action values at sₜ (online network), selecting a*.
      stop_target_gradients: stop gradients through the projected target.

    Returns:
      [] cross-entropy loss (the distributional TD error).

    References:
      van Hasselt, Guez and Silver, Deep Reinforcement Learning with Double
      Q-learning, 2016. Hessel et al., Rainbow, 2018.
    """
    return _categorical_q(
        q_atoms_tm1,
        q_logits_tm1,
        a_tm1,
        r_t,
        discount_t,
        q_atoms_t,
        q_logits_t,
        q_t_selector,
        stop_target_gradients,
    )[0]

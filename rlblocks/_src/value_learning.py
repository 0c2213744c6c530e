"""One-step TD errors of a single transition, with rlax's names and arguments.

Each primitive acts on one transition (`q_tm1: [A]`, `a_tm1: []`, `r_t: []`,
`discount_t: []`, `q_t: [A]`) and returns the TD error δ = G − q, where the target
G is stop-gradiented unless `stop_target_gradients=False` (a Python or traced bool).
Names, argument names, order and semantics follow rlax, so rlax code runs
unchanged; batch them with `jax.vmap`, or use the `*_loss` functions of
`value_losses.py`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlblocks._src import checks, transforms
from rlblocks._src.types import Array, ArrayLike

# --- shared helpers ----------------------------------------------------------


def _td_error(target: Array, prediction: Array, stop_target_gradients) -> Array:
    """δ = G − prediction; G is stopped when `stop_target_gradients` (may be traced)."""
    target = jnp.where(stop_target_gradients, jax.lax.stop_gradient(target), target)
    return target - prediction


# Layout and dtype kind of every argument name, per example. Batched losses
# prepend a shared batch axis "B" to each layout.
_LAYOUTS = {
    "v_tm1": ("", "float"),
    "q_tm1": ("A", "float"),
    "a_tm1": ("", "int"),
    "r_t": ("", "number"),
    "discount_t": ("", "number"),
    "v_t": ("", "float"),
    "q_t": ("A", "float"),
    "a_t": ("", "int"),
    "probs_a_t": ("A", "float"),
    "q_t_value": ("A", "float"),
    "q_t_selector": ("A", "float"),
}


def check_args(batched: bool = False, weights=None, **args) -> None:
    """Check arguments, by name, against their layout and dtype in `_LAYOUTS`.

    Batched losses pass `batched=True`: every layout then gets a leading [B]
    shared by all arguments (and by `weights`), so mismatched batch sizes raise.
    """
    prefix = "B " if batched else ""
    specs = {
        name: (value, (prefix + _LAYOUTS[name][0]).strip(), _LAYOUTS[name][1])
        for name, value in args.items()
    }
    if weights is not None:
        specs["weights"] = (weights, "B", "number")
    checks.check_shapes(specs)


# --- unbatched primitives (rlax names and arguments) --------------------------


def td_learning(
    v_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """TD(0) error of a state value.

    δ = rₜ + γₜ v(sₜ) − v(sₜ₋₁)

    Args:
      v_tm1: [] value estimate at time t-1.
      r_t: [] reward at time t.
      discount_t: [] discount γₜ at time t (0 at termination).
      v_t: [] value estimate at time t.
      stop_target_gradients: whether to stop gradients through the target.

    Returns:
      [] the TD error.

    References:
      Sutton, Learning to Predict by the Methods of Temporal Differences, 1988.
    """
    check_args(v_tm1=v_tm1, r_t=r_t, discount_t=discount_t, v_t=v_t)
    target = r_t + discount_t * jnp.asarray(v_t)
    return _td_error(target, jnp.asarray(v_tm1), stop_target_gradients)


def q_learning(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Q-learning TD error.

    δ = rₜ + γₜ maxₐ q(sₜ, a) − q(sₜ₋₁, aₜ₋₁)

    Args:
      q_tm1: [A] action values at time t-1.
      a_tm1: [] integer action taken at time t-1.
      r_t: [] reward at time t.
      discount_t: [] discount γₜ at time t (0 at termination).
      q_t: [A] action values at time t.
      stop_target_gradients: whether to stop gradients through the target.

    Returns:
      [] the TD error.

    References:
      Watkins and Dayan, Q-learning, 1992.
    """
    check_args(q_tm1=q_tm1, a_tm1=a_tm1, r_t=r_t, discount_t=discount_t, q_t=q_t)
    target = r_t + discount_t * jnp.max(q_t)
    q_pred = transforms.batched_index(q_tm1, a_tm1)
    return _td_error(target, q_pred, stop_target_gradients)


def double_q_learning(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t_value: ArrayLike,
    q_t_selector: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Double Q-learning TD error: one estimate selects, the other evaluates.

    δ = rₜ + γₜ q_value(sₜ, argmaxₐ q_selector(sₜ, a)) − q(sₜ₋₁, aₜ₋₁)

    Args:
      q_tm1: [A] action values at time t-1.
      a_tm1: [] integer action taken at time t-1.
      r_t: [] reward at time t.
      discount_t: [] discount γₜ at time t (0 at termination).
      q_t_value: [A] action values at time t used to evaluate (e.g. target net).
      q_t_selector: [A] action values at time t used to select (e.g. online net);
        ties go to the lowest index.
      stop_target_gradients: whether to stop gradients through the target.

    Returns:
      [] the TD error.

    References:
      van Hasselt, Double Q-learning, 2010.
      van Hasselt, Guez and Silver, Deep Reinforcement Learning with Double
      Q-learning, 2016.
    """
    check_args(
        q_tm1=q_tm1,
        a_tm1=a_tm1,
        r_t=r_t,
        discount_t=discount_t,
        q_t_value=q_t_value,
        q_t_selector=q_t_selector,
    )
    best = jnp.argmax(q_t_selector)
    target = r_t + discount_t * transforms.batched_index(q_t_value, best)
    q_pred = transforms.batched_index(q_tm1, a_tm1)
    return _td_error(target, q_pred, stop_target_gradients)


def persistent_q_learning(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    action_gap_scale: float,
    stop_target_gradients: bool = True,
) -> Array:
    """Persistent Q-learning TD error: the bootstrap leans towards repeating aₜ₋₁.

    δ = rₜ + γₜ [(1 − α) maxₐ q(sₜ, a) + α q(sₜ, aₜ₋₁)] − q(sₜ₋₁, aₜ₋₁)

    Args:
      q_tm1: [A] action values at time t-1.
      a_tm1: [] integer action taken at time t-1.
      r_t: [] reward at time t.
      discount_t: [] discount γₜ at time t (0 at termination).
      q_t: [A] action values at time t.
      action_gap_scale: α in [0, 1]; 0 gives Q-learning.
      stop_target_gradients: whether to stop gradients through the target.

    Returns:
      [] the TD error.

    References:
      Bellemare, Ostrovski, Guez, Thomas and Munos, Increasing the Action Gap: New
      Operators for Reinforcement Learning, 2016.
    """
    check_args(q_tm1=q_tm1, a_tm1=a_tm1, r_t=r_t, discount_t=discount_t, q_t=q_t)
    checks.check_in_range(action_gap_scale, 0.0, 1.0, "action_gap_scale")
    repeat = transforms.batched_index(q_t, a_tm1)
    bootstrap = (1.0 - action_gap_scale) * jnp.max(q_t) + action_gap_scale * repeat
    q_pred = transforms.batched_index(q_tm1, a_tm1)
    return _td_error(r_t + discount_t * bootstrap, q_pred, stop_target_gradients)


def sarsa(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    a_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """SARSA TD error: bootstrap on the action actually taken next.

    δ = rₜ + γₜ q(sₜ, aₜ) − q(sₜ₋₁, aₜ₋₁)

    Args:
      q_tm1: [A] action values at time t-1.
      a_tm1: [] integer action taken at time t-1.
      r_t: [] reward at time t.
      discount_t: [] discount γₜ at time t (0 at termination).
      q_t: [A] action values at time t.
      a_t: [] integer action taken at time t.
      stop_target_gradients: whether to stop gradients through the target.

    Returns:
      [] the TD error.

    References:
      Rummery and Niranjan, On-line Q-learning Using Connectionist Systems, 1994.
    """
    check_args(
        q_tm1=q_tm1, a_tm1=a_tm1, r_t=r_t, discount_t=discount_t, q_t=q_t, a_t=a_t
    )
    target = r_t + discount_t * transforms.batched_index(q_t, a_t)
    q_pred = transforms.batched_index(q_tm1, a_tm1)
    return _td_error(target, q_pred, stop_target_gradients)


def expected_sarsa(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    probs_a_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """Expected SARSA TD error: bootstrap on the policy's expected next value.

    δ = rₜ + γₜ Σₐ π(a|sₜ) q(sₜ, a) − q(sₜ₋₁, aₜ₋₁)

    Args:
      q_tm1: [A] action values at time t-1.
      a_tm1: [] integer action taken at time t-1.
      r_t: [] reward at time t.
      discount_t: [] discount γₜ at time t (0 at termination).
      q_t: [A] action values at time t.
      probs_a_t: [A] probabilities π(·|sₜ) of the evaluated policy.
      stop_target_gradients: whether to stop gradients through the target.

    Returns:
      [] the TD error.

    References:
      van Seijen, van Hasselt, Whiteson and Wiering, A Theoretical and Empirical
      Analysis of Expected Sarsa, 2009.
    """
    check_args(
        q_tm1=q_tm1,
        a_tm1=a_tm1,
        r_t=r_t,
        discount_t=discount_t,
        q_t=q_t,
        probs_a_t=probs_a_t,
    )
    target = r_t + discount_t * jnp.dot(q_t, probs_a_t)
    q_pred = transforms.batched_index(q_tm1, a_tm1)
    return _td_error(target, q_pred, stop_target_gradients)


def qv_learning(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """QV-learning TD error: action values bootstrap on a separate state value.

    δ = rₜ + γₜ v(sₜ) − q(sₜ₋₁, aₜ₋₁)

    Args:
      q_tm1: [A] action values at time t-1.
      a_tm1: [] integer action taken at time t-1.
      r_t: [] reward at time t.
      discount_t: [] discount γₜ at time t (0 at termination).
      v_t: [] state value at time t.
      stop_target_gradients: whether to stop gradients through the target.

    Returns:
      [] the TD error.

    References:
      Wiering and van Hasselt, Two Novel On-policy Reinforcement Learning
      Algorithms based on TD(λ)-methods, 2007.
    """
    check_args(q_tm1=q_tm1, a_tm1=a_tm1, r_t=r_t, discount_t=discount_t, v_t=v_t)
    target = r_t + discount_t * jnp.asarray(v_t)
    q_pred = transforms.batched_index(q_tm1, a_tm1)
    return _td_error(target, q_pred, stop_target_gradients)


def qv_max(
    v_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    stop_target_gradients: bool = True,
) -> Array:
    """QV-max TD error: a state value bootstraps on the greedy action value.

    δ = rₜ + γₜ maxₐ q(sₜ, a) − v(sₜ₋₁)

    Args:
      v_tm1: [] state value at time t-1.
      r_t: [] reward at time t.
      discount_t: [] discount γₜ at time t (0 at termination).
      q_t: [A] action values at time t.
      stop_target_gradients: whether to stop gradients through the target.

    Returns:
      [] the TD error.

    References:
      Wiering and van Hasselt, The QV Family Compared to Other Reinforcement
      Learning Algorithms, 2009.
    """
    check_args(v_tm1=v_tm1, r_t=r_t, discount_t=discount_t, q_t=q_t)
    target = r_t + discount_t * jnp.max(q_t)
    return _td_error(target, jnp.asarray(v_tm1), stop_target_gradients)

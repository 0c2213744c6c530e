"""Policy-gradient, entropy, PPO clipped-surrogate and actor-critic losses.

The rlax-compatible functions (`policy_gradient_loss`, `entropy_loss`,
`clipped_surrogate_pg_loss`, `dpg_loss`, `qpg_loss`, `rm_loss`, `rpg_loss`) act on
one sequence (`[T, ...]`) and return a scalar; batch them with `jax.vmap`.

The TRFL-style losses (`discrete_policy_entropy_loss`,
`sequence_advantage_actor_critic_loss`) act on batches and return
`(loss, extras)` with a scalar `loss`, the mean over the batch.

Entropy sign. The entropy H(π) = −Σₐ π(a) log π(a) is ≥ 0. An *entropy loss* is
its negation, −H ≤ 0, so that *minimising* it *raises* the entropy; add
`entropy_cost * entropy_loss` to a loss to encourage exploration. `entropy_loss`
(rlax's name) and `discrete_policy_entropy_loss` (TRFL's) both return this
negative quantity. Every extras field named `entropy` holds the positive H.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import checks, losses, multistep, transforms
from rlblocks._src.types import Array, ArrayLike


def _maybe_stop(x, use_stop_gradient: bool):
    return jax.lax.stop_gradient(x) if use_stop_gradient else x


def _entropy(logits: Array) -> Array:
    """Positive entropy H = −Σ π log π of softmax(logits), over the last axis."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


def policy_gradient_loss(
    logits_t: ArrayLike,
    a_t: ArrayLike,
    adv_t: ArrayLike,
    w_t: ArrayLike,
    use_stop_gradient: bool = True,
) -> Array:
    """REINFORCE / advantage policy-gradient loss over a sequence.

    L = −(1/T) Σₜ wₜ Aₜ log π(aₜ | sₜ),  π = softmax(logitsₜ)

    Args:
      logits_t: [T, A] action logits.
      a_t: [T] int actions taken (sampled from π).
      adv_t: [T] advantages (or returns) of those actions.
      w_t: [T] per-step weights.
      use_stop_gradient: stop gradients into `adv_t`.

    Returns:
      [] the loss; its gradient is the negated policy-gradient estimate.

    References:
      Williams, Simple Statistical Gradient-Following Algorithms for
      Connectionist Reinforcement Learning, 1992.
    """
    checks.check_shapes(
        {
            "logits_t": (logits_t, "T A", "float"),
            "a_t": (a_t, "T", "int"),
            "adv_t": (adv_t, "T", "float"),
            "w_t": (w_t, "T", "float"),
        }
    )
    log_pi = transforms.batched_index(jax.nn.log_softmax(logits_t), a_t)
    adv_t = _maybe_stop(jnp.asarray(adv_t), use_stop_gradient)
    return jnp.mean(-log_pi * adv_t * jnp.asarray(w_t))


def entropy_loss(logits_t: ArrayLike, w_t: ArrayLike) -> Array:
    """NEGATIVE weighted mean entropy of a sequence of softmax policies (rlax's).

    L = −(1/T) Σₜ wₜ H(π(·|sₜ)) ≤ 0,  H(π) = −Σₐ π(a) log π(a) ≥ 0

    The sign is that of a loss: minimising it increases the entropy. Use
    `loss = pg_loss + entropy_cost * entropy_loss(...)` with `entropy_cost > 0`;
    to *log* the entropy, negate the result (or use `-entropy_loss(...)`).

    Args:
      logits_t: [T, A] action logits.
      w_t: [T] per-step weights.

    Returns:
      [] the negative weighted mean entropy, in nats.

    References:
      Williams and Peng, Function Optimization using Connectionist
      Reinforcement Learning Algorithms, 1991.
    """
    checks.check_shapes(
        {"logits_t": (logits_t, "T A", "float"), "w_t": (w_t, "T", "float")}
    )
    return -jnp.mean(_entropy(jnp.asarray(logits_t)) * jnp.asarray(w_t))


def clipped_surrogate_pg_loss(
    prob_ratios_t: ArrayLike,
    adv_t: ArrayLike,
    epsilon: float,
    use_stop_gradient: bool = True,
) -> Array:
    """PPO's clipped surrogate objective, negated into a loss.

    L = −(1/T) Σₜ min(ρₜ Aₜ, clip(ρₜ, 1 − ε, 1 + ε) Aₜ),  ρₜ = π(aₜ|sₜ) / π_old(aₜ|sₜ)

    Args:
      prob_ratios_t: [T] probability ratios ρₜ.
      adv_t: [T] advantages Aₜ.
      epsilon: ε ≥ 0, the clipping range.
      use_stop_gradient: stop gradients into `adv_t`.

    Returns:
      [] the loss.

    References:
      Schulman et al., Proximal Policy Optimization Algorithms, 2017.
    """
    checks.check_shapes(
        {
            "prob_ratios_t": (prob_ratios_t, "T", "float"),
            "adv_t": (adv_t, "T", "float"),
        }
    )
    checks.check_in_range(epsilon, 0.0, float("inf"), "epsilon")
    ratios = jnp.asarray(prob_ratios_t)
    adv_t = _maybe_stop(jnp.asarray(adv_t), use_stop_gradient)
    clipped = jnp.clip(ratios, 1.0 - epsilon, 1.0 + epsilon)
    return -jnp.mean(jnp.fmin(ratios * adv_t, clipped * adv_t))


def dpg_loss(
    a_t: ArrayLike,
    dqda_t: ArrayLike,
    dqda_clipping: float | None = None,
    use_stop_gradient: bool = True,
) -> Array:
    """Deterministic policy-gradient loss, per action dimension (rlax's).

    L_d = ½ (sg(aₜ + ∂Q/∂aₜ) − aₜ)²_d, so ∂L/∂aₜ = −∂Q/∂aₜ

    Args:
      a_t: [D] continuous action from the deterministic policy.
      dqda_t: [D] gradient of Q(s, a) with respect to a, at `a_t`.
      dqda_clipping: if set, `dqda_t` is rescaled to L2 norm ≤ this value.
      use_stop_gradient: stop gradients into the target `a_t + dqda_t`.

    Returns:
      [D] the elementwise loss (sum or average it over D and the batch).

    References:
      Silver et al., Deterministic Policy Gradient Algorithms, 2014.
    """
    checks.check_shapes({"a_t": (a_t, "D", "float"), "dqda_t": (dqda_t, "D", "float")})
    a_t, dqda_t = jnp.asarray(a_t), jnp.asarray(dqda_t)
    if dqda_clipping is not None:
        checks.check_in_range(dqda_clipping, 0.0, float("inf"), "dqda_clipping")
        dqda_t = _clip_by_l2_norm(dqda_t, dqda_clipping)
    target = _maybe_stop(dqda_t + a_t, use_stop_gradient)
    return losses.l2_loss(target - a_t)


def _clip_by_l2_norm(x: Array, max_norm: float) -> Array:
    sq = jnp.sum(jnp.square(x))
    safe_norm = jnp.sqrt(jnp.where(sq > 0, sq, 1.0))
    return jnp.where(safe_norm > max_norm, x * (max_norm / safe_norm), x)


def _policy_and_advantages(logits_t, q_t, stop_q: bool):
    """π = softmax(logits) and A(a) = Q(a) − Σ_b π(b) Q(b), per step."""
    checks.check_shapes(
        {"logits_t": (logits_t, "T A", "float"), "q_t": (q_t, "T A", "float")}
    )
    policy = jax.nn.softmax(jnp.asarray(logits_t), axis=-1)
    q_t = _maybe_stop(jnp.asarray(q_t), stop_q)
    return policy, q_t - jnp.sum(policy * q_t, axis=-1, keepdims=True)


def qpg_loss(
    logits_t: ArrayLike, q_t: ArrayLike, use_stop_gradient: bool = True
) -> Array:
    """Q-based policy gradient (all-actions advantage actor-critic) loss.

    L = −(1/T) Σₜ Σₐ π(a|sₜ) sg(A(sₜ, a)),  A = Q − Σ_b π(b) Q(b)

    Gradients never flow into `q_t` (as in rlax); `use_stop_gradient` controls
    whether they flow through the advantage's baseline Σ_b π(b) Q(b).

    Args:
      logits_t: [T, A] action logits.
      q_t: [T, A] action values.
      use_stop_gradient: stop gradients into the advantages.

    Returns:
      [] the loss.

    References:
      Srinivasan et al., Actor-Critic Policy Optimization in Partially
      Observable Multiagent Environments, 2018.
    """
    policy, adv = _policy_and_advantages(logits_t, q_t, stop_q=True)
    adv = _maybe_stop(adv, use_stop_gradient)
    return jnp.mean(jnp.sum(-policy * adv, axis=-1))


def rm_loss(
    logits_t: ArrayLike, q_t: ArrayLike, use_stop_gradient: bool = True
) -> Array:
    """Regret-matching policy-gradient loss: QPG with advantages clipped at 0.

    L = −(1/T) Σₜ Σₐ π(a|sₜ) sg(max(A(sₜ, a), 0))

    Gradients never flow into `q_t` (as in rlax).

    Args:
      logits_t: [T, A] action logits.
      q_t: [T, A] action values.
      use_stop_gradient: stop gradients into the thresholded regrets.

    Returns:
      [] the loss.

    References:
      Srinivasan et al., Actor-Critic Policy Optimization in Partially
      Observable Multiagent Environments, 2018.
    """
    policy, adv = _policy_and_advantages(logits_t, q_t, stop_q=True)
    regret = _maybe_stop(jax.nn.relu(adv), use_stop_gradient)
    return jnp.mean(jnp.sum(-policy * regret, axis=-1))


def rpg_loss(
    logits_t: ArrayLike, q_t: ArrayLike, use_stop_gradient: bool = True
) -> Array:
    """Regret policy-gradient loss: the mean total positive regret.

    L = (1/T) Σₜ Σₐ max(Q(sₜ, a) − Σ_b π(b|sₜ) Q(sₜ, b), 0)

    The gradient reaches the logits through the baseline Σ_b π(b) Q(b).

    Args:
      logits_t: [T, A] action logits.
      q_t: [T, A] action values.
      use_stop_gradient: stop gradients into `q_t`.

    Returns:
      [] the loss.

    References:
      Srinivasan et al., Actor-Critic Policy Optimization in Partially
      Observable Multiagent Environments, 2018.
    """
    _, adv = _policy_and_advantages(logits_t, q_t, stop_q=use_stop_gradient)
    return jnp.mean(jnp.sum(jax.nn.relu(adv), axis=-1))


class DiscretePolicyEntropyExtra(NamedTuple):
    """Extras of `discrete_policy_entropy_loss`.

    Attributes:
      entropy: [...] the POSITIVE entropy H of each policy, in nats.
    """

    entropy: Array


def discrete_policy_entropy_loss(
    policy_logits: ArrayLike, normalise: bool = False
) -> tuple[Array, DiscretePolicyEntropyExtra]:
    """NEGATIVE mean entropy of a batch of softmax policies, with the entropy.

    L = −mean H(π) / c,  H(π) = −Σₐ π(a) log π(a) ≥ 0,  c = log A if `normalise`
    else 1

    Minimising L raises the entropy; with `normalise` it lies in [−1, 0].

    Args:
      policy_logits: [..., A] action logits (at least one leading axis, e.g.
        [B, A] or [T, B, A]).
      normalise: divide by log A, the entropy of the uniform policy.

    Returns:
      `(loss, extras)`: `loss` [] the negative mean (normalised) entropy;
      `extras.entropy` [...] the positive per-policy entropy (not normalised).
    """
    logits = jnp.asarray(policy_logits)
    if logits.ndim < 2:
        raise ValueError(
            f"policy_logits must have rank >= 2 ([..., A]), got shape {logits.shape}"
        )
    checks.check_dtype(logits, "float", "policy_logits")
    if 0 in logits.shape[:-1]:  # a mean over no policies is NaN
        raise ValueError(
            f"policy_logits must have non-empty leading axes, got shape {logits.shape}"
        )
    if normalise and logits.shape[-1] < 2:
        raise ValueError("normalise=True needs at least 2 actions (log A > 0)")
    entropy = _entropy(logits)
    scale = jnp.log(logits.shape[-1]) if normalise else 1.0
    return -jnp.mean(entropy) / scale, DiscretePolicyEntropyExtra(entropy)


class SequenceAdvantageActorCriticExtra(NamedTuple):
    """Extras of `sequence_advantage_actor_critic_loss` (per sequence unless noted).

    Attributes:
      entropy: [B] POSITIVE policy entropy, summed over time (nats).
      entropy_loss: [B] −entropy_cost · Σₜ H (normalised if asked); ≤ 0; zeros
        when `entropy_cost` is None.
      baseline_loss: [B] baseline_cost · ½ Σₜ (Gₜ − Vₜ)².
      policy_gradient_loss: [B] −Σₜ sg(Gₜ − Vₜ) log π(aₜ|sₜ).
      advantages: [T, B] Gₜ − Vₜ (stop-gradiented); also `td_error`.
      discounted_returns: [T, B] the λ-returns Gₜ (stop-gradiented); also `target`.
    """

    entropy: Array
    entropy_loss: Array
    baseline_loss: Array
    policy_gradient_loss: Array
    advantages: Array
    discounted_returns: Array

    @property
    def td_error(self) -> Array:
        """[T, B] alias of `advantages`, the house name for batched losses."""
        return self.advantages

    @property
    def target(self) -> Array:
        """[T, B] alias of `discounted_returns`, the regression target of V."""
        return self.discounted_returns


def sequence_advantage_actor_critic_loss(
    policy_logits: ArrayLike,
    baseline_values: ArrayLike,
    actions: ArrayLike,
    rewards: ArrayLike,
    pcontinues: ArrayLike,
    bootstrap_value: ArrayLike,
    lambda_: ArrayLike = 1.0,
    entropy_cost: float | None = None,
    baseline_cost: float = 1.0,
    normalise_entropy: bool = False,
) -> tuple[Array, SequenceAdvantageActorCriticExtra]:
    """Advantage actor-critic (A2C, or GAE with λ < 1) loss over time-major batches.

    L = mean_b Σₜ [−sg(Gₜ − Vₜ) log π(aₜ|sₜ) + c_V ½ (sg(Gₜ) − Vₜ)² − c_H H(π(·|sₜ))]

    Gₜ = rₜ + pₜ ((1 − λ) Vₜ₊₁ + λ Gₜ₊₁), with V_T = G_T = `bootstrap_value`.
    Gradients reach `policy_logits` and `baseline_values` only. TRFL's op of the
    same name returns the per-sequence loss [B]; here `loss` is its mean over the
    batch (the per-sequence parts are in the extras).

    Args:
      policy_logits: [T, B, A] action logits.
      baseline_values: [T, B] state values Vₜ.
      actions: [T, B] int actions taken.
      rewards: [T, B] rewards rₜ received after `actions`.
      pcontinues: [T, B] discounts pₜ = γ (1 − terminatedₜ).
      bootstrap_value: [B] value V_T of the state after the last step.
      lambda_: [] or [T, B] λ of the λ-returns (1: n-step returns, A2C).
      entropy_cost: c_H ≥ 0, or None for no entropy term.
      baseline_cost: c_V, scale of the baseline regression.
      normalise_entropy: divide the entropy term by log A.

    Returns:
      `(loss, extras)`: `loss` [] as above; `extras` a
      `SequenceAdvantageActorCriticExtra` (its `entropy` is positive).

    References:
      Mnih et al., Asynchronous Methods for Deep Reinforcement Learning, 2016.
      Schulman et al., High-Dimensional Continuous Control Using Generalized
      Advantage Estimation, 2016.
    """
    dims = checks.check_shapes(
        {
            "policy_logits": (policy_logits, "T B A", "float"),
            "baseline_values": (baseline_values, "T B", "float"),
            "actions": (actions, "T B", "int"),
            "rewards": (rewards, "T B", "number"),
            "pcontinues": (pcontinues, "T B", "number"),
            "bootstrap_value": (bootstrap_value, "B", "float"),
        }
    )
    lam = _broadcast_lambda(lambda_, dims["T"], dims["B"])
    values = jnp.asarray(baseline_values)
    next_values = jnp.concatenate([values[1:], jnp.asarray(bootstrap_value)[None]])
    # λ-returns of each sequence (time axis 0), stop-gradiented.
    returns = jax.vmap(multistep.lambda_returns, in_axes=1, out_axes=1)(
        rewards, pcontinues, next_values, lam
    )
    td = returns - values
    adv = jax.lax.stop_gradient(td)
    log_pi = transforms.batched_index(jax.nn.log_softmax(policy_logits), actions)
    pg_loss = jnp.sum(-log_pi * adv, axis=0)
    baseline_loss = baseline_cost * jnp.sum(losses.l2_loss(td), axis=0)
    entropy = jnp.sum(_entropy(jnp.asarray(policy_logits)), axis=0)
    entropy_loss = _scaled_entropy_loss(
        entropy, entropy_cost, normalise_entropy, dims["A"]
    )
    extras = SequenceAdvantageActorCriticExtra(
        entropy, entropy_loss, baseline_loss, pg_loss, adv, returns
    )
    return jnp.mean(pg_loss + baseline_loss + entropy_loss), extras


def _broadcast_lambda(lambda_, t: int, b: int) -> Array:
    if jnp.ndim(lambda_) not in (0, 2):
        raise ValueError(
            f"lambda_ must be a scalar or have shape [T, B] = ({t}, {b}), "
            f"got shape {jnp.shape(lambda_)}"
        )
    if jnp.ndim(lambda_) == 2:
        checks.check_shapes({"lambda_": (lambda_, f"{t} {b}")})
    checks.check_in_range(lambda_, 0.0, 1.0, "lambda_")
    return jnp.broadcast_to(jnp.asarray(lambda_, jnp.float32), (t, b))


def _scaled_entropy_loss(entropy, entropy_cost, normalise: bool, num_actions: int):
    if entropy_cost is None:
        return jnp.zeros_like(entropy)
    checks.check_in_range(entropy_cost, 0.0, float("inf"), "entropy_cost")
    if normalise and num_actions < 2:
        raise ValueError("normalise_entropy=True needs at least 2 actions")
    scale = jnp.log(num_actions) if normalise else 1.0
    return -entropy_cost * entropy / scale

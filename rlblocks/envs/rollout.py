"""Fully-jitted rollouts: `jax.lax.scan` over time, `jax.vmap` over environments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from rlblocks._src import types
from rlblocks.envs import base


class Trajectory(NamedTuple):
    """A time-major batch of transitions from `rollout` (T steps, N environments).

    Attributes:
      obs: [T, N, *O] observation the action was chosen from.
      action: [T, N, *A] action taken.
      reward: [T, N] reward received.
      terminated: [T, N] bool, the step reached a terminal state (discount 0).
      truncated: [T, N] bool, the step hit the time limit (bootstrap from
        `next_obs`).
      next_obs: [T, N, *O] observation reached, before any reset: the final
        observation of an episode that ended, else equal to `obs[t + 1]`.
      policy_extras: whatever the policy returned besides the action (log-probs,
        values, ...), each leaf with leading axes [T, N].
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array
    policy_extras: Any


PolicyFn = Callable[[Any, types.PRNGKey, jax.Array], tuple[jax.Array, Any]]


def rollout(
    key: types.PRNGKey,
    env: base.Env,
    policy_fn: PolicyFn,
    params: Any,
    env_state: Any,
    num_steps: int,
    *,
    batched_policy: bool = False,
) -> tuple[Any, Trajectory]:
    """Run N environments for T steps with autoreset, in one `lax.scan`.

    aₜ, extrasₜ = policy_fn(params, key, oₜ); sₜ₊₁ = step_autoreset_batch(sₜ, aₜ).

    Args:
      key: PRNG key for the policy and the environments.
      env: the environment.
      policy_fn: `policy_fn(params, key, obs) -> (action, extras)` on ONE
        observation [*O] (vmapped over environments here); `extras` is any pytree
        of arrays (e.g. `()`, or log-probability and value estimate).
      params: policy parameters, shared by all environments.
      env_state: environment states with a leading axis [N] (see `reset_batch`).
      num_steps: T, the number of steps (a Python int).
      batched_policy: if True, `policy_fn(params, key, obs [N, *O])` acts for
        the whole batch with one key per step (no per-environment key split).

    Returns:
      `(env_state, trajectory)`: the states to continue from (their observations
      are `env.observe(env_state)`, for bootstrapping) and a time-major
      `Trajectory` with leading axes [T, N].
    """
    base.check_count(num_steps, "num_steps")
    observe = jax.vmap(env.observe)
    num_envs = jax.tree.leaves(env_state)[0].shape[0]
    if batched_policy:
        act = policy_fn
    else:
        vmapped = jax.vmap(policy_fn, in_axes=(None, 0, 0))
        act = lambda p, k, o: vmapped(p, jax.random.split(k, num_envs), o)  # noqa: E731

    def one_step(carry, step_key):
        state, obs = carry
        policy_key, env_key = jax.random.split(step_key)
        action, extras = act(params, policy_key, obs)
        out = base.step_autoreset_batch(env, env_key, state, action)
        transition = Trajectory(
            obs,
            action,
            out.reward,
            out.terminated,
            out.truncated,
            out.next_obs,
            extras,
        )
        return (out.state, out.obs), transition

    carry = (env_state, observe(env_state))
    (env_state, _), trajectory = jax.lax.scan(
        one_step, carry, jax.random.split(key, num_steps)
    )
    return env_state, trajectory

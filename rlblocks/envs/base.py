"""The environment interface, its spec, and autoreset for vectorized stepping.

An environment is a NamedTuple of pure functions over a NamedTuple state of arrays:

    state, obs = env.reset(key)
    state, obs, reward, terminated, truncated = env.step(key, state, action)

Both act on ONE environment; `jax.vmap` them for a batch. The state carries the
time-step counter, so the time limit (`truncated`) needs no host-side wrapper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import checks, types


class EnvSpec(NamedTuple):
    """Static description of an environment (plain Python values, safe to close over).

    Attributes:
      name: the gymnasium id this environment ports, e.g. "CartPole-v1".
      observation_shape: shape of one observation, e.g. (4,).
      num_actions: number of discrete actions; None for continuous actions.
      action_shape: shape of one action: () for discrete, (1,) for Pendulum.
      action_low: lower bound of a continuous action; None for discrete.
      action_high: upper bound of a continuous action; None for discrete.
      max_episode_steps: time limit; `truncated` is True on the step that reaches it.
    """

    name: str
    observation_shape: tuple[int, ...]
    num_actions: int | None
    action_shape: tuple[int, ...]
    action_low: float | None
    action_high: float | None
    max_episode_steps: int


class Env(NamedTuple):
    """A pure-JAX environment: functions over one environment's state.

    Attributes:
      reset: `reset(key) -> (state, obs)`.
      step: `step(key, state, action) -> (state, obs, reward, terminated, truncated)`.
      spec: the `EnvSpec`.
      observe: `observe(state) -> obs`, the observation of a state.
    """

    reset: Callable[[types.PRNGKey], tuple[Any, jax.Array]]
    step: Callable[..., tuple[Any, jax.Array, jax.Array, jax.Array, jax.Array]]
    spec: EnvSpec
    observe: Callable[[Any], jax.Array]


class AutoResetStep(NamedTuple):
    """The result of `step_autoreset` (one environment; leading axes under vmap).

    Attributes:
      state: the state to act from next: the reset state if the episode ended.
      obs: [*O] its observation (the reset observation if the episode ended).
      reward: [] reward of the step.
      terminated: [] bool, the step reached a terminal state.
      truncated: [] bool, the step reached the time limit.
      next_obs: [*O] the observation the step reached, before any reset: the
        episode's final observation when it ended (bootstrap from it on truncation).
    """

    state: Any
    obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array


def step_autoreset(
    env: Env, key: types.PRNGKey, state: Any, action: types.ArrayLike
) -> AutoResetStep:
    """Step one environment and reset it in the same step if its episode ended.

    sₜ₊₁ ← reset() if terminatedₜ₊₁ or truncatedₜ₊₁ else step(sₜ, aₜ).

    Under `jax.vmap` every environment resets independently: those whose episode
    goes on are stepped as usual, never paused. The reward, flags and `next_obs`
    belong to the transition taken; `obs` and `state` are what to act from next.

    Args:
      env: the environment.
      key: PRNG key, split for the step and the possible reset.
      state: the environment state.
      action: [*A] the action.

    Returns:
      An `AutoResetStep(state, obs, reward, terminated, truncated, next_obs)`.
    """
    step_key, reset_key = jax.random.split(key)
    next_state, next_obs, reward, terminated, truncated = env.step(
        step_key, state, action
    )
    reset_state, reset_obs = env.reset(reset_key)
    done = jnp.logical_or(terminated, truncated)
    new_state = jax.tree.map(
        lambda r, n: jnp.where(done, r, n), reset_state, next_state
    )
    obs = jnp.where(done, reset_obs, next_obs)
    return AutoResetStep(new_state, obs, reward, terminated, truncated, next_obs)


def step_autoreset_batch(
    env: Env, key: types.PRNGKey, state: Any, action: types.ArrayLike
) -> AutoResetStep:
    """Step N environments with autoreset, drawing resets only when one is needed.

    sⁱₜ₊₁ ← reset() if episode i ended else step(sⁱₜ, aⁱₜ), for i < N.

    Same result as `jax.vmap` of `step_autoreset` (with other random draws), but the
    N reset states are drawn under a `lax.cond` on "any episode ended", so steps in
    which no episode ends skip the reset randomness. Environments never pause.

    Args:
      env: the environment.
      key: one PRNG key for the whole batch.
      state: environment states with a leading axis [N].
      action: [N, *A] actions.

    Returns:
      An `AutoResetStep` whose leaves have a leading axis [N].
    """
    num_envs = jax.tree.leaves(state)[0].shape[0]
    step_key, reset_key = jax.random.split(key)
    step_keys = jax.random.split(step_key, num_envs)
    next_state, next_obs, reward, terminated, truncated = jax.vmap(env.step)(
        step_keys, state, action
    )
    done = jnp.logical_or(terminated, truncated)

    def reset_done():
        fresh = reset_batch(env, reset_key, num_envs)
        keep = (next_state, next_obs)
        pick = lambda r, n: jnp.where(_expand(done, n.ndim), r, n)  # noqa: E731
        return jax.tree.map(pick, fresh, keep)

    new_state, obs = jax.lax.cond(
        jnp.any(done), reset_done, lambda: (next_state, next_obs)
    )
    return AutoResetStep(new_state, obs, reward, terminated, truncated, next_obs)


def _expand(done: jax.Array, ndim: int) -> jax.Array:
    return done.reshape(done.shape + (1,) * (ndim - done.ndim))


def reset_batch(env: Env, key: types.PRNGKey, num_envs: int) -> tuple[Any, jax.Array]:
    """Reset `num_envs` independent environments.

    Args:
      env: the environment.
      key: PRNG key, split into one key per environment.
      num_envs: the batch size N (a Python int).

    Returns:
      `(state, obs)` with a leading axis [N] on every leaf.
    """
    check_count(num_envs, "num_envs")
    return jax.vmap(env.reset)(jax.random.split(key, num_envs))


def check_count(value, name: str) -> int:
    """Return `value` as an int, raising ValueError unless it is an integer >= 1."""
    if not checks.is_integer(value) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def time_limit(time: jax.Array, max_episode_steps: int) -> tuple[jax.Array, jax.Array]:
    """Advance the step counter and flag the time limit (gymnasium's TimeLimit).

    tₜ₊₁ = tₜ + 1, truncated = tₜ₊₁ ≥ max_episode_steps.

    Args:
      time: [] int32 steps taken so far in the episode.
      max_episode_steps: the time limit.

    Returns:
      `(time + 1, truncated)`.
    """
    time = time + 1
    return time, time >= max_episode_steps

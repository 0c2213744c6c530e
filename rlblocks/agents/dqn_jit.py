"""DQN trained entirely inside one jitted call, on the pure-JAX environments.

`dqn_jit(config, env, num_envs=..., total_steps=...)` drives the DQN agent of
`rlblocks.agents.dqn` (its `init`, `step` and `q_values`, unchanged: epsilon-greedy
acting, n-step transitions into an in-jit `rlblocks.replay` buffer, the TD update
when due) with `N` vmapped environments stepped by `envs.step_autoreset_batch`,
all in one `lax.scan`. Training is cut into `num_evals` chunks, each followed by a
greedy evaluation, so `train(key)` is one compiled program and `jax.vmap(train)`
trains many seeds at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlblocks import envs
from rlblocks._src import types
from rlblocks.agents import dqn as dqn_lib


class RunState(NamedTuple):
    """Everything the training scan carries."""

    agent: dqn_lib.DQNState
    env_state: Any  # leaves [N, ...]
    obs: jax.Array  # [N, *O] observations to act from
    actions: jax.Array  # [N] actions chosen for `obs`
    episode_return: jax.Array  # [N] return of the episodes in progress
    key: jax.Array


class RunMetrics(NamedTuple):
    """Per-chunk metrics (leading axis [num_evals] after `train`)."""

    env_steps: jax.Array  # [] env steps (all envs) at the end of the chunk
    episode_return: jax.Array  # [] mean return of episodes ended in the chunk
    episodes: jax.Array  # [] number of episodes ended in the chunk
    loss: jax.Array  # [] mean TD loss of the chunk's updates
    eval_return: jax.Array  # [] mean greedy return after the chunk


class DQNJit(NamedTuple):
    """Pure functions of a fully-jitted DQN run.

    Attributes:
      init: `init(key) -> RunState`.
      train: `train(key) -> (RunState, RunMetrics)`, the whole run.
      evaluate: `evaluate(params, key) -> [E]` greedy returns of E episodes.
      agent: the underlying `dqn.DQN` functions.
    """

    init: Callable[[types.PRNGKey], RunState]
    train: Callable[[types.PRNGKey], tuple[RunState, RunMetrics]]
    evaluate: Callable[[Any, types.PRNGKey], jax.Array]
    agent: dqn_lib.DQN


def dqn_jit(
    config: dqn_lib.DQNConfig,
    env: envs.Env,
    *,
    num_envs: int = 4,
    total_steps: int = 100_000,
    num_evals: int = 10,
    eval_episodes: int = 10,
    grad_transform: Callable | None = None,
    rank: int = 0,
) -> DQNJit:
    """Build a fully-jitted DQN run on a discrete-action pure-JAX `env`.

    aₜ ~ ε-greedy(q(oₜ)); (oₜ, aₜ, rₜ₊₁, oₜ₊₁) → replay; one TD step per
    `train_frequency` env steps, as `dqn.dqn(...).step`.

    Args:
      config: the DQN hyperparameters; `learning_rate_decay_updates=-1` becomes
        the run's number of updates, as in the host runtime.
      env: a pure-JAX environment with discrete actions.
      num_envs: N, environments stepped together.
      total_steps: env-step budget over all N envs (rounded down to a multiple of
        `N * num_evals`).
      num_evals: chunks of training, each followed by a greedy evaluation.
      eval_episodes: episodes per evaluation (one fresh env each).
      grad_transform: applied to gradients before the optimizer (e.g.
        `rlblocks.distributed.average_gradients`; do not vmap seeds then).
      rank: data-parallel rank; if not 0, the environment, exploration and
        replay-sampling keys (not the parameter key) are folded with it.

    Returns:
      A `DQNJit(init, train, evaluate, agent)`.

    References:
      Mnih et al., "Human-level control through deep reinforcement learning", 2015.
    """
    spec = env.spec
    if spec.num_actions is None:
        raise ValueError(f"dqn_jit needs discrete actions, {spec.name} has none")
    steps_per_chunk = total_steps // (num_envs * num_evals)
    if steps_per_chunk < 1:
        raise ValueError(
            f"total_steps ({total_steps}) must be >= num_envs * num_evals "
            f"({num_envs} * {num_evals})"
        )
    config = _resolve(config, steps_per_chunk * num_envs * num_evals)
    example = jnp.zeros(spec.observation_shape, jnp.float32)
    agent = dqn_lib.dqn(
        config, spec.num_actions, example, num_envs, grad_transform=grad_transform
    )

    def init(key):
        agent_key, env_key, act_key, key = jax.random.split(key, 4)
        state = agent.init(agent_key)
        if rank:
            fold = lambda k: jax.random.fold_in(k, rank)  # noqa: E731
            env_key, act_key, key = fold(env_key), fold(act_key), fold(key)
            state = state._replace(key=fold(state.key))
        env_state, obs = envs.reset_batch(env, env_key, num_envs)
        actions = agent.act(state.params, act_key, obs, agent.epsilon(0))
        zeros = jnp.zeros(num_envs, jnp.float32)
        return RunState(state, env_state, obs, actions, zeros, key)

    def env_step(run, _):
        env_key, key = jax.random.split(run.key)
        out = envs.step_autoreset_batch(env, env_key, run.env_state, run.actions)
        transition = dqn_lib.Transition(
            run.obs,
            run.actions,
            out.reward,
            out.terminated,
            out.truncated,
            out.next_obs,
        )
        state, actions, metrics = agent.step(run.agent, transition, out.obs)
        ret = run.episode_return + out.reward
        done = out.terminated | out.truncated
        ended = (jnp.sum(jnp.where(done, ret, 0.0)), jnp.sum(done))
        run = RunState(
            state, out.state, out.obs, actions, jnp.where(done, 0.0, ret), key
        )
        return run, (ended, metrics["loss"])

    def evaluate(params, key):
        return greedy_returns(env, agent.q_values, params, key, eval_episodes)

    def chunk(run, _):
        run, ((ret_sum, ended), loss) = jax.lax.scan(
            env_step, run, None, length=steps_per_chunk
        )
        eval_key, key = jax.random.split(run.key)
        count = jnp.sum(ended)
        metrics = RunMetrics(
            run.agent.env_steps,
            jnp.sum(ret_sum) / jnp.maximum(count, 1),
            count,
            jnp.nanmean(loss),
            jnp.mean(evaluate(run.agent.params, eval_key)),
        )
        return run._replace(key=key), metrics

    def train(key):
        return jax.lax.scan(chunk, init(key), None, length=num_evals)

    return DQNJit(init, train, evaluate, agent)


def _resolve(config: dqn_lib.DQNConfig, total_steps: int) -> dqn_lib.DQNConfig:
    """Turn `learning_rate_decay_updates=-1` into the run's number of updates."""
    if config.learning_rate_decay_updates != -1:
        return config
    updates = max((total_steps - config.learning_starts) // config.train_frequency, 1)
    return dataclasses.replace(config, learning_rate_decay_updates=updates)


def greedy_returns(
    env: envs.Env,
    q_values: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    key: types.PRNGKey,
    num_episodes: int,
) -> jax.Array:
    """Undiscounted returns of `num_episodes` greedy episodes, run side by side.

    G = Σₜ rₜ until termination or the time limit, aₜ = argmax_a q(oₜ, a).

    Args:
      env: a pure-JAX environment with discrete actions.
      q_values: `q_values(params, obs [E, *O]) -> [E, A]`.
      params: the network parameters.
      key: PRNG key for the resets.
      num_episodes: E, episodes (one environment each, no autoreset).

    Returns:
      [E] float32 returns.
    """
    state, obs = envs.reset_batch(env, key, num_episodes)
    step = jax.vmap(env.step, in_axes=(None, 0, 0))

    def one(carry, _):
        state, obs, alive, ret = carry
        actions = jnp.argmax(q_values(params, obs), axis=-1).astype(jnp.int32)
        state, obs, reward, terminated, truncated = step(key, state, actions)
        ret = ret + jnp.where(alive, reward, 0.0)
        alive = alive & ~(terminated | truncated)
        return (state, obs, alive, ret), None

    alive = jnp.ones(num_episodes, bool)
    carry = (state, obs, alive, jnp.zeros(num_episodes, jnp.float32))
    (_, _, _, ret), _ = jax.lax.scan(
        one, carry, None, length=env.spec.max_episode_steps
    )
    return ret

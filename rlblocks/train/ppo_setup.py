"""PPO settings for the runtime: per-environment presets (A2C among them), the
`EnvSpec` of a gymnasium env, and the deterministic evaluation policy.

A2C is the PPO preset `A2C`: one epoch of one minibatch per rollout (the ratio ρ is
exactly 1 where the gradient is taken, so the clipped surrogate's gradient is the
policy gradient −A ∇log π), T = 5 steps of 16 envs, λ = 1 (n-step advantages),
unnormalised advantages and a constant step size (Adam, where the A2C paper used
RMSProp).
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from rlblocks import envs as jax_envs
from rlblocks.agents import ppo as ppo_lib

# Settings that learn the two target tasks (see benchmarks/README.md).
CARTPOLE = ppo_lib.PPOConfig(
    num_envs=8,
    num_steps=32,
    update_epochs=20,
    num_minibatches=1,
    gamma=0.98,
    gae_lambda=0.8,
    entropy_cost=0.0,
    learning_rate=1e-3,
)
PENDULUM = ppo_lib.PPOConfig(
    num_envs=16,
    num_steps=128,
    update_epochs=10,
    num_minibatches=4,
    gamma=0.9,
    entropy_cost=0.0,
    learning_rate=1e-3,
    reward_scale=0.1,
)
# Fully-jitted CartPole at >= 1M env steps/s on one core (pure-JAX env): 512 envs
# x 16 steps, one epoch of 4 minibatches, 16-unit layers, rewards x 0.1 (values
# up to ~10, so the value gradient does not crowd the policy gradient out of the
# 0.5 norm clip). 10/10 seeds greedy 500 from ~1M steps (benchmarks/README.md).
CARTPOLE_WIDE = ppo_lib.PPOConfig(
    num_envs=512,
    num_steps=16,
    total_steps=2_000_000,
    update_epochs=1,
    num_minibatches=4,
    learning_rate=3e-3,
    hidden_sizes=(16, 16),
    reward_scale=0.1,
)
A2C = ppo_lib.PPOConfig(
    num_envs=16,
    num_steps=5,
    update_epochs=1,
    num_minibatches=1,
    gae_lambda=1.0,
    learning_rate=7e-4,
    anneal_lr=False,
    normalize_advantages=False,
)


def preset(agent: str, env_id: str) -> ppo_lib.PPOConfig:
    """The default config of `rlblocks train <agent> --env <env_id>`."""
    if agent == "a2c":
        return A2C
    return {"CartPole-v1": CARTPOLE, "Pendulum-v1": PENDULUM}.get(
        env_id, ppo_lib.PPOConfig()
    )


def env_spec(env_id: str, env: gym.vector.VectorEnv) -> jax_envs.EnvSpec:
    """The `EnvSpec` of a gymnasium vector env (Discrete or 1-D Box actions)."""
    obs_space, act_space = env.single_observation_space, env.single_action_space
    limit = gym.spec(env_id).max_episode_steps or 0
    obs_shape = tuple(obs_space.shape)
    if isinstance(act_space, gym.spaces.Discrete):
        return jax_envs.EnvSpec(
            env_id, obs_shape, int(act_space.n), (), None, None, limit
        )
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
        low, high = float(act_space.low.min()), float(act_space.high.max())
        return jax_envs.EnvSpec(
            env_id, obs_shape, None, tuple(act_space.shape), low, high, limit
        )
    raise ValueError(
        f"env {env_id!r}: PPO needs Discrete or 1-D Box actions, got {act_space}"
    )


def deterministic_policy(parts: ppo_lib.PPOLearner, spec, params):
    """Host policy obs [N, ...] -> argmax actions [N] or clipped means [N, A]."""
    if spec.num_actions is None:
        fn = lambda p, o: jnp.clip(  # noqa: E731
            parts.apply(p, o)[0], spec.action_low, spec.action_high
        )
    else:
        fn = lambda p, o: parts.apply(p, o)[0].argmax(-1)  # noqa: E731
    fn = jax.jit(fn)
    return lambda obs: np.asarray(fn(params, obs))

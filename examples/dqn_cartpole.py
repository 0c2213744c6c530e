"""DQN on CartPole-v1, written from rlblocks blocks in one file (no runtime).

    python examples/dqn_cartpole.py --steps=100000 --seed=0 --n_step=3

Blocks used: `rlb.double_q_learning_loss` (the TD loss), `rlb.epsilon_greedy` and
`rlb.linearly_decaying_epsilon` (exploration), `rlb.incremental_update` (Polyak target
network) and `rlb.replay.uniform_buffer` (device replay). The environment is a
gymnasium vector env in same-step autoreset mode, so the reset step never enters
replay, and time-limit truncation bootstraps while termination does not.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import NamedTuple

import flax.linen as nn
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

import rlblocks as rlb


@dataclasses.dataclass(frozen=True)
class Config:
    env_id: str = "CartPole-v1"
    steps: int = 100_000  # environment steps, all envs together
    num_envs: int = 4
    seed: int = 0
    gamma: float = 0.99
    learning_rate: float = 1e-3
    batch_size: int = 128
    replay_capacity: int = 50_000
    learning_starts: int = 2_000
    train_frequency: int = 2  # env steps per gradient step
    target_tau: float = 0.01
    epsilon_end: float = 0.02
    epsilon_decay_steps: int = 20_000
    hidden: int = 128
    eval_episodes: int = 10


class QNet(nn.Module):
    num_actions: int
    hidden: int

    @nn.compact
    def __call__(self, obs):
        x = nn.relu(nn.Dense(self.hidden)(obs))
        x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.num_actions)(x)


class Transition(NamedTuple):
    obs_tm1: jax.Array
    a_tm1: jax.Array
    r_t: jax.Array
    discount_t: jax.Array
    obs_t: jax.Array


class State(NamedTuple):
    params: dict
    target: dict
    opt_state: tuple
    replay: tuple
    key: jax.Array
    step: jax.Array


def make_agent(config: Config, obs_size: int, num_actions: int, grad_transform=None):
    """Pure init and one fused `train_step` (store, update when due, act)."""
    net = QNet(num_actions, config.hidden)
    optimizer = optax.chain(
        optax.clip_by_global_norm(10.0), optax.adam(config.learning_rate)
    )
    replay = rlb.replay.uniform_buffer(config.replay_capacity)
    policy = rlb.epsilon_greedy()
    epsilon = rlb.linearly_decaying_epsilon(
        config.epsilon_decay_steps, config.learning_starts, config.epsilon_end
    )

    def init(key):
        params = net.init(key, jnp.zeros((1, obs_size)))
        obs, zero = jnp.zeros(obs_size), jnp.zeros(())
        item = Transition(obs, jnp.zeros((), jnp.int32), zero, zero, obs)
        state = State(params, params, optimizer.init(params), replay.init(item), key, 0)
        return jax.tree.map(jnp.copy, state)  # own buffers: the state is donated

    def loss_fn(params, target, batch):
        q_tm1, q_select = jnp.split(
            net.apply(params, jnp.concatenate([batch.obs_tm1, batch.obs_t])), 2
        )
        q_t = net.apply(target, batch.obs_t)
        return rlb.double_q_learning_loss(
            q_tm1, batch.a_tm1, batch.r_t, batch.discount_t, q_t, q_select
        )

    def update(state):
        key, sample_key = jax.random.split(state.key)
        batch = replay.sample(state.replay, sample_key, config.batch_size).item
        (_loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.target, batch
        )
        if grad_transform is not None:
            grads = grad_transform(grads)
        deltas, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, deltas)
        target = rlb.incremental_update(params, state.target, config.target_tau)
        return state._replace(
            params=params, target=target, opt_state=opt_state, key=key
        )

    def train_step(state, transitions, next_obs):
        n = next_obs.shape[0]
        state = state._replace(
            replay=replay.add(state.replay, transitions), step=state.step + n
        )
        due = (state.step >= config.learning_starts) & (
            state.step // config.train_frequency
            > (state.step - n) // config.train_frequency
        )
        state = jax.lax.cond(due, update, lambda s: s, state)
        key, act_key = jax.random.split(state.key)
        q = net.apply(state.params, next_obs)
        keys = jax.random.split(act_key, n)
        eps = epsilon(state.step)
        actions = jax.vmap(policy.sample, in_axes=(0, 0, None))(keys, q, eps)
        return state._replace(key=key), actions

    greedy = jax.jit(lambda params, obs: net.apply(params, obs).argmax(-1))
    return init, jax.jit(train_step, donate_argnums=0), greedy


def make_env(config: Config, num_envs: int):
    return gym.vector.SyncVectorEnv(
        [lambda: gym.make(config.env_id)] * num_envs,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


def evaluate(config: Config, greedy, params, seed: int) -> np.ndarray:
    """Greedy returns of `eval_episodes` episodes, one per sub-environment."""
    env = make_env(config, config.eval_episodes)
    obs, _ = env.reset(seed=seed)
    returns, running = (
        np.zeros(config.eval_episodes),
        np.ones(config.eval_episodes, bool),
    )
    while running.any():
        obs, r, term, trunc, _ = env.step(np.asarray(greedy(params, obs)))
        returns += r * running
        running &= ~(term | trunc)
    return returns


def collect(env, obs, actions, gamma):
    """Step the env; return replay transitions and the next observations."""
    next_obs, reward, terminated, truncated, info = env.step(actions)
    final = next_obs.copy()  # the true next state: final_obs where an episode ended
    for i in np.flatnonzero(info.get("_final_obs", [])):
        final[i] = info["final_obs"][i]
    discount = gamma * (1.0 - terminated)  # truncation keeps the bootstrap
    batch = Transition(
        obs,
        actions.astype(np.int32),
        reward.astype(np.float32),
        discount.astype(np.float32),
        final,
    )
    return batch, next_obs, reward, terminated | truncated


def main(config: Config, grad_transform=None, env_seed=None) -> dict:
    """Train; return the final greedy evaluation and episode statistics."""
    env = make_env(config, config.num_envs)
    obs_size = env.single_observation_space.shape[0]
    init, train_step, greedy = make_agent(
        config, obs_size, int(env.single_action_space.n), grad_transform
    )
    state = init(jax.random.PRNGKey(config.seed))
    seed = config.seed if env_seed is None else env_seed
    state = state._replace(key=jax.random.PRNGKey(seed + 1))
    obs, _ = env.reset(seed=seed)
    actions = env.action_space.sample()
    episode_return, returns = np.zeros(config.num_envs), []
    for _ in range(config.steps // config.num_envs):
        batch, obs, reward, done = collect(env, obs, actions, config.gamma)
        state, actions = train_step(state, batch, obs)
        actions = np.asarray(actions)
        episode_return += reward
        returns.extend(episode_return[done])
        episode_return[done] = 0.0
    evals = evaluate(config, greedy, state.params, seed=10_000 + config.seed)
    return {
        "eval_mean": float(evals.mean()),
        "eval_std": float(evals.std()),
        "episodes": len(returns),
        "last_train_returns": float(np.mean(returns[-10:]))
        if returns
        else float("nan"),
        "params": state.params,
    }


def parse(argv: list[str], config):
    """Apply `--field=value` overrides to a Config."""
    fields = {f.name: f.type for f in dataclasses.fields(config)}
    for arg in argv:
        name, value = arg.removeprefix("--").split("=", 1)
        if name not in fields:
            raise SystemExit(f"unknown field {name!r}; fields: {', '.join(fields)}")
        kind = {"int": int, "float": float, "str": str}[fields[name]]
        config = dataclasses.replace(
            config, **{name: kind(float(value)) if kind is int else kind(value)}
        )
    return config


if __name__ == "__main__":
    result = main(parse(sys.argv[1:], Config()))
    result.pop("params")
    print(result)

"""Fully-jitted DQN: smoke tests on tiny budgets (learning runs are benchmarks)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlblocks import envs
from rlblocks.agents import dqn, dqn_jit

TINY = dqn.DQNConfig(
    batch_size=8,
    replay_capacity=64,
    learning_starts=16,
    hidden_sizes=(8,),
    epsilon_decay_steps=32,
    target_update_period=4,
    target_tau=1.0,
)


def _run(config=TINY, **kw):
    kw = {"num_envs": 2, "total_steps": 96, "num_evals": 2, "eval_episodes": 3} | kw
    return dqn_jit.dqn_jit(config, envs.cartpole(), **kw)


def test_train_runs_jitted_and_updates():
    run = _run()
    state, metrics = jax.jit(run.train)(jax.random.key(0))
    # 96 steps / (2 envs * 2 chunks) = 24 vector steps per chunk
    np.testing.assert_array_equal(metrics.env_steps, [48, 96])
    # updates: from env step 16 on, one per 2 env steps: (96 - 16) / 2 + 1 = 41
    # (the step reaching 16 updates once per 2 envs, as in `dqn.step`)
    assert int(state.agent.updates) == (96 - 16) // 2 + 1
    assert np.all(np.isfinite(metrics.loss))
    assert int(state.agent.replay.size) == 64  # full: 96 - 2 (3-step delay) > 64
    assert metrics.eval_return.shape == (2,)
    assert np.all((metrics.eval_return >= 1) & (metrics.eval_return <= 500))
    init = run.init(jax.random.key(0))
    changed = jax.tree.map(
        lambda a, b: not np.allclose(a, b), state.agent.params, init.agent.params
    )
    assert all(jax.tree.leaves(changed))


def test_seeds_vmapped_equal_separate_runs():
    run = _run(config=dataclasses.replace(TINY, prioritized=True))
    keys = jax.random.split(jax.random.key(3), 2)
    both_state, both = jax.jit(jax.vmap(run.train))(keys)
    train = jax.jit(run.train)
    for i in range(2):
        state, one = train(keys[i])
        np.testing.assert_allclose(both.loss[i], one.loss, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(both.episodes[i], one.episodes)
        np.testing.assert_array_equal(both.eval_return[i], one.eval_return)
        got = jax.tree.map(lambda x, i=i: x[i], both_state.agent.params)
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
            got,
            state.agent.params,
        )
    assert not np.allclose(both.loss[0], both.loss[1])


def test_greedy_returns_match_a_python_loop():
    env = envs.cartpole()
    right = lambda params, obs: jnp.stack(  # noqa: E731
        [obs[:, 0] * 0.0, obs[:, 0] * 0.0 + params], -1
    )
    key = jax.random.key(7)
    got = dqn_jit.greedy_returns(env, right, 1.0, key, 4)
    states, _ = envs.reset_batch(env, key, 4)
    want = []
    for i in range(4):
        state, ret = jax.tree.map(lambda x, i=i: x[i], states), 0.0
        for _ in range(env.spec.max_episode_steps):
            state, _, reward, terminated, truncated = env.step(key, state, 1)
            ret += float(reward)
            if terminated or truncated:
                break
        want.append(ret)
    # always pushing right ends a CartPole episode after ~8-10 steps
    assert all(5 <= w <= 20 for w in want)
    np.testing.assert_array_equal(got, want)


def test_bad_budget_and_continuous_env_raise():
    with pytest.raises(ValueError, match="total_steps"):
        _run(total_steps=3)
    with pytest.raises(ValueError, match="discrete"):
        dqn_jit.dqn_jit(TINY, envs.pendulum())

"""Fully-jitted PPO: smoke tests on tiny budgets (learning runs are benchmarks)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlblocks import envs
from rlblocks.agents import ppo

TINY = ppo.PPOConfig(
    num_envs=2,
    num_steps=8,
    total_steps=48,
    update_epochs=2,
    num_minibatches=2,
    hidden_sizes=(8,),
)


def _gae_reference(reward, terminated, truncated, values, next_values, gamma, lam):
    """Slow numpy GAE over [T, N] with terminations and truncations (float64)."""
    reward, values, next_values = (
        np.asarray(x, np.float64) for x in (reward, values, next_values)
    )
    num_steps, num_envs = reward.shape
    adv = np.zeros((num_steps, num_envs))
    for i in range(num_envs):
        running = 0.0
        for t in reversed(range(num_steps)):
            if terminated[t, i]:
                delta, running = reward[t, i] - values[t, i], 0.0
            else:
                delta = reward[t, i] + gamma * next_values[t, i] - values[t, i]
                if truncated[t, i]:
                    running = 0.0
            running = delta + gamma * lam * running
            adv[t, i] = running
    return adv


def test_advantages_bootstrap_from_final_obs_on_truncation():
    rng = np.random.default_rng(0)
    num_steps, num_envs = 7, 3
    terminated = np.zeros((num_steps, num_envs), bool)
    truncated = np.zeros((num_steps, num_envs), bool)
    terminated[2, 0] = terminated[5, 1] = True
    truncated[3, 0] = truncated[1, 2] = truncated[6, 1] = True
    reward = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
    values = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
    last_value = rng.normal(size=num_envs).astype(np.float32)
    # next_obs values: v(obs[t + 1]) except at episode ends (final observations)
    next_values = np.concatenate([values[1:], last_value[None]], 0)
    ends = terminated | truncated
    next_values[ends] = rng.normal(size=ends.sum())
    traj = envs.Trajectory(None, None, reward, terminated, truncated, None, None)
    config = dataclasses.replace(TINY, gamma=0.9, gae_lambda=0.8)
    got = ppo._advantages(config, traj, values, last_value, next_values)
    want = _gae_reference(reward, terminated, truncated, values, next_values, 0.9, 0.8)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [envs.cartpole, envs.pendulum])
def test_train_runs_jitted_and_updates_params(make):
    agent = ppo.ppo(TINY, make())
    state, metrics = jax.jit(agent.train)(jax.random.key(0))
    assert TINY.num_iterations == 3
    assert metrics.loss.shape == metrics.entropy.shape == (3,)
    assert np.all(np.isfinite(metrics.loss)) and np.all(metrics.entropy > 0)
    init = agent.init(jax.random.key(0))
    changed = jax.tree.map(
        lambda a, b: not np.allclose(a, b), state.params, init.params
    )
    assert any(jax.tree.leaves(changed))
    assert jax.tree.leaves(state.env_state)[0].shape == (TINY.num_envs,)


def test_seeds_vmapped_equal_separate_runs():
    agent = ppo.ppo(TINY, envs.cartpole())
    keys = jax.random.split(jax.random.key(1), 2)
    train = jax.jit(agent.train)
    both = jax.jit(jax.vmap(agent.train))(keys)[1]
    for i in range(2):
        one = train(keys[i])[1]
        np.testing.assert_allclose(both.loss[i], one.loss, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(both.episodes[i], one.episodes)
    assert not np.allclose(both.loss[0], both.loss[1])


def test_train_seeds_bit_identical_to_separate_runs():
    agent = ppo.ppo(TINY, envs.cartpole())
    keys = jax.random.split(jax.random.key(2), 3)
    together = jax.jit(lambda k: ppo.train_seeds(agent.train, k))(keys)
    train = jax.jit(agent.train)
    for i in range(3):
        alone = train(keys[i])
        seed_i = jax.tree.map(lambda x: x[i], together)  # noqa: B023
        pairs = zip(jax.tree.leaves(alone), jax.tree.leaves(seed_i), strict=True)
        for a, b in pairs:
            if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
                a, b = jax.random.key_data(a), jax.random.key_data(b)
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(together[1].loss[0], together[1].loss[1])


def test_episode_returns_count_ended_episodes():
    # env 0: rewards 1, 1 | ends at t=1, then 1 carried; env 1: 2 ends at t=0, 3, 3
    reward = jnp.array([[1.0, 2.0], [1.0, 3.0], [1.0, 3.0]])
    done = jnp.array([[False, True], [True, False], [False, False]])
    traj = envs.Trajectory(None, None, reward, done, jnp.zeros_like(done), None, None)
    running, total, count = ppo._episode_returns(jnp.array([5.0, 0.0]), traj)
    # env 0 ends with 5 + 1 + 1 = 7; env 1 ends with 2; running: [1, 6]
    np.testing.assert_allclose(running, [1.0, 6.0])
    assert float(total) == 9.0 and int(count) == 2


def test_bad_minibatch_count_raises():
    with pytest.raises(ValueError, match="num_minibatches"):
        ppo.ppo(dataclasses.replace(TINY, num_minibatches=3), envs.cartpole())


@pytest.mark.parametrize("size", [1, 2, 5, 256, 4097])
def test_shuffled_indices_is_a_permutation(size):
    for seed in range(3):
        got = np.asarray(ppo.shuffled_indices(jax.random.key(seed), size))
        assert got.dtype == np.int32
        np.testing.assert_array_equal(np.sort(got), np.arange(size))


def test_shuffled_indices_draws_every_order_equally_often():
    # 4! = 24 orders; 48,000 draws: 2,000 expected each, binomial sd ≈ 44
    keys = jax.random.split(jax.random.key(0), 48_000)
    draws = np.asarray(jax.jit(jax.vmap(lambda k: ppo.shuffled_indices(k, 4)))(keys))
    orders, counts = np.unique(draws, axis=0, return_counts=True)
    assert len(orders) == 24
    assert np.all(np.abs(counts - 2_000) < 250), counts  # > 5.6 sd: fails if biased
    first = np.bincount(draws[:, 0], minlength=4) / 48_000  # position 0: each 1/4
    np.testing.assert_allclose(first, 0.25, atol=0.01)


def test_sample_categorical_frequencies_match_softmax():
    probs = np.array([0.2, 0.5, 0.3, 0.0])
    with np.errstate(divide="ignore"):
        logits = jnp.broadcast_to(jnp.log(probs + 1e-30), (200_000, 4))
    got = np.asarray(ppo._sample_categorical(jax.random.key(3), logits))
    assert got.dtype == np.int32 and got.min() >= 0 and got.max() <= 3
    freq = np.bincount(got, minlength=4) / 200_000
    # binomial sd of a frequency near 0.5: sqrt(0.25 / 200k) ≈ 0.0011
    np.testing.assert_allclose(freq, probs, atol=0.006)
    # a batch of rows with different distributions: row i favours action i
    rows = jnp.array([[5.0, 0.0], [0.0, 5.0]])
    many = jax.vmap(lambda k: ppo._sample_categorical(k, rows))(
        jax.random.split(jax.random.key(4), 20_000)
    )
    share_one = np.asarray(many).mean(axis=0)  # P(a=1): 1/(1+e^5) ≈ 0.0067, 0.9933
    np.testing.assert_allclose(share_one, [0.0067, 0.9933], atol=0.004)


def test_config_refuses_out_of_range_fields():
    # Each field is checked on construction and named in the error.
    cases = {
        "gae_lambda": (1.5, r"PPOConfig.gae_lambda must lie in \[0.0, 1.0\]"),
        "gamma": (-0.1, r"PPOConfig.gamma must lie in \[0.0, 1.0\]"),
        "clip_eps": (0.0, "PPOConfig.clip_eps must be > 0"),
        "num_minibatches": (0, "PPOConfig.num_minibatches must be >= 1"),
        "num_envs": (2.0, "PPOConfig.num_envs must be an int"),
        "hidden_sizes": ((64, -1), "PPOConfig.hidden_sizes must be ints >= 1"),
    }
    for field, (value, text) in cases.items():
        with pytest.raises(ValueError, match=text):
            ppo.PPOConfig(**{field: value})
    ppo.PPOConfig(gamma=1.0, gae_lambda=0.0, entropy_cost=0.0)  # bounds accepted

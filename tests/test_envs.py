"""Pure-JAX environments against gymnasium's numpy environments, step by step."""

import math

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlblocks import envs

NUM_CASES = 300
PI = math.pi


def _gym(env_id):
    env = gym.make(env_id, disable_env_checker=True)
    env.reset(seed=0)
    return env


def _jax_steps(env, states, actions):
    """Step a batch of states with our env under jit + vmap."""
    keys = jax.random.split(jax.random.key(0), len(actions))
    out = jax.jit(jax.vmap(env.step))(keys, states, actions)
    return jax.tree.map(np.asarray, out)


def _gym_step(gym_env, physics, time, action, already_terminated=False):
    """One gymnasium step from the given physical state and elapsed steps."""
    gym_env.unwrapped.state = np.asarray(physics, np.float64)
    if hasattr(gym_env.unwrapped, "steps_beyond_terminated"):
        # CartPole: 1 means "stepped past termination before" (reward 0, no warning).
        gym_env.unwrapped.steps_beyond_terminated = 1 if already_terminated else None
    gym_env._elapsed_steps = int(time)
    obs, reward, terminated, truncated, _ = gym_env.step(action)
    return obs, float(reward), terminated, truncated, gym_env.unwrapped.state.copy()


def _close(actual, desired):
    """Equal up to float32 rounding (jit may fuse arithmetic differently)."""
    np.testing.assert_allclose(actual, desired, rtol=1e-6, atol=1e-7)


def _cartpole_cases(rng, dtype):
    # bounds slightly beyond the termination thresholds (2.4, 12°) so that some
    # steps start or end out of bounds
    high = np.array([2.6, 3.0, 0.25, 3.0])
    physics = rng.uniform(-high, high, (NUM_CASES, 4)).astype(dtype)
    actions = rng.integers(0, 2, NUM_CASES).astype(np.int32)
    already = (np.abs(physics[:, 0]) > 2.4) | (np.abs(physics[:, 2]) > 12 * PI / 180)
    assert 10 < already.sum() < NUM_CASES - 10
    return physics, actions, [int(a) for a in actions], already


def _acrobot_cases(rng, dtype):
    # float64: the whole state space up to the velocity bounds 4π, 9π. float32:
    # speeds up to 2π and 4π (random play stays within ~1.7π and ~3.3π): at the
    # extreme speeds one RK4 step cancels terms of size ~10³ and float32 rounding
    # reaches ~1e-3 (documented in docs/architecture.md).
    fast = dtype == np.float64
    high = np.array([PI, PI, (4 if fast else 2) * PI, (9 if fast else 4) * PI])
    physics = rng.uniform(-high, high, (NUM_CASES, 4)).astype(dtype)
    actions = rng.integers(0, 3, NUM_CASES).astype(np.int32)
    return physics, actions, [int(a) for a in actions], None


def _pendulum_cases(rng, dtype):
    # unnormalized angles, speeds up to the clip, torques beyond ±2 (clipped)
    physics = np.stack(
        [rng.uniform(-20, 20, NUM_CASES), rng.uniform(-8, 8, NUM_CASES)], axis=1
    ).astype(dtype)
    actions = rng.uniform(-3, 3, (NUM_CASES, 1)).astype(dtype)
    assert np.sum(np.abs(actions) > 2) > 50
    return physics, actions, list(actions), None


CASES = {
    "CartPole-v1": (envs.cartpole, envs.CartPoleState, _cartpole_cases),
    "Acrobot-v1": (envs.acrobot, envs.AcrobotState, _acrobot_cases),
    "Pendulum-v1": (envs.pendulum, envs.PendulumState, _pendulum_cases),
}


def _run_cases(env_id, dtype):
    make, state_cls, cases = CASES[env_id]
    rng = np.random.default_rng(len(env_id))
    physics, actions, gym_actions, already = cases(rng, dtype)
    env = make()
    max_steps = env.spec.max_episode_steps
    times = rng.integers(0, max_steps, NUM_CASES).astype(np.int32)
    times[::3] = max_steps - 1  # a third of the cases reach the time limit
    with jax.enable_x64(dtype == np.float64):
        states = state_cls(*physics.T, times)
        out = _jax_steps(env, states, actions)
    gym_env = _gym(env_id)
    gym_out = [
        _gym_step(
            gym_env,
            physics[i],
            times[i],
            gym_actions[i],
            already is not None and already[i],
        )
        for i in range(NUM_CASES)
    ]
    return physics, times, out, gym_out


@pytest.mark.parametrize("env_id", list(CASES))
@pytest.mark.parametrize(
    ("dtype", "tol"), [(np.float32, 1e-5), (np.float64, 1e-9)], ids=["f32", "x64"]
)
def test_matches_gymnasium_step_by_step(env_id, dtype, tol):
    # Same state and elapsed steps in; same next state, observation, reward,
    # terminated and truncated out, for random states, actions and times.
    _, times, out, gym_out = _run_cases(env_id, dtype)
    new, obs, reward, terminated, truncated = out
    assert obs.dtype == dtype
    new_physics = np.stack(new[:-1], axis=1)
    np.testing.assert_array_equal(new.time, times + 1)
    g_obs, g_reward, g_term, g_trunc, g_state = map(
        np.array, zip(*gym_out, strict=True)
    )
    np.testing.assert_allclose(new_physics, g_state, rtol=tol, atol=tol)
    # gymnasium's observations are float32 whatever the state's precision
    np.testing.assert_allclose(obs, g_obs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reward, g_reward, rtol=tol, atol=tol)
    np.testing.assert_array_equal(terminated, g_term)
    np.testing.assert_array_equal(truncated, g_trunc)
    # the random cases exercise both endings and, for CartPole, both rewards
    assert g_trunc.sum() >= NUM_CASES // 3
    if env_id != "Pendulum-v1":
        assert 10 <= g_term.sum() <= NUM_CASES - 10
    if env_id == "CartPole-v1":
        assert 5 <= np.sum(g_reward == 0.0) < g_term.sum()


def test_step_by_step_cases_cover_wrapping_and_clipping():
    # Acrobot angles cross ±π and speeds hit 4π and 9π; Pendulum speeds hit ±8.
    physics, _, out, _ = _run_cases("Acrobot-v1", np.float64)
    new = out[0]
    assert np.sum(np.abs(new.theta1 - physics[:, 0]) > PI) >= 5
    assert np.sum(np.abs(new.theta2 - physics[:, 1]) > PI) >= 5
    assert np.sum(np.abs(new.dtheta1) == 4 * PI) >= 1
    assert np.sum(np.abs(new.dtheta2) == 9 * PI) >= 1
    new = _run_cases("Pendulum-v1", np.float32)[2][0]
    assert np.sum(np.abs(new.theta_dot) == 8.0) >= 5


def test_pendulum_hand_computed_step(variant):
    # θ = π/2, θ̇ = 1, u = 1: cost = (π/2)² + 0.1 + 0.001 = 2.568...
    # θ̇' = 1 + (15 sin(π/2) + 3) 0.05 = 1.9; θ' = π/2 + 1.9 * 0.05 = 1.665796...
    env = envs.pendulum()
    state = envs.PendulumState(jnp.float32(math.pi / 2), jnp.float32(1.0), 0)
    new, obs, reward, term, trunc = variant(env.step)(
        jax.random.key(0), state, jnp.ones(1)
    )
    np.testing.assert_allclose(new.theta_dot, 1.9, rtol=1e-6)
    np.testing.assert_allclose(new.theta, math.pi / 2 + 0.095, rtol=1e-6)
    np.testing.assert_allclose(reward, -((math.pi / 2) ** 2 + 0.101), rtol=1e-6)
    theta = math.pi / 2 + 0.095
    np.testing.assert_allclose(obs, [math.cos(theta), math.sin(theta), 1.9], atol=1e-6)
    assert not term and not trunc and int(new.time) == 1


def test_cartpole_hand_computed_step(variant):
    # all zero, push right (F = 10): temp = 10 / 1.1 = 9.0909; θ̈ = -temp /
    # (0.5 (4/3 - 0.1/1.1)) = -14.634; ẍ = temp - 0.05 θ̈ / 1.1 = 9.7561
    # Euler: x' = 0, ẋ' = 0.19512, θ' = 0, θ̇' = -0.29268
    env = envs.cartpole()
    zero = jnp.float32(0.0)
    state = envs.CartPoleState(zero, zero, zero, zero, 499)
    new, obs, reward, term, trunc = variant(env.step)(
        jax.random.key(0), state, jnp.int32(1)
    )
    np.testing.assert_allclose(obs, [0.0, 0.195122, 0.0, -0.292683], atol=1e-6)
    assert float(reward) == 1.0 and not term and trunc  # step 500 truncates
    assert int(new.time) == 500


@pytest.mark.parametrize(
    ("make", "low", "high"),
    [
        (envs.cartpole, [-0.05] * 4, [0.05] * 4),
        (envs.acrobot, [-0.1] * 4, [0.1] * 4),
        (envs.pendulum, [-math.pi, -1.0], [math.pi, 1.0]),
    ],
)
def test_reset_distribution_within_gymnasium_bounds(make, low, high):
    env = make()
    state, obs = jax.jit(envs.reset_batch, static_argnums=(0, 2))(
        env, jax.random.key(4), 2000
    )
    physics = np.stack(state[:-1], axis=1)
    low, high = np.array(low, np.float32), np.array(high, np.float32)
    assert np.all(physics >= low) and np.all(physics < high)
    # uniform: spread to within 1% of both bounds, each coordinate independent
    span = high - low
    assert np.all(physics.min(0) < low + 0.01 * span)
    assert np.all(physics.max(0) > high - 0.01 * span)
    # the mean of 2000 uniforms has std span / sqrt(12 * 2000) = 0.0065 span
    assert np.all(np.abs(physics.mean(0) - (low + high) / 2) < 0.03 * span)
    assert np.all(np.asarray(state.time) == 0)
    assert obs.shape == (2000, *env.spec.observation_shape)
    np.testing.assert_array_equal(obs, jax.vmap(env.observe)(state))


def test_reset_is_deterministic_in_the_key():
    env = envs.acrobot()
    a = env.reset(jax.random.key(7))[1]
    b = jax.jit(env.reset)(jax.random.key(7))[1]
    c = env.reset(jax.random.key(8))[1]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_specs_match_gymnasium():
    for make, env_id in [
        (envs.cartpole, "CartPole-v1"),
        (envs.acrobot, "Acrobot-v1"),
        (envs.pendulum, "Pendulum-v1"),
    ]:
        spec, g = make().spec, gym.make(env_id)
        assert spec.name == env_id
        assert spec.observation_shape == g.observation_space.shape
        assert spec.max_episode_steps == g.spec.max_episode_steps
        if spec.num_actions is None:
            assert spec.action_shape == g.action_space.shape
            assert spec.action_low == g.action_space.low[0]
            assert spec.action_high == g.action_space.high[0]
        else:
            assert spec.num_actions == g.action_space.n and spec.action_shape == ()
        g.close()


def _vmapped_autoreset(env):
    return jax.vmap(lambda k, s, a: envs.step_autoreset(env, k, s, a))


def _batch_autoreset(env):
    # one key for the batch: take the first of the per-env keys
    return lambda keys, s, a: envs.step_autoreset_batch(env, keys[0], s, a)


AUTORESETS = pytest.mark.parametrize(
    "autoreset", [_vmapped_autoreset, _batch_autoreset], ids=["vmap", "batch"]
)


@AUTORESETS
def test_step_autoreset_resets_finished_envs_only(autoreset):
    env = envs.cartpole()
    f32 = np.float32
    # env 0 truncates (time 499), env 1 terminates (θ beyond 12° after the step),
    # env 2 goes on
    state = envs.CartPoleState(
        x=jnp.array([0.01, 0.0, 0.02], f32),
        x_dot=jnp.array([0.0, 0.0, 0.1], f32),
        theta=jnp.array([0.0, 0.2, 0.01], f32),
        theta_dot=jnp.array([0.0, 1.0, 0.0], f32),
        time=jnp.array([499, 10, 20], jnp.int32),
    )
    actions = jnp.array([1, 1, 0], jnp.int32)
    keys = jax.random.split(jax.random.key(5), 3)
    plain = jax.vmap(env.step)(keys, state, actions)
    out = jax.jit(autoreset(env))(keys, state, actions)
    np.testing.assert_array_equal(out.terminated, [False, True, False])
    np.testing.assert_array_equal(out.truncated, [True, False, False])
    np.testing.assert_array_equal(out.reward, plain[2])
    _close(out.next_obs, plain[1])  # the final observations
    # finished envs restart from a fresh reset state; the other one stepped as usual
    np.testing.assert_array_equal(out.state.time, [0, 0, 21])
    _close(out.obs[2], plain[1][2])
    assert np.all(np.abs(out.obs[:2]) < 0.05)
    np.testing.assert_array_equal(out.obs, jax.vmap(env.observe)(out.state))


@AUTORESETS
def test_step_autoreset_never_pauses_other_envs(autoreset):
    # 64 envs for 300 steps of random play: every env advances its clock every
    # step, whatever the others do (a paused env would fall behind the step count).
    env = envs.cartpole()
    state, _ = envs.reset_batch(env, jax.random.key(0), 64)
    step = autoreset(env)

    def one_step(state, key):
        k1, k2 = jax.random.split(key)
        actions = jax.random.bernoulli(k1, 0.5, (64,)).astype(jnp.int32)
        out = step(jax.random.split(k2, 64), state, actions)
        return out.state, (state.time, out.state.time, out.terminated | out.truncated)

    keys = jax.random.split(jax.random.key(1), 300)
    before, after, done = jax.jit(lambda s: jax.lax.scan(one_step, s, keys))(state)[1]
    np.testing.assert_array_equal(after, np.where(done, 0, before + 1))
    assert done.sum() > 64 * 5  # random play ends episodes within ~10-50 steps


def test_step_autoreset_batch_without_endings_is_a_plain_step():
    # No episode ends: the reset branch is skipped and the result is env.step's.
    env = envs.acrobot()
    state, _ = envs.reset_batch(env, jax.random.key(3), 8)
    actions = jnp.arange(8, dtype=jnp.int32) % 3
    keys = jax.random.split(jax.random.key(4), 8)
    plain = jax.vmap(env.step)(keys, state, actions)
    out = jax.jit(envs.step_autoreset_batch, static_argnums=0)(
        env, jax.random.key(4), state, actions
    )
    assert not np.any(out.terminated | out.truncated)
    for got, want in [
        (out.state, plain[0]),
        (out.obs, plain[1]),
        (out.reward, plain[2]),
    ]:
        jax.tree.map(_close, got, want)
    _close(out.next_obs, out.obs)


def test_rollout_time_major_matches_plain_steps():
    env = envs.cartpole()
    num_envs, num_steps = 2, 6
    zero = jnp.zeros(num_envs, jnp.float32)
    # env 0 is 3 steps from the time limit; env 1 runs on
    state = envs.CartPoleState(zero, zero, zero, zero, jnp.array([497, 0], jnp.int32))

    def policy(params, key, obs):
        del key
        action = (obs[2] + params * obs[3] < 0).astype(jnp.int32)  # balance
        return action, {"twice": 2 * action}

    new_state, traj = jax.jit(envs.rollout, static_argnums=(1, 2, 5))(
        jax.random.key(0), env, policy, 1.0, state, num_steps
    )
    assert traj.obs.shape == (num_steps, num_envs, 4)
    assert traj.action.shape == traj.reward.shape == (num_steps, num_envs)
    np.testing.assert_array_equal(traj.policy_extras["twice"], 2 * traj.action)
    np.testing.assert_array_equal(traj.truncated[:, 0], [0, 0, 1, 0, 0, 0])
    assert not traj.terminated.any() and not traj.truncated[:, 1].any()
    # replay env 1 (never reset) and env 0's first 3 steps with plain steps
    s = jax.tree.map(lambda x: x, state)
    for t in range(3):
        _close(traj.obs[t], jax.vmap(env.observe)(s))
        a = jax.vmap(policy, in_axes=(None, 0, 0))(1.0, None, traj.obs[t])[0]
        np.testing.assert_array_equal(traj.action[t], a)
        s, obs, r, _, _ = jax.vmap(env.step, in_axes=(None, 0, 0))(None, s, a)
        _close(traj.next_obs[t], obs)
        _close(traj.reward[t], r)
    # after env 0's truncation: a fresh episode (next_obs holds the final obs)
    assert np.all(np.abs(traj.obs[3, 0]) < 0.05)
    assert not np.allclose(traj.obs[3, 0], traj.next_obs[2, 0])
    np.testing.assert_array_equal(traj.next_obs[:-1, 1], traj.obs[1:, 1])
    np.testing.assert_array_equal(new_state.time, [3, num_steps])


def test_rollout_pendulum_continuous_actions():
    env = envs.pendulum()
    state, _ = envs.reset_batch(env, jax.random.key(1), 3)

    def policy(params, key, obs):
        return jax.random.uniform(key, (1,), minval=-params, maxval=params), ()

    _, traj = envs.rollout(jax.random.key(2), env, policy, 2.0, state, 4)
    assert traj.action.shape == (4, 3, 1) and traj.next_obs.shape == (4, 3, 3)
    assert np.all(np.abs(traj.action) <= 2.0)
    assert len(np.unique(np.asarray(traj.action))) == 12  # per-env, per-step keys
    np.testing.assert_array_equal(traj.obs[1:], traj.next_obs[:-1])  # no resets


@pytest.mark.parametrize(
    ("make", "action", "match"),
    [
        (envs.cartpole, jnp.float32(1.0), "action must have an integer dtype"),
        (envs.cartpole, jnp.array([1, 0]), r"action must have rank 0"),
        (envs.acrobot, jnp.array([2]), r"action must have rank 0"),
        (envs.pendulum, jnp.float32(1.0), r"action must have rank 1"),
        (envs.pendulum, jnp.array([1, 2], jnp.float32), r"action must have shape"),
        (envs.pendulum, jnp.array([1], jnp.int32), "floating-point"),
    ],
)
def test_bad_action_raises(make, action, match):
    env = make()
    state, _ = env.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=match):
        jax.jit(env.step)(jax.random.key(0), state, action)


def test_importable_lazily_from_top_level():
    import rlblocks as rlb

    assert rlb.envs.cartpole is envs.cartpole


def test_rollout_vmaps_over_seeds():
    # Many seeds in one call: vmap of rollout equals rollouts one seed at a time.
    env = envs.acrobot()

    def policy(params, key, obs):
        return jax.random.randint(key, (), 0, params), obs[0]

    def run(key):
        reset_key, roll_key = jax.random.split(key)
        state, _ = envs.reset_batch(env, reset_key, 3)
        return envs.rollout(roll_key, env, policy, 3, state, 5)[1]

    keys = jax.random.split(jax.random.key(9), 2)
    both = jax.jit(jax.vmap(run))(keys)
    assert both.obs.shape == (2, 5, 3, 6)
    for i in range(2):
        one = jax.jit(run)(keys[i])
        jax.tree.map(_close, jax.tree.map(lambda x, i=i: x[i], both), one)
    _close(both.policy_extras, both.obs[..., 0])
    assert not np.allclose(both.obs[0], both.obs[1])


def test_bad_counts_are_refused_by_name():
    # Step limits, batch sizes and rollout lengths must be integers >= 1.
    for make in (envs.cartpole, envs.acrobot, envs.pendulum):
        with pytest.raises(
            ValueError, match="max_episode_steps must be an integer >= 1"
        ):
            make(max_episode_steps=0)
    env = envs.cartpole()
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1, got -1"):
        envs.reset_batch(env, jax.random.key(0), -1)
    state, _ = envs.reset_batch(env, jax.random.key(0), 2)
    policy = lambda params, key, obs: (jnp.int32(0), ())  # noqa: E731
    with pytest.raises(ValueError, match="num_steps must be an integer >= 1, got 0"):
        envs.rollout(jax.random.key(1), env, policy, None, state, 0)

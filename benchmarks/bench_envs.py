"""Raw environment steps per second: pure-JAX CartPole vs gymnasium, same run.

Ours: `rlblocks.envs.cartpole()` under `jax.jit`, `jax.vmap` over N environments and
`jax.lax.scan` over T steps: (a) plain `step` with a cheap state-feedback action;
with autoreset, (b) `jax.vmap(step_autoreset)` (per-env key splits and reset draws
every step) and (c) `step_autoreset_batch` (reset draws only in steps where an
episode ends), each with the state-feedback action (long episodes, clocks spread so
that some env hits the time limit every step) and with uniformly random actions.
Peers: gymnasium's numpy CartPole-v1 (one env, reset on episode end), its
`SyncVectorEnv` and its numpy-vectorised `CartPoleVectorEnv`. Repeats of all
configurations are interleaved (the machine is shared and noisy); each line is the
median over repeats, as JSON, with the ratio to the numpy-vectorised peer.

    python benchmarks/bench_envs.py [--quick] [--repeats=7]
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from rlblocks import envs


def jax_plain(num_envs: int, num_steps: int):
    env = envs.cartpole()

    @jax.jit
    def run(state):
        def body(state, _):
            action = (state.theta + 0.5 * state.theta_dot > 0).astype(jnp.int32)
            state = jax.vmap(env.step)(keys, state, action)[0]
            return state, None

        return jax.lax.scan(body, state, None, length=num_steps)[0]

    keys = jax.random.split(jax.random.key(0), num_envs)  # unused by CartPole
    state = envs.reset_batch(env, jax.random.key(1), num_envs)[0]
    return lambda: jax.block_until_ready(run(state)), num_envs * num_steps


def jax_autoreset(num_envs: int, num_steps: int, mode: str, random_actions: bool):
    env = envs.cartpole()
    vmapped = jax.vmap(lambda k, s, a: envs.step_autoreset(env, k, s, a))

    def step(key, state, action):
        if mode == "batch":
            return envs.step_autoreset_batch(env, key, state, action)
        return vmapped(jax.random.split(key, num_envs), state, action)

    @jax.jit
    def run(state, key):
        def body(state, key):
            action_key, env_key = jax.random.split(key)
            if random_actions:
                action = jax.random.bernoulli(action_key, 0.5, (num_envs,))
            else:
                action = state.theta + 0.5 * state.theta_dot > 0
            out = step(env_key, state, action.astype(int))
            return out.state, out.reward.sum()

        state, rewards = jax.lax.scan(body, state, jax.random.split(key, num_steps))
        return state, rewards.sum()

    state = envs.reset_batch(env, jax.random.key(1), num_envs)[0]
    # spread the clocks so that time-limit resets happen every step, not all at once
    limit = env.spec.max_episode_steps
    state = state._replace(time=jnp.arange(num_envs, dtype=jnp.int32) % limit)
    return lambda: jax.block_until_ready(run(state, jax.random.key(2))), (
        num_envs * num_steps
    )


def gym_single(num_steps: int):
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, num_steps).tolist()

    def run():
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()

    return run, num_steps


def gym_vector(mode: str, num_envs: int, num_steps: int):
    # same-step autoreset like ours where gymnasium offers it (SyncVectorEnv);
    # CartPoleVectorEnv only has next-step autoreset
    same_step = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    kwargs = {"vector_kwargs": same_step} if mode == "sync" else {}
    env = gym.make_vec("CartPole-v1", num_envs, mode, **kwargs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, (num_steps, num_envs))

    def run():
        for a in actions:
            env.step(a)

    return run, num_envs * num_steps


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    repeats = args.repeats or (3 if args.quick else 7)
    n, t = 1024, (200 if args.quick else 1000)
    peer = f"gymnasium CartPoleVectorEnv {n} (numpy)"
    configs = {
        f"rlblocks cartpole step vmap{n} x scan{t}": jax_plain(n, t),
        f"rlblocks cartpole vmap(step_autoreset) {n} x scan{t}": jax_autoreset(
            n, t, "vmap", False
        ),
        f"rlblocks cartpole step_autoreset_batch {n} x scan{t}": jax_autoreset(
            n, t, "batch", False
        ),
        f"rlblocks cartpole vmap(step_autoreset) {n} random actions x scan{t}": (
            jax_autoreset(n, t, "vmap", True)
        ),
        f"rlblocks cartpole step_autoreset_batch {n} random actions x scan{t}": (
            jax_autoreset(n, t, "batch", True)
        ),
        "gymnasium CartPole-v1 single env": gym_single(4_000 if args.quick else 20_000),
        "gymnasium SyncVectorEnv 16": gym_vector(
            "sync", 16, 250 if args.quick else 1000
        ),
        peer: gym_vector("vector_entry_point", n, 200),
    }
    timings = common.interleaved(
        {name: fn for name, (fn, _) in configs.items()}, repeats, warmup=1
    )
    peer_rate = configs[peer][1] / timings[peer]["median_s"]
    for name, (_, steps) in configs.items():
        rate = steps / timings[name]["median_s"]
        common.emit(
            {
                "name": name,
                "env_steps": steps,
                "median_s": timings[name]["median_s"],
                "iqr_s": timings[name]["iqr_s"],
                "steps_per_s": rate,
                "peer": peer,
                "ratio": rate / peer_rate,
            }
        )


if __name__ == "__main__":
    main()

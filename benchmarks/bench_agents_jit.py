"""Fully-jitted PPO on the pure-JAX CartPole: env steps/s with rollout + update.

One compiled `train(key)` per configuration (rollout, GAE, minibatch epochs, all in
one `lax.scan`); seeds trained together with `jax.vmap`. Reports compile time, the
median wall time of the training call after compilation, env steps/s (all seeds)
and the final returns (mean of the last 5 iterations' ended episodes, per seed).
Two peers: the host-loop path measured in the same run (`rlblocks train ppo`,
gymnasium CartPole-v1, the runtime's own steps/s after its first log row), and
PureJaxRL's PPO on gymnax CartPole measured on this machine (ANCHORS: ~210-220k
steps/s for one seed, 271k/s for 16 vmapped seeds, 4 envs x 128 steps), which is
not installed, so it is quoted, not re-measured. The first configuration also
prints its per-iteration returns as a learning curve.

    PYTHONPATH=. python benchmarks/bench_agents_jit.py [--quick] [--repeats=3]
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from benchmarks import common
from rlblocks import envs
from rlblocks.agents import ppo

PUREJAXRL = {1: 215_000, 16: 271_000}  # quoted steps/s, see the docstring


def configurations(quick: bool) -> list[tuple[str, int, ppo.PPOConfig]]:
    budget = 50_000 if quick else 200_000
    base = ppo.PPOConfig(num_envs=4, num_steps=128, total_steps=budget)
    wide = ppo.PPOConfig(
        num_envs=256,
        num_steps=32,
        update_epochs=2,
        num_minibatches=2,
        total_steps=budget * 5,
    )
    half = dataclasses.replace(base, total_steps=budget // 2)
    fast = dataclasses.replace(
        wide, num_envs=1024, num_steps=16, update_epochs=1, num_minibatches=1
    )
    if quick:  # one learning configuration and the fastest one, small budgets
        return [
            ("ppo cartpole 4x128 (PureJaxRL settings)", 1, base),
            ("ppo cartpole 1024x16, 1 epoch x 1 minibatch", 1, fast),
        ]
    return [
        ("ppo cartpole 4x128 (PureJaxRL settings)", 1, base),
        # 16 seeds x 200k steps hung inside XLA here (see README): half the budget
        ("ppo cartpole 4x128 (PureJaxRL settings)", 16, half),
        ("ppo cartpole 256x32, 2 epochs x 2 minibatches", 1, wide),
        # 4 seeds of this 1M-step configuration hung inside XLA (README): not run
        ("ppo cartpole 1024x16, 1 epoch x 1 minibatch", 1, fast),
    ]


def carry_forward(metrics) -> np.ndarray:
    """Per-iteration mean returns; iterations where no episode ended keep the last."""
    returns = np.array(metrics.episode_return, dtype=float)
    ended = np.asarray(metrics.episodes) > 0
    for i in range(1, returns.shape[1]):
        returns[:, i] = np.where(ended[:, i], returns[:, i], returns[:, i - 1])
    return returns


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    repeats = args.repeats or 3
    env = envs.cartpole()
    host_steps = "20000" if args.quick else "60000"
    host = common.runtime_sps(  # the host-loop path, gymnasium CartPole-v1
        [
            *("ppo", "--env", "CartPole-v1", "--steps", host_steps),
            *("--eval_every=100000000", "--log_every=2048", "--checkpoint_every=0"),
        ]
    )
    common.emit(
        {
            "name": "ppo cartpole, host loop (rlblocks train ppo, 8 envs x 32)",
            "steps_per_s": round(host["median"]),
            "iqr_steps_per_s": round(host["iqr"]),
            "peer": None,  # the reference the jitted rows are compared with
        }
    )
    curve_done = False
    for name, seeds, config in configurations(args.quick):
        agent = ppo.ppo(config, env)
        train = jax.jit(jax.vmap(agent.train))
        keys = jax.random.split(jax.random.key(0), seeds)
        start = time.perf_counter()
        jax.block_until_ready(train(keys))
        first = time.perf_counter() - start
        times, metrics = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            metrics = jax.block_until_ready(train(keys))[1]
            times.append(time.perf_counter() - start)
        timing = common.summarize(times)
        steps = seeds * config.num_iterations * config.num_envs * config.num_steps
        final = np.asarray(metrics.episode_return)[:, -5:].mean(axis=1)
        peer = PUREJAXRL.get(seeds) if config.num_envs == 4 else None
        sps = steps / timing["median_s"]
        record = {
            "name": name,
            "seeds": seeds,
            "env_steps": steps,
            "compile_s": first - timing["median_s"],
            "median_s": timing["median_s"],
            "iqr_s": timing["iqr_s"],
            "steps_per_s": sps,
            "final_return_per_seed": [round(float(r), 1) for r in final],
            "speedup_vs_host_loop": round(sps / host["median"], 1),
            "purejaxrl_steps_per_s_quoted": peer,
            "ratio_vs_purejaxrl_quoted": round(sps / peer, 2) if peer else None,
        }
        if not curve_done:
            per_iter = config.num_envs * config.num_steps
            returns = carry_forward(metrics)  # [seeds, iterations]
            record["curve"] = {
                "label": f"jitted PPO, {name}",
                "steps": [per_iter * (i + 1) for i in range(returns.shape[1])],
                "returns": [[round(float(x), 1) for x in row] for row in returns],
            }
            curve_done = True
        common.emit(record)


if __name__ == "__main__":
    main()

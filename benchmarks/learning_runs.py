"""Learning runs of the DQN family and PPO through the `rlblocks train` CLI, and of
the fully-jitted PPO (`rlblocks.agents.ppo` on the pure-JAX envs).

Each run trains for a fixed env-step budget and reports the greedy (deterministic)
evaluation of its final parameters on the gymnasium env (10 episodes) and, for CLI
runs, the best periodic evaluation, with wall time.
Not part of `make bench` (it takes tens of minutes); results are recorded by hand in
benchmarks/README.md.

    python benchmarks/learning_runs.py --suite cartpole --seeds 0 1 2 3 4
    python benchmarks/learning_runs.py --suite cartpole_mpi --seeds 0 1 2 3 4
    python benchmarks/learning_runs.py --suite acrobot --seeds 0 1 2
    python benchmarks/learning_runs.py --suite variants --seeds 0
    python benchmarks/learning_runs.py --suite ppo_cartpole --seeds 0 1 2 3 4
    python benchmarks/learning_runs.py --suite ppo_pendulum --seeds 0 1 2
    python benchmarks/learning_runs.py --suite distributional --seeds 0 1 2
    python benchmarks/learning_runs.py --suite ppo_jit_cartpole --seeds 0 1 2 3 4
    python benchmarks/learning_runs.py --suite ppo_jit_pendulum --seeds 0 1 2
    python benchmarks/learning_runs.py --suite ppo_jit_cartpole_wide --seeds 0 1 2 3 4
    python benchmarks/learning_runs.py --suite dqn_jit_cartpole --seeds 0 1 2 3 4
    python benchmarks/learning_runs.py --suite ppo_jit_16_seeds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

try:
    from benchmarks import common
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    import common

BIN = os.path.dirname(sys.executable)
MPIRUN = [os.path.join(BIN, "mpirun"), "--allow-run-as-root", "--oversubscribe", "-n"]

# name -> (env, steps per process, ranks, overrides[, agent]); agent defaults to dqn.
# PPO runs use the per-env presets of `rlblocks.train.ppo_setup`.
SUITES = {
    "cartpole": [("default", "CartPole-v1", 100_000, 1, [])],
    # Two ranks of 100k steps each (the `make demo` command).
    "cartpole_mpi": [("default-mpi2", "CartPole-v1", 100_000, 2, [])],
    # Two ranks of 50k steps: 100k env steps in total. One update per env step
    # keeps the number of updates of the 100k-step single-process run.
    "cartpole_mpi_50k": [
        ("mpi2-50k-tf1", "CartPole-v1", 50_000, 2, ["--train_frequency=1"])
    ],
    "acrobot": [("default", "Acrobot-v1", 100_000, 1, [])],
    "variants": [
        ("vanilla", "CartPole-v1", 100_000, 1, ["--double=false", "--n_step=1"]),
        ("double", "CartPole-v1", 100_000, 1, ["--n_step=1"]),
        ("dueling", "CartPole-v1", 100_000, 1, ["--dueling=true"]),
        ("n_step3", "CartPole-v1", 100_000, 1, ["--double=false"]),
        ("prioritized", "CartPole-v1", 100_000, 1, ["--prioritized=true"]),
    ],
    "ppo_cartpole": [("ppo", "CartPole-v1", 200_000, 1, [], "ppo")],
    "ppo_cartpole_mpi": [("ppo-mpi2", "CartPole-v1", 100_000, 2, [], "ppo")],
    "ppo_pendulum": [("ppo", "Pendulum-v1", 1_000_000, 1, [], "ppo")],
    "a2c_cartpole": [("a2c", "CartPole-v1", 200_000, 1, [], "a2c")],
    "distributional": [
        ("c51", "CartPole-v1", 100_000, 1, [], "c51"),
        ("qr_dqn", "CartPole-v1", 100_000, 1, [], "qr_dqn"),
    ],
}
# Fully-jitted PPO on the pure-JAX ports: name -> (env, steps[, ppo_setup preset
# name]); without a preset name, the env's preset of `rlblocks train ppo`.
JIT_SUITES = {
    "ppo_jit_cartpole": ("CartPole-v1", 200_000),
    "ppo_jit_pendulum": ("Pendulum-v1", 1_000_000),
    # the >= 1M env steps/s configuration
    "ppo_jit_cartpole_wide": ("CartPole-v1", 2_000_000, "CARTPOLE_WIDE"),
    # Fully-jitted DQN (agents.dqn_jit), DQNConfig defaults, 4 envs as the runtime.
    "dqn_jit_cartpole": ("CartPole-v1", 100_000),
}


def run_one(name, env, steps, ranks, overrides, seed, out_dir, agent="dqn"):
    """Train one seed; return its summary with wall time."""
    run_dir = os.path.join(out_dir, f"{name}-{env}-s{seed}")
    # `python -m` rather than the `rlblocks` script, so PYTHONPATH picks the code.
    cmd = [
        sys.executable,
        "-m",
        "rlblocks.train.cli",
        "train",
        agent,
        "--env",
        env,
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--run-dir",
        run_dir,
        *overrides,
    ]
    if ranks > 1:
        forward = ["-x", "PYTHONPATH"] if "PYTHONPATH" in os.environ else []
        cmd = [*MPIRUN, str(ranks), *forward, *cmd]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    wall = time.perf_counter() - start
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    return {
        "suite": name,
        "env": env,
        "seed": seed,
        "ranks": ranks,
        "env_steps": summary["env_steps"],
        "final_eval_mean": summary["final_eval_mean"],
        "best_eval_mean": summary["best_eval_mean"],
        "wall_s": round(wall, 1),
        "train_wall_s": summary["wall_time_s"],
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "run_dir": run_dir,
        "overrides": overrides,
    }


def run_jitted(name, seed, env_id, steps, preset=None):
    """Train one seed of a fully-jitted agent; evaluate it on the gymnasium env."""
    import dataclasses

    os.environ.setdefault("XLA_FLAGS", common.SINGLE_THREAD_XLA)
    import jax

    if name.startswith("dqn_jit"):
        return run_dqn_jitted(name, env_id, steps, seed)

    from rlblocks import envs as jax_envs
    from rlblocks.agents import ppo
    from rlblocks.train import envs, ppo_setup

    config = getattr(ppo_setup, preset) if preset else ppo_setup.preset("ppo", env_id)
    config = dataclasses.replace(config, total_steps=steps)
    make = {"CartPole-v1": jax_envs.cartpole, "Pendulum-v1": jax_envs.pendulum}
    env = make[env_id]()
    agent = ppo.ppo(config, env)
    key = jax.random.key(seed)
    start = time.perf_counter()
    train = jax.jit(agent.train).lower(key).compile()
    compiled = time.perf_counter()
    state, _ = jax.block_until_ready(train(key))
    wall = time.perf_counter() - start
    train_s = time.perf_counter() - compiled
    parts = ppo.learner(config, env.spec)
    policy = ppo_setup.deterministic_policy(parts, env.spec, state.params)
    returns = envs.evaluate(env_id, policy, 10, seed=10_000 + 1_000 * (seed + 1))
    return {
        "suite": name,
        "env": env_id,
        "seed": seed,
        "env_steps": config.num_iterations * config.num_envs * config.num_steps,
        "final_eval_mean": float(returns.mean()),
        "final_eval_min": float(returns.min()),
        "wall_s": round(wall, 1),
        "train_s": round(train_s, 2),  # the compiled call alone
        "steps_per_s": round(
            config.num_iterations * config.num_envs * config.num_steps / train_s
        ),
    }


def run_dqn_jitted(name, env_id, steps, seed):
    """Train one seed of `agents.dqn_jit`; greedy-evaluate it on the gymnasium env."""
    import jax
    import numpy as np

    from rlblocks import envs as jax_envs
    from rlblocks.agents import dqn, dqn_jit
    from rlblocks.train import envs

    env = {"CartPole-v1": jax_envs.cartpole}[env_id]()
    run = dqn_jit.dqn_jit(dqn.DQNConfig(), env, num_envs=4, total_steps=steps)
    start = time.perf_counter()
    state, metrics = jax.block_until_ready(jax.jit(run.train)(jax.random.key(seed)))
    wall = time.perf_counter() - start
    q = jax.jit(run.agent.q_values)
    params = state.agent.params
    policy = lambda obs: np.asarray(q(params, obs).argmax(-1))  # noqa: E731
    returns = envs.evaluate(env_id, policy, 10, seed=10_000 + 1_000 * (seed + 1))
    return {
        "suite": name,
        "env": env_id,
        "seed": seed,
        "env_steps": int(state.agent.env_steps),
        "final_eval_mean": float(returns.mean()),
        "final_eval_min": float(returns.min()),
        "in_jit_evals": [round(float(x), 1) for x in metrics.eval_return],
        "wall_s": round(wall, 1),
    }


def vmapped_vs_separate(seeds, steps):
    """Train `seeds` fully-jitted PPO seeds in one vmapped call and one by one.

    Same keys, same `train`, on the pure-JAX CartPole: `ppo.train_seeds` in its
    default `lax.map` form (one call, seed i bit-identical to a separate run) and
    vectorized (`jax.vmap`), each against the separate runs: per-iteration episode
    counts and losses (bit-for-bit), final returns (mean over the last 5 iterations).
    """
    os.environ.setdefault("XLA_FLAGS", common.SINGLE_THREAD_XLA)
    import jax
    import numpy as np

    from rlblocks import envs as jax_envs
    from rlblocks.agents import ppo

    # PureJaxRL's settings (4 envs x 128 steps, 4 x 4 minibatch epochs), with which
    # 16 vmapped seeds x 100k steps run (more iterations hung inside XLA, README).
    config = ppo.PPOConfig(num_envs=4, num_steps=128, total_steps=steps)
    agent = ppo.ppo(config, jax_envs.cartpole())
    keys = jax.random.split(jax.random.key(0), seeds)

    def timed(fn):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        return out, round(time.perf_counter() - start, 1)

    looped, looped_s = timed(
        lambda: jax.jit(lambda k: ppo.train_seeds(agent.train, k))(keys)[1]
    )
    vmapped, vmapped_s = timed(
        lambda: jax.jit(lambda k: ppo.train_seeds(agent.train, k, vectorize=True))(
            keys
        )[1]
    )
    train = jax.jit(agent.train)
    alone, separate_s = timed(lambda: [train(k)[1] for k in keys])
    last5 = lambda r: [round(float(x), 1) for x in np.mean(r[..., -5:], -1)]  # noqa: E731

    def compare(together):
        same = lambda f: sum(  # noqa: E731
            bool(np.array_equal(f(together)[i], f(alone[i]))) for i in range(seeds)
        )
        return {
            "episode_counts_identical": same(lambda m: m.episodes),
            "losses_identical": same(lambda m: m.loss),
            "final_return": last5(np.asarray(together.episode_return)),
        }

    return {
        "suite": "ppo_jit_16_seeds",
        "seeds": seeds,
        "env_steps_per_seed": config.num_iterations
        * config.num_envs
        * config.num_steps,
        "lax_map": compare(looped),
        "vmap": compare(vmapped),
        "final_return_separate": last5(np.stack([m.episode_return for m in alone])),
        "lax_map_s": looped_s,
        "vmapped_s": vmapped_s,
        "separate_s": separate_s,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--suite",
        choices=sorted([*SUITES, *JIT_SUITES, "ppo_jit_16_seeds"]),
        required=True,
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="*", default=None, help="run names to keep")
    parser.add_argument(
        "--out", default=os.path.join(tempfile.gettempdir(), "rlb-runs")
    )
    ns = parser.parse_args()
    if ns.suite == "ppo_jit_16_seeds":
        steps = int(os.environ.get("RLB_SEED_STEPS", 100_000))
        print(json.dumps(vmapped_vs_separate(16, steps)), flush=True)
        return
    if ns.suite in JIT_SUITES:
        for seed in ns.seeds:
            record = run_jitted(ns.suite, seed, *JIT_SUITES[ns.suite])
            print(json.dumps(record), flush=True)
        return
    for name, env, steps, ranks, overrides, *agent in SUITES[ns.suite]:
        if ns.only and name not in ns.only:
            continue
        for seed in ns.seeds:
            record = run_one(name, env, steps, ranks, overrides, seed, ns.out, *agent)
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()

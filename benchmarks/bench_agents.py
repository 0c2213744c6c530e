"""DQN training throughput: the fused runtime against plain baseline loops.

All loops run the same agent (network, batch, updates per env step) on CartPole-v1 for
the same number of env steps after compilation:

- `rlblocks`: the rlblocks runtime's iteration (`loop.device_step`, default
  `stale_actions=True`) over `NUM_ENVS` envs: a small jitted act call with the
  parameters from before the latest update, then an asynchronous jitted learn call
  (store the transitions, update when due; state donated, replay on device) that
  overlaps the next env step.
- `fused`: the runtime with `stale_actions=False`: ONE jitted call per vector-env
  step (store, update when due, then act with the updated parameters).
- `baseline_1env`: a plain loop in the usual single-env style (CleanRL-like): a
  jitted act call per env step, a numpy ring buffer, one jitted call per update fed
  a numpy batch. (Its env is a 1-env `SyncVectorEnv`, for identical env code.)
- `baseline_vec`: the same plain loop over the same `NUM_ENVS`-env vector env, to
  isolate what fusing the calls gains.

Two update rates: the default agent's (one update per 2 env steps, where the
update's own compute dominates) and one per 8 env steps (per-call overhead
dominates). Repeats interleave the loops. Data-parallel figures: `rlblocks train`
throughput under `mpirun -n 2` against one rank, with mpirun leaving the ranks
unbound (the runtime then pins each to its core) and with one core per process
(`--quick`: unbound only), and the share of update time spent
averaging gradients (run under mpirun by the script itself); they run after the
throughput figures; `--dp` runs only these. One more record: the fully-jitted DQN
(`agents.dqn_jit` on the pure-JAX CartPole, same agent and envs) against the
runtime's host loop, in the same run.

    python benchmarks/bench_agents.py [--quick] [--dp]
"""

from __future__ import annotations

import os

try:
    from benchmarks import common
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    import common

# The same XLA threading as `rlblocks train` (single-threaded kernels), for every loop.
os.environ.setdefault("XLA_FLAGS", common.SINGLE_THREAD_XLA)

import argparse
import dataclasses
import functools
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rlblocks as rlb
from rlblocks.agents import dqn as dqn_lib
from rlblocks.train import envs, loop

NUM_ENVS = 4
# The default agent (one update per 2 env steps), and a CleanRL-like update rate (one
# per 8 env steps) where per-call overhead rather than the update's compute dominates.
CONFIGS = {
    "default": dqn_lib.DQNConfig(learning_starts=1_000, n_step=1),
    "update_every_8": dqn_lib.DQNConfig(
        learning_starts=1_000, n_step=1, train_frequency=8
    ),
}
CONFIG = CONFIGS["default"]


def fused_loop(steps: int, config=CONFIG, stale_actions: bool = True):
    """A callable running `steps` env steps of the rlblocks runtime's iteration."""
    env = envs.make_vector_env("CartPole-v1", NUM_ENVS)
    example = env.single_observation_space.sample()
    agent = dqn_lib.dqn(config, 2, example, NUM_ENVS)
    step_fn = loop.device_step(agent, stale_actions)
    box = {"state": agent.init(jax.random.PRNGKey(0)), "steps": 0}
    obs, _ = env.reset(seed=0)
    box["obs"], box["actions"] = obs, np.zeros(NUM_ENVS, np.int64)
    box["key"] = jax.random.PRNGKey(1)

    def run():
        state, obs, actions = box["state"], box["obs"], box["actions"]
        key, k = box["key"], box["steps"]
        for _ in range(steps // NUM_ENVS):
            nxt, r, term, trunc, info = env.step(actions)
            tr = dqn_lib.Transition(
                obs,
                actions,
                r.astype(np.float32),
                term,
                trunc,
                envs.true_next_obs(nxt, info),
            )
            k += NUM_ENVS
            state, actions, _, key = step_fn(state, tr, nxt, key, k)
            actions, obs = np.asarray(actions), nxt
        box.update(state=state, obs=obs, actions=actions, key=key, steps=k)
        jax.block_until_ready(state.params)

    return run, lambda: int(box["state"].updates)


def baseline_loop(steps: int, config=CONFIG, num_envs: int = NUM_ENVS):
    """A callable running `steps` env steps of a plain numpy-buffer DQN loop."""
    env = envs.make_vector_env("CartPole-v1", num_envs)
    net = rlb.agents.networks.QNetwork(2, hidden_sizes=config.hidden_sizes)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))
    target = jax.tree.map(jnp.copy, params)
    opt = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(1e-3))
    opt_state = opt.init(params)
    cap = config.replay_capacity
    buf = {
        "o": np.zeros((cap, 4), np.float32),
        "a": np.zeros(cap, np.int32),
        "r": np.zeros(cap, np.float32),
        "d": np.zeros(cap, np.float32),
        "n": np.zeros((cap, 4), np.float32),
    }

    @jax.jit
    def act(params, key, obs, eps):
        q = net.apply(params, obs)
        k1, k2 = jax.random.split(key)
        rnd = jax.random.randint(k1, (obs.shape[0],), 0, 2)
        return jnp.where(
            jax.random.uniform(k2, (obs.shape[0],)) < eps, rnd, q.argmax(-1)
        )

    @jax.jit
    def update(params, target, opt_state, o, a, r, d, n):
        def loss_fn(p):
            q = net.apply(p, o)
            q_t, q_sel = net.apply(target, n), net.apply(p, n)
            return rlb.double_q_learning_loss(q, a, r, d, q_t, q_sel)[0]

        grads = jax.grad(loss_fn)(params)
        deltas, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, deltas)
        target = optax.incremental_update(params, target, config.target_tau)
        return params, target, opt_state

    rng = np.random.default_rng(0)
    box = {"p": params, "t": target, "s": opt_state, "pos": 0, "size": 0, "k": 0}
    obs, _ = env.reset(seed=0)
    box["obs"], box["actions"] = obs, np.zeros(num_envs, np.int64)
    key = jax.random.PRNGKey(1)

    def run():
        obs, actions = box["obs"], box["actions"]
        for _ in range(steps // num_envs):
            nxt, r, term, _trunc, info = env.step(actions)
            idx = (box["pos"] + np.arange(num_envs)) % cap
            buf["o"][idx], buf["a"][idx], buf["r"][idx] = obs, actions, r
            buf["d"][idx] = config.gamma * (1.0 - term)
            buf["n"][idx] = envs.true_next_obs(nxt, info)
            box["pos"] = (box["pos"] + num_envs) % cap
            box["size"] = min(box["size"] + num_envs, cap)
            box["k"] += num_envs
            eps = max(0.02, 1.0 - box["k"] / 20_000)
            actions = np.asarray(
                act(box["p"], jax.random.fold_in(key, box["k"]), nxt, eps)
            )
            obs = nxt
            if box["k"] >= config.learning_starts:
                for _ in range(_due(box["k"], config.train_frequency, num_envs)):
                    j = rng.integers(0, box["size"], config.batch_size)
                    batch = [buf[f][j] for f in "oardn"]
                    box["p"], box["t"], box["s"] = update(
                        box["p"], box["t"], box["s"], *batch
                    )
        box.update(obs=obs, actions=actions)
        jax.block_until_ready(box["p"])

    return run


def _due(k: int, every: int, num_envs: int) -> int:
    """Updates due after env step k (same rule as the fused step)."""
    return max(num_envs // every, 1) if k // every > (k - num_envs) // every else 0


def throughput(quick: bool, repeats: int | None, name: str):
    config = CONFIGS[name]
    steps = 2_000 if quick else 8_000
    runtime, runtime_updates = fused_loop(steps, config)
    loops = {
        "rlblocks": runtime,
        "fused": fused_loop(steps, config, stale_actions=False)[0],
        "baseline_vec": baseline_loop(steps, config, NUM_ENVS),
        "baseline_1env": baseline_loop(steps, config, 1),
    }
    repeats = repeats or (3 if quick else 7)
    # Warm-up passes fill replay past learning_starts, so every repeat updates.
    timing = common.interleaved(loops, repeats)
    sps = {k: round(steps / v["median_s"]) for k, v in timing.items()}
    record = {
        "bench": "agents/throughput",
        "config": name,
        "env": "CartPole-v1",
        "num_envs": NUM_ENVS,
        "env_steps_per_repeat": steps,
        "updates_per_env_step": 1 / config.train_frequency,
        "batch_size": config.batch_size,
        "hidden_sizes": list(config.hidden_sizes),
        "rlblocks_steps_per_s": sps["rlblocks"],
        "fused_steps_per_s": sps["fused"],
        "baseline_vec_steps_per_s": sps["baseline_vec"],
        "baseline_1env_steps_per_s": sps["baseline_1env"],
        "speedup_vs_baseline_1env": round(sps["rlblocks"] / sps["baseline_1env"], 2),
        "speedup_vs_baseline_vec": round(sps["rlblocks"] / sps["baseline_vec"], 2),
        "fused_vs_baseline_vec": round(sps["fused"] / sps["baseline_vec"], 2),
        # interquartile range of the repeat times over their median, per loop
        "spread_rel": {
            k: round(v["iqr_s"] / v["median_s"], 3) for k, v in timing.items()
        },
        "repeats": repeats,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "rlblocks_updates_done": runtime_updates(),
    }
    common.emit(record)


def jitted(quick: bool, repeats: int | None):
    """The fully-jitted DQN (pure-JAX CartPole) against the runtime's host loop.

    Same agent (the default config, `NUM_ENVS` envs); the jitted call trains a
    whole budget from scratch, its `learning_starts` warm-up included (1/32 of it).
    The fully-jitted PPO rows are in bench_agents_jit.py.
    """
    from rlblocks import envs as jax_envs
    from rlblocks.agents import dqn_jit

    host_steps, jit_steps = (2_000, 8_000) if quick else (8_000, 32_000)
    runtime, _ = fused_loop(host_steps, CONFIG)
    agent = dqn_jit.dqn_jit(
        CONFIG,
        jax_envs.cartpole(),
        num_envs=NUM_ENVS,
        total_steps=jit_steps,
        num_evals=1,
        eval_episodes=1,
    )
    train, key = jax.jit(agent.train), jax.random.PRNGKey(0)
    loops = {"host_loop": runtime, "jitted": lambda: jax.block_until_ready(train(key))}
    repeats = repeats or (3 if quick else 5)
    timing = common.interleaved(loops, repeats)
    sps = {
        "host_loop": host_steps / timing["host_loop"]["median_s"],
        "jitted": jit_steps / timing["jitted"]["median_s"],
    }
    common.emit(
        {
            "bench": "agents/jitted_dqn",
            "env": "CartPole-v1 (jitted: rlblocks.envs.cartpole)",
            "num_envs": NUM_ENVS,
            "host_loop_steps_per_s": round(sps["host_loop"]),
            "jitted_steps_per_s": round(sps["jitted"]),
            "speedup_vs_host_loop": round(sps["jitted"] / sps["host_loop"], 2),
            "spread_rel": {
                k: round(v["iqr_s"] / v["median_s"], 3) for k, v in timing.items()
            },
            "repeats": repeats,
        }
    )


def _train_sps(ranks: int, steps: int, one_core_each: bool = False) -> dict:
    """Run `rlblocks train` (optionally under mpirun) and read its throughput.

    `one_core_each` pins every process to one core (`taskset -c 0` for one rank,
    `--bind-to core` under mpirun), so K ranks get K cores and one rank gets one.
    """
    launcher = []
    if ranks > 1:
        launcher = [
            os.path.join(os.path.dirname(sys.executable), "mpirun"),
            "--allow-run-as-root",
            "--oversubscribe",
            "--bind-to",
            "core" if one_core_each else "none",
            "-n",
            str(ranks),
        ]
    elif one_core_each:
        launcher = ["taskset", "-c", "0"]
    args = ["dqn", "--steps", str(steps), "--eval_every=1000000", "--log_every=1000"]
    sps = common.runtime_sps(args, launcher)
    return {
        "ranks": ranks,
        "env_steps_per_s": round(sps["median"]),
        "iqr_steps_per_s": round(sps["iqr"]),
        "wall_s": round(sps["wall_s"], 1),
    }


def data_parallel(quick: bool):
    steps = 5_000 if quick else 30_000
    for pinned in (False,) if quick else (False, True):  # the quick run: shared cores
        one, two = _train_sps(1, steps, pinned), _train_sps(2, steps, pinned)
        common.emit(
            {
                "bench": "agents/data_parallel",
                "cores": "one per rank" if pinned else "launcher unbound",
                "steps_per_rank": steps,
                "one_rank": one,
                "two_ranks": two,
                "scaling": round(two["env_steps_per_s"] / one["env_steps_per_s"], 2),
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )
    bindir = os.path.dirname(sys.executable)
    cmd = [
        os.path.join(bindir, "mpirun"),
        "--allow-run-as-root",
        "--oversubscribe",
        "--bind-to",
        "none",
        "-n",
        "2",
        sys.executable,
        os.path.abspath(__file__),
        "--allreduce-share",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    print(out.stdout.strip().splitlines()[-1], flush=True)


def allreduce_share():
    """Under mpirun: time one updating iteration with and without averaging.

    An iteration is what `rlblocks train` runs per vector-env step when updates are
    due: act, observe and `num_envs // train_frequency` (2) updates. Variants:
    `local` (no averaging, the single-process `loop.device_step`), `averaged` (what
    `rlblocks train` runs under mpirun: the same calls, each update's gradients
    averaged inside the jitted learn call by `average_gradients(ordered=False)`, an
    XLA FFI call) and `averaged_io_callback` (the same with `ordered=True`, an
    ordered `io_callback`).
    """
    loop.World()  # pins this rank and lets MPI yield while waiting, as in training
    from rlblocks import distributed

    config = dataclasses.replace(CONFIG, learning_starts=0)
    example = np.zeros(4, np.float32)
    ordered = {"averaged": False, "averaged_io_callback": True}
    agents = {"local": dqn_lib.dqn(config, 2, example, NUM_ENVS)}
    for name, flag in ordered.items():
        average = functools.partial(distributed.average_gradients, ordered=flag)
        agents[name] = dqn_lib.dqn(config, 2, example, NUM_ENVS, grad_transform=average)
    steps = {name: loop.device_step(agent, True) for name, agent in agents.items()}
    obs = np.random.default_rng(distributed.rank()).normal(size=(NUM_ENVS, 4))
    obs = obs.astype(np.float32)
    tr = dqn_lib.Transition(
        obs,
        np.zeros(NUM_ENVS, np.int32),
        np.ones(NUM_ENVS, np.float32),
        np.zeros(NUM_ENVS, bool),
        np.zeros(NUM_ENVS, bool),
        obs,
    )
    fns = {}
    for name, step_fn in steps.items():
        agent = agents[name]
        state = agent.init(jax.random.PRNGKey(0))
        for _ in range(64):
            state = jax.jit(agent.observe)(state, tr)
        box = {"s": state, "k": int(state.env_steps), "key": jax.random.PRNGKey(1)}

        def run(step_fn=step_fn, box=box):
            box["k"] += NUM_ENVS  # every iteration is due (train_frequency 2)
            box["s"], actions, m, box["key"] = step_fn(
                box["s"], tr, obs, box["key"], box["k"]
            )
            jax.block_until_ready((box["s"].params, actions, m["loss"]))

        fns[name] = run
    times = common.interleaved(fns, repeats=200, warmup=5)
    flat = np.zeros(sum(x.size for x in jax.tree.leaves(state.params)), np.float32)
    exchange = common.interleaved(
        {"x": lambda: distributed.average_gradients(flat)}, repeats=200, warmup=5
    )["x"]
    if distributed.is_root():
        med = {k: v["median_s"] for k, v in times.items()}
        local = med["local"]
        common.emit(
            {
                "bench": "agents/allreduce_share",
                "ranks": distributed.size(),
                "updates_per_iteration": dqn_lib.updates_per_step(config, NUM_ENVS),
                "iteration_local_us": round(local * 1e6, 1),
                "iteration_averaged_us": round(med["averaged"] * 1e6, 1),
                "allreduce_share_of_update": round(
                    (med["averaged"] - local) / med["averaged"], 3
                ),
                "iteration_averaged_io_callback_us": round(
                    med["averaged_io_callback"] * 1e6, 1
                ),
                "host_average_gradients_us": round(exchange["median_s"] * 1e6, 1),
                "gradient_floats": int(flat.size),
                "iqr_us": {k: round(v["iqr_s"] * 1e6, 1) for k, v in times.items()},
                "peer": None,  # a share of our own update time, not a comparison
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--dp", action="store_true", help="data-parallel figures only")
    parser.add_argument(
        "--allreduce-share", action="store_true", help=argparse.SUPPRESS
    )
    ns = parser.parse_args()
    if ns.allreduce_share:
        return allreduce_share()
    if not ns.dp:
        for name in CONFIGS:
            throughput(ns.quick, ns.repeats, name)
        jitted(ns.quick, ns.repeats)
    data_parallel(ns.quick)
    print(json.dumps({"bench": "agents/done"}), flush=True)


if __name__ == "__main__":
    main()

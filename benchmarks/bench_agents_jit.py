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

The jitted calls run with single-threaded XLA kernels (`rlblocks train`'s
setting; these small networks are per-call, not per-FLOP, bound). The
data-parallel row trains the `ppo_setup.CARTPOLE_WIDE` configuration under
`mpirun -n 2 --bind-to core` (256 envs per rank: the same global batch), counting
the env steps of both ranks. Then this process pins itself to one core
(`RLBLOCKS_PIN=0` leaves it unpinned) and times the single-process rows.

    PYTHONPATH=. python benchmarks/bench_agents_jit.py [--quick] [--repeats=3]
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

from benchmarks import common

os.environ.setdefault("XLA_FLAGS", common.SINGLE_THREAD_XLA)  # before jax's import

import jax
import numpy as np

from rlblocks import envs
from rlblocks.agents import ppo
from rlblocks.train import loop, ppo_setup

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
    # learns CartPole (greedy 500, 10/10 seeds in benchmarks/README.md) at >= 1M/s
    learning_wide = ("ppo cartpole 512x16 (ppo_setup.CARTPOLE_WIDE)", 1, WIDE)
    if quick:  # one learning configuration and the fastest ones, small budgets
        return [
            ("ppo cartpole 4x128 (PureJaxRL settings)", 1, base),
            learning_wide,
            ("ppo cartpole 1024x16, 1 epoch x 1 minibatch", 1, fast),
        ]
    return [
        ("ppo cartpole 4x128 (PureJaxRL settings)", 1, base),
        # 16 seeds x 200k steps hung inside XLA here (see README): half the budget
        ("ppo cartpole 4x128 (PureJaxRL settings)", 16, half),
        ("ppo cartpole 256x32, 2 epochs x 2 minibatches", 1, wide),
        learning_wide,
        # 4 seeds of this 1M-step configuration hung inside XLA (README): not run
        ("ppo cartpole 1024x16, 1 epoch x 1 minibatch", 1, fast),
    ]


WIDE = ppo_setup.CARTPOLE_WIDE
MPI_RANKS = 2


def mpi_worker(repeats: int) -> None:
    """Under mpirun: train `WIDE` data-parallel; rank 0 prints one JSON record."""
    from mpi4py import MPI

    from rlblocks.agents import data_parallel

    comm = MPI.COMM_WORLD
    size = comm.Get_size()
    config = dataclasses.replace(
        WIDE, num_envs=WIDE.num_envs // size, total_steps=WIDE.total_steps // size
    )
    agent = data_parallel.data_parallel(ppo.ppo, config, envs.cartpole())
    train, key = jax.jit(agent.train), jax.random.key(0)
    start = time.perf_counter()
    jax.block_until_ready(train(key))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        metrics = jax.block_until_ready(train(key))[1]
        comm.Barrier()
        times.append(time.perf_counter() - start)
    timing = common.summarize(times)
    steps = size * config.num_iterations * config.num_envs * config.num_steps
    final = float(np.asarray(metrics.episode_return)[-5:].mean())
    if comm.Get_rank() == 0:
        common.emit(
            {
                "name": f"ppo cartpole 512x16 (CARTPOLE_WIDE), mpirun -n {size}",
                "ranks": size,
                "envs_per_rank": config.num_envs,
                "env_steps": steps,
                "compile_s": first - timing["median_s"],
                "median_s": timing["median_s"],
                "iqr_s": timing["iqr_s"],
                "steps_per_s": steps / timing["median_s"],
                "final_return_rank0": round(final, 1),
            }
        )


def data_parallel_record(repeats: int) -> dict:
    """Launch `mpi_worker` under `mpirun -n 2 --bind-to core`; its JSON record."""
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    cmd = [mpirun, "--allow-run-as-root", "--bind-to", "core", "-n", str(MPI_RANKS)]
    cmd += [sys.executable, os.path.abspath(__file__), f"--repeats={repeats}"]
    env = dict(os.environ, RLB_JIT_MPI_WORKER="1")
    out = subprocess.run(
        cmd, env=env, check=True, capture_output=True, text=True, timeout=1200
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def emit_data_parallel(repeats: int, host_sps: float) -> None:
    """Print the data-parallel record, or the launch's failure (the rest still runs)."""
    try:
        record = data_parallel_record(repeats)
    except (subprocess.SubprocessError, OSError, ValueError, IndexError) as exc:
        tail = (getattr(exc, "stderr", None) or "")[-2000:]
        print(f"data-parallel row failed: {exc!r}\n{tail}", file=sys.stderr)
        common.emit(
            {"name": f"CARTPOLE_WIDE, mpirun -n {MPI_RANKS}", "error": repr(exc)}
        )
        return
    record["speedup_vs_host_loop"] = round(record["steps_per_s"] / host_sps, 1)
    common.emit(record)


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
    if os.environ.get("RLB_JIT_MPI_WORKER"):
        mpi_worker(repeats)
        return
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
    # before pinning: mpirun's ranks inherit this process's CPU affinity
    emit_data_parallel(repeats, host["median"])
    if os.environ.get("RLBLOCKS_PIN", "1") != "0" and hasattr(os, "sched_setaffinity"):
        loop.pin_threads({max(os.sched_getaffinity(0))})
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

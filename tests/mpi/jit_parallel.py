"""MPI worker: the fully-jitted PPO and DQN, data-parallel over the ranks.

Run under ``mpirun -n N``. Each agent trains a tiny budget with gradients averaged
inside the jitted update; prints ``rank R: ok NAME`` when the parameters are
bit-identical on every rank while the environment states differ, else
``rank R: FAIL NAME: reason``. Exits 1 if any check failed on this rank.
"""

import sys

import jax
import numpy as np
from mpi4py import MPI

from rlblocks import envs
from rlblocks.agents import data_parallel, dqn, dqn_jit, ppo

COMM = MPI.COMM_WORLD
R = COMM.Get_rank()


def flat(tree):
    return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


def check(name, agent):
    state, _ = jax.jit(agent.train)(jax.random.key(0))
    params = getattr(state, "agent", state).params
    start = agent.init(jax.random.key(0))
    start = getattr(start, "agent", start).params
    got = COMM.allgather((flat(params), flat(state.env_state)))
    same = all(np.array_equal(p, got[0][0]) for p, _ in got)
    differ = all(not np.array_equal(e, got[0][1]) for _, e in got[1:])
    moved = not np.array_equal(flat(params), flat(start))
    ok = same and differ and moved
    why = f"same params {same}, envs differ {differ}, params moved {moved}"
    print(f"rank {R}: {'ok' if ok else 'FAIL'} {name}{'' if ok else ': ' + why}")
    return ok


tiny_ppo = ppo.PPOConfig(
    num_envs=2, num_steps=8, total_steps=32, num_minibatches=2, hidden_sizes=(8,)
)
tiny_dqn = dqn.DQNConfig(
    batch_size=8, replay_capacity=64, learning_starts=8, hidden_sizes=(8,)
)
results = [
    check("ppo", data_parallel.data_parallel(ppo.ppo, tiny_ppo, envs.cartpole())),
    check(
        "dqn_jit",
        data_parallel.data_parallel(
            dqn_jit.dqn_jit,
            tiny_dqn,
            envs.cartpole(),
            num_envs=2,
            total_steps=32,
            num_evals=1,
            eval_episodes=1,
        ),
    ),
]
sys.exit(0 if all(results) else 1)

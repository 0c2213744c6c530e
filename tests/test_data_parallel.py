"""Data-parallel fully-jitted agents: one `mpirun -n 2` launch (marker `mpi`)."""

import jax
import numpy as np
import pytest

from rlblocks import envs
from rlblocks.agents import data_parallel, ppo
from tests.test_distributed import run_mpi


def test_one_rank_world_trains_like_the_plain_agent():
    config = ppo.PPOConfig(
        num_envs=2, num_steps=4, total_steps=16, num_minibatches=1, hidden_sizes=(4,)
    )
    agent = data_parallel.data_parallel(ppo.ppo, config, envs.cartpole())
    plain = ppo.ppo(config, envs.cartpole())
    key = jax.random.key(0)
    got, want = jax.jit(agent.train)(key)[1], jax.jit(plain.train)(key)[1]
    np.testing.assert_array_equal(got.loss, want.loss)
    np.testing.assert_array_equal(got.episodes, want.episodes)


@pytest.mark.mpi
def test_two_ranks_keep_identical_parameters():
    code, out, err, _ = run_mpi(2, "jit_parallel.py", timeout=400)
    for rank in (0, 1):
        for name in ("ppo", "dqn_jit"):
            assert f"rank {rank}: ok {name}" in out, out + err
    assert code == 0, out + err

"""Data-parallel DQN on CartPole-v1: `examples/dqn_cartpole.py` under mpirun.

    .venv/bin/mpirun --allow-run-as-root -n 2 .venv/bin/python examples/dqn_mpi.py

Every rank runs its own environments, replay and exploration (`rlb.distributed
.rank_seed`) and the same initial parameters (same `seed`); the jitted update averages
gradients across ranks with `rlb.distributed.average_gradients`, so the parameters
stay identical, which `rlb.distributed.check_consistent` verifies at the end. Rank 0
prints. Run without mpirun it is a 1-rank world.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dqn_cartpole

import rlblocks as rlb


@dataclasses.dataclass(frozen=True)
class Config(dqn_cartpole.Config):
    steps: int = 50_000  # per rank: 100k env steps in total on 2 ranks


def main(config: Config) -> dict:
    """Train on every rank; return rank 0's view plus the world size."""
    dist = rlb.distributed
    result = dqn_cartpole.main(
        config,
        # ordered=False: each update needs the previous one's parameters, so the
        # data fix the order of the exchanges; the cheaper in-jit call (FFI).
        grad_transform=functools.partial(dist.average_gradients, ordered=False),
        env_seed=int(dist.rank_seed(config.seed)),
    )
    dist.check_consistent(result.pop("params"))
    return dict(result, ranks=dist.size())


if __name__ == "__main__":
    out = main(dqn_cartpole.parse(sys.argv[1:], Config()))
    rlb.distributed.print0(out)

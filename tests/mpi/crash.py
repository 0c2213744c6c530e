"""MPI worker: rank 1 raises while rank 0 waits in a collective.

Expected: importing rlblocks.distributed installed the abort hook, so the uncaught
exception aborts the whole job (non-zero exit) instead of leaving rank 0 blocked.
"""

import numpy as np
from mpi4py import MPI

import rlblocks.distributed as rld

if MPI.COMM_WORLD.Get_rank() == 1:
    raise RuntimeError("deliberate failure on rank 1")
rld.ring_allreduce(np.ones(1000))  # would block forever without the abort hook
print("rank 0 finished the collective: the abort did not happen", flush=True)

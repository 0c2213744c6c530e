"""MPI worker: rank 1 never joins the collective; the stall watchdog must abort.

Argument: "ring", "native" or "segmented" (the algorithm rank 0 waits in).
"""

import sys
import time

import numpy as np
from mpi4py import MPI

import rlblocks.distributed as rld

algorithm = sys.argv[1]
rld.allreduce(np.ones(1000), algorithm=algorithm)  # both ranks: agreed and warmed up
rld.set_stall_timeout(1.0)
if MPI.COMM_WORLD.Get_rank() == 0:
    rld.allreduce(np.ones(1000), algorithm=algorithm)
    print("rank 0 finished the collective: the watchdog did not fire", flush=True)
else:
    time.sleep(60)  # stands in for a rank stuck elsewhere

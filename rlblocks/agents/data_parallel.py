"""Data parallelism for the fully-jitted agents under `mpirun`.

Every rank builds the same agent with gradients averaged across ranks inside the
jitted update (`rlblocks.distributed.average_gradients`, an ordered `io_callback`)
and its own rank, so parameters start equal (shared parameter key) while each
rank steps its own environments. Equal averaged gradients keep them equal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def data_parallel(
    factory: Callable[..., Any], *args: Any, comm: Any = None, **kw: Any
) -> Any:
    """Build `factory(*args, **kw)` as one data-parallel replica of this rank.

    ḡ = (1/K) Σᵣ gᵣ over the K ranks, applied identically on each.

    Args:
      factory: `rlblocks.agents.ppo.ppo` or `rlblocks.agents.dqn_jit.dqn_jit` (any
        factory accepting `grad_transform=` and `rank=`).
      *args: its positional arguments (config, env, ...).
      comm: an mpi4py communicator; None for the world.
      **kw: its other keyword arguments.

    Returns:
      The agent; jit its `train(key)` with the SAME key on every rank, and do not
      `vmap` it over seeds (the collective is an ordered callback). In a 1-rank
      world this is `factory(*args, **kw)` with rank 0.
    """
    from rlblocks import distributed

    average = functools.partial(distributed.average_gradients, comm=comm)
    rank = distributed.rank() if comm is None else comm.Get_rank()
    return factory(*args, grad_transform=average, rank=rank, **kw)

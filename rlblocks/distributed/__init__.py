"""rlblocks.distributed: MPI collectives and data-parallel helpers (mpi4py).

The only part of rlblocks that imports mpi4py. Under ``mpirun -n N`` every function
acts over the world communicator (or the `comm` passed); without mpirun, or without
mpi4py installed, it is a 1-rank world where every collective is the identity.

Importing this package in a world of more than one rank installs
`install_abort_on_exception`, so an uncaught exception on one rank aborts the job
rather than leaving the other ranks blocked.
"""

from rlblocks.distributed import _allreduce, _ring, _tree, _world

MismatchError = _world.MismatchError
RootOnlyFilter = _world.RootOnlyFilter
allreduce = _allreduce.allreduce
allreduce_tree = _tree.allreduce_tree
average_gradients = _tree.average_gradients
broadcast_tree = _tree.broadcast_tree
check_every_call = _world.check_every_call
check_consistent = _tree.check_consistent
choose_algorithm = _allreduce.choose_algorithm
chunk_offsets = _ring.chunk_offsets
install_abort_on_exception = _world.install_abort_on_exception
is_root = _world.is_root
print0 = _world.print0
rank = _world.rank
rank_seed = _world.rank_seed
set_check_every_call = _world.set_check_every_call
ring_allreduce = _ring.ring_allreduce
ring_min_bytes = _allreduce.ring_min_bytes
segment_bytes = _allreduce.segment_bytes
set_stall_timeout = _world.set_stall_timeout
size = _world.size
stall_timeout = _world.stall_timeout

__all__ = [
    "MismatchError",
    "RootOnlyFilter",
    "allreduce",
    "allreduce_tree",
    "average_gradients",
    "broadcast_tree",
    "check_consistent",
    "check_every_call",
    "choose_algorithm",
    "chunk_offsets",
    "install_abort_on_exception",
    "is_root",
    "print0",
    "rank",
    "rank_seed",
    "ring_allreduce",
    "ring_min_bytes",
    "segment_bytes",
    "set_check_every_call",
    "set_stall_timeout",
    "size",
    "stall_timeout",
]

if _world.size() > 1:
    install_abort_on_exception()

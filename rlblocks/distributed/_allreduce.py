"""`allreduce`: the ring or the MPI library's own collective, chosen by message size.

Small messages are latency bound: the MPI library's `Allreduce` (in place) does them in
one C call, while the Python ring pays ~2 us per step. Large messages are bandwidth
bound, where the ring moves the minimum of data and reuses its scratch memory. Open
MPI's allreduce allocates a full-size temporary per call; from 32 MiB glibc serves that
with a fresh `mmap` each time and the page faults make it several times slower.
`RING_MIN_BYTES` holds the measured crossover (see benchmarks/README.md, "Allreduce").
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from rlblocks._src import types
from rlblocks.distributed import _ring, _world

ALGORITHMS = ("auto", "ring", "native")

# Smallest message (bytes) for which "auto" uses the ring, by number of ranks;
# measured with benchmarks/bench_allreduce.py. Override with RLBLOCKS_RING_MIN_BYTES.
RING_MIN_BYTES = {2: 32 << 20, 3: 32 << 20, 4: 32 << 20}
_DEFAULT_RING_MIN_BYTES = 32 << 20
_NATIVE_KINDS = "iufc"
_MPI = _world.MPI
_MPI_OPS = (
    {}
    if _MPI is None
    else {"sum": _MPI.SUM, "mean": _MPI.SUM, "max": _MPI.MAX, "min": _MPI.MIN}
)


def ring_min_bytes(n_ranks: int) -> int:
    """Return the message size in bytes from which "auto" picks the ring."""
    env = os.environ.get("RLBLOCKS_RING_MIN_BYTES")
    if env:
        return int(env)
    return RING_MIN_BYTES.get(n_ranks, _DEFAULT_RING_MIN_BYTES)


def choose_algorithm(nbytes: int, dtype: np.dtype, n_ranks: int) -> str:
    """Return "ring" or "native" for a message of `nbytes` bytes over `n_ranks`."""
    if dtype.kind not in _NATIVE_KINDS or (dtype.itemsize == 2 and dtype.kind == "f"):
        return "ring"  # float16/bfloat16: no portable MPI datatype
    return "ring" if nbytes >= ring_min_bytes(n_ranks) else "native"


def _native_runner(op: str, comm):
    """The in-place call to MPI's own `Allreduce`, bound once per agreed call."""
    mpi_op, n, in_place = _MPI_OPS[op], comm.Get_size(), _MPI.IN_PLACE
    blocking, mean = comm.Allreduce, op == "mean"

    def run(flat: np.ndarray) -> None:
        if _world._stall_timeout is None:
            blocking(in_place, flat, mpi_op)
        else:
            req = comm.Iallreduce(in_place, flat, op=mpi_op)
            _world.wait([req], "allreduce (MPI Iallreduce)", comm)
        if mean:
            _ring.divide_inplace(flat, n)

    return run


def _ring_runner(op: str, comm):
    """The in-place ring, bound once per agreed call."""
    return lambda flat: _ring.ring_inplace(flat.reshape(-1), op, comm)


# (id(comm), shape, dtype, op, algorithm) -> (runner or None, algorithm, signature):
# validated, agreed calls, so that repeated calls cost one dict lookup. A runner
# holds a reference to its communicator, so that id cannot be reused while cached.
_calls: dict = {}
# The last call's (comm argument, dtype, shape, op, algorithm, call, communicator).
_last: list = [None]


def _resolve(x: np.ndarray, op: str, algorithm: str, comm):
    """Validate a new kind of call, agree on it across ranks, pick the runner."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    n = comm.Get_size()
    algo = choose_algorithm(x.nbytes, x.dtype, n) if algorithm == "auto" else algorithm
    sig = ("allreduce", x.shape, x.dtype, f"op={op}", f"algorithm={algo}")
    if n > 1:  # agree first, so that bad input raises on every rank
        _world.agree(comm, sig)
    _ring.check_op(op, x.dtype)
    if algo == "native" and choose_algorithm(0, x.dtype, 2) == "ring":
        raise ValueError(f"algorithm='native' does not support dtype {x.dtype}")
    runner = None
    if n > 1 and x.size:
        runner = (_ring_runner if algo == "ring" else _native_runner)(op, comm)
    return runner, algo, sig


def allreduce(
    buf: types.ArrayLike,
    *,
    op: str = "sum",
    algorithm: str = "auto",
    comm: Any = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Allreduce a numpy buffer with the ring or MPI's own collective.

    yᵢ = ⊕ᵣ bufᵣ,ᵢ with ⊕ ∈ {sum, mean, max, min}. "auto" picks MPI's in-place
    `Allreduce` below `ring_min_bytes(size)` bytes (latency bound) and the ring above
    (bandwidth bound); float16/bfloat16 always use the ring. The first call with a
    given shape, dtype, op and algorithm checks that every rank agrees (a mismatch
    raises `MismatchError` on every rank instead of hanging); later ones only look
    the call up (1.5-2 us over MPI's own call, measured under `mpirun -n 2`).

    Args:
      buf: [...] numpy (or jax) array of a numeric dtype, the same shape and dtype on
        every rank. It is not modified (unless `out` is `buf`).
      op: "sum", "mean" (floats only), "max" or "min".
      algorithm: "auto", "ring" or "native".
      comm: an mpi4py communicator; None for the world.
      out: optional C-contiguous numpy array of buf's shape and dtype to write into;
        pass `buf` itself for an in-place reduction.

    Returns:
      [...] numpy array: the reduction.
    """
    x = buf if type(buf) is np.ndarray else np.asarray(buf)
    last = _last[0]  # repeated calls (one gradient buffer per step) skip hashing
    agreed = False
    if (
        last is not None
        and last[0] is comm
        and last[1] is x.dtype
        and last[2] == x.shape
        and last[3] == op
        and last[4] == algorithm
    ):
        call, world = last[5], last[6]
    else:
        world = _world.get_comm(comm)
        key = (id(world), x.shape, x.dtype, op, algorithm)
        call = _calls.get(key)
        if call is None:  # _resolve has just agreed on it
            call, agreed = _resolve(x, op, algorithm, world), True
            _calls[key] = call
        _last[0] = (comm, x.dtype, x.shape, op, algorithm, call, world)
    if _world._every_call and not agreed and call[0] is not None:
        _world.agree(world, call[2])
    if out is not x or not x.flags.carray:
        x = _ring.prepare_out(x, out)
    if call[0] is not None:
        call[0](x)
    return x

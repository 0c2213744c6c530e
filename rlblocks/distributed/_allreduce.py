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

import numpy as np

from rlblocks.distributed import _ring, _world

ALGORITHMS = ("auto", "ring", "native")

# Smallest message (bytes) for which "auto" uses the ring, by number of ranks;
# measured with benchmarks/bench_allreduce.py. Override with RLBLOCKS_RING_MIN_BYTES.
RING_MIN_BYTES = {2: 32 << 20, 3: 32 << 20, 4: 32 << 20}
_DEFAULT_RING_MIN_BYTES = 32 << 20
_NATIVE_KINDS = "iufc"


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


def _native_inplace(flat: np.ndarray, op: str, comm) -> None:
    mpi_op = {"max": _world.MPI.MAX, "min": _world.MPI.MIN}.get(op, _world.MPI.SUM)
    if _world.stall_timeout() is None:
        comm.Allreduce(_world.MPI.IN_PLACE, flat, op=mpi_op)
    else:
        req = comm.Iallreduce(_world.MPI.IN_PLACE, flat, op=mpi_op)
        _world.wait([req], "allreduce (MPI Iallreduce)", comm)
    if op == "mean":
        np.divide(flat, comm.Get_size(), out=flat)


def allreduce(
    buf, *, op: str = "sum", algorithm: str = "auto", comm=None, out=None
) -> np.ndarray:
    """Allreduce a numpy buffer with the ring or MPI's own collective.

    yᵢ = ⊕ᵣ bufᵣ,ᵢ with ⊕ ∈ {sum, mean, max, min}. "auto" picks MPI's in-place
    `Allreduce` below `ring_min_bytes(size)` bytes (latency bound) and the ring above
    (bandwidth bound); float16/bfloat16 always use the ring. The first call with a
    given shape, dtype and op checks that every rank agrees (a mismatch raises
    `MismatchError` on every rank instead of hanging).

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
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    x = np.asarray(buf)
    comm = _world.get_comm(comm)
    n = comm.Get_size()
    if algorithm == "auto":
        algorithm = choose_algorithm(x.nbytes, x.dtype, n)
    if n > 1:  # agree first, so that bad input raises on every rank
        _world.agree(
            comm, ("allreduce", x.shape, x.dtype, f"op={op}", f"algorithm={algorithm}")
        )
    _ring.check_op(op, x.dtype)
    if algorithm == "native" and choose_algorithm(0, x.dtype, 2) == "ring":
        raise ValueError(f"algorithm='native' does not support dtype {x.dtype}")
    result = _ring.prepare_out(x, out)
    if n > 1 and result.size:
        flat = result.reshape(-1)
        if algorithm == "ring":
            _ring.ring_inplace(flat, op, comm)
        else:
            _native_inplace(flat, op, comm)
    return result

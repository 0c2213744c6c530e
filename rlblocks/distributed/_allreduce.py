"""`allreduce`: MPI's own collective, whole or in segments, or the ring, by size.

Small messages are latency bound: the MPI library's `Allreduce` (in place) does them in
one C call, while the Python ring pays ~2 us per step. Large messages are bandwidth
bound, and there Open MPI's allreduce slows down with the message: it allocates a
full-size temporary per call (from 32 MiB glibc serves it with a fresh `mmap`, and the
page faults make it several times slower) and its working set leaves the caches. So
from `SEGMENTED_MIN_BYTES` "auto" runs MPI's in-place `Allreduce` over consecutive
segments of `segment_bytes(size)` bytes: the same library call and reduction, each
element reduced once, with a temporary that stays small. float16/bfloat16, which MPI
has no portable datatype for, use the ring. The thresholds are measured (see
benchmarks/README.md, "Allreduce").
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from rlblocks._src import types
from rlblocks.distributed import _ring, _world

ALGORITHMS = ("auto", "ring", "native", "segmented")

# Smallest message (bytes) for which "auto" cuts MPI's allreduce into segments, and
# the segment size by number of ranks; measured with benchmarks/bench_allreduce.py.
# Override with RLBLOCKS_SEGMENTED_MIN_BYTES and RLBLOCKS_SEGMENT_BYTES.
SEGMENTED_MIN_BYTES = 4 << 20
SEGMENT_BYTES = {2: 1 << 20}
_DEFAULT_SEGMENT_BYTES = 512 << 10
_NATIVE_KINDS = "iufc"
_MPI = _world.MPI
_MPI_OPS = (
    {}
    if _MPI is None
    else {"sum": _MPI.SUM, "mean": _MPI.SUM, "max": _MPI.MAX, "min": _MPI.MIN}
)


def ring_min_bytes(n_ranks: int) -> int | None:
    """Return the message size in bytes from which "auto" picks the ring, or None.

    None (the default, for every rank count) means "auto" uses the ring only for
    float16/bfloat16. At 2 ranks the segmented MPI allreduce beat the ring in most
    runs, not in all; at 4 oversubscribed ranks either one won from 2 MiB, depending
    on the run (benchmarks/README.md). Set RLBLOCKS_RING_MIN_BYTES to route large
    messages to the ring.
    """
    env = os.environ.get("RLBLOCKS_RING_MIN_BYTES")
    return int(env) if env else None


def segment_bytes(n_ranks: int) -> int:
    """Return the segment size in bytes of the "segmented" algorithm."""
    env = os.environ.get("RLBLOCKS_SEGMENT_BYTES")
    if env:
        return int(env)
    return SEGMENT_BYTES.get(n_ranks, _DEFAULT_SEGMENT_BYTES)


def _mpi_has_type(dtype: np.dtype) -> bool:
    """Whether MPI's own collective can reduce `dtype` (no float16/bfloat16)."""
    return dtype.kind in _NATIVE_KINDS and not (
        dtype.itemsize == 2 and dtype.kind == "f"
    )


def choose_algorithm(nbytes: int, dtype: np.dtype, n_ranks: int) -> str:
    """Return "ring", "segmented" or "native" for `nbytes` bytes over `n_ranks`."""
    if not _mpi_has_type(dtype):
        return "ring"  # float16/bfloat16: no portable MPI datatype
    ring_from = ring_min_bytes(n_ranks)
    if ring_from is not None and nbytes >= ring_from:
        return "ring"
    env = os.environ.get("RLBLOCKS_SEGMENTED_MIN_BYTES")
    segmented_from = int(env) if env else SEGMENTED_MIN_BYTES
    return "segmented" if nbytes >= segmented_from else "native"


def _native_runner(op: str, comm, segment: int | None = None):
    """MPI's own in-place `Allreduce`, whole or over segments of `segment` elements,
    bound once per agreed call."""
    mpi_op, n, in_place = _MPI_OPS[op], comm.Get_size(), _MPI.IN_PLACE
    blocking, mean = comm.Allreduce, op == "mean"

    def reduce(part: np.ndarray) -> None:
        if _world._stall_timeout is None:
            blocking(in_place, part, mpi_op)
        else:
            req = comm.Iallreduce(in_place, part, op=mpi_op)
            _world.wait([req], "allreduce (MPI Iallreduce)", comm)

    def run(flat: np.ndarray) -> None:
        if segment is None:
            reduce(flat)
        else:
            flat = flat.reshape(-1)
            for start in range(0, flat.size, segment):
                reduce(flat[start : start + segment])
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
    segment = None
    if algo == "segmented":  # part of the signature: ranks must make the same calls
        segment = max(1, segment_bytes(n) // x.dtype.itemsize)
        sig += (f"segment={segment}",)
    if n > 1:  # agree first, so that bad input raises on every rank
        _world.agree(comm, sig)
    _ring.check_op(op, x.dtype)
    if algo in ("native", "segmented") and not _mpi_has_type(x.dtype):
        raise ValueError(f"algorithm={algo!r} does not support dtype {x.dtype}")
    runner = None
    if n > 1 and x.size:
        if algo == "ring":
            runner = _ring_runner(op, comm)
        else:
            runner = _native_runner(op, comm, segment)
    return runner, algo, sig


def allreduce(
    buf: types.ArrayLike,
    *,
    op: str = "sum",
    algorithm: str = "auto",
    comm: Any = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Allreduce a numpy buffer: MPI's collective, whole or in segments, or the ring.

    yᵢ = ⊕ᵣ bufᵣ,ᵢ with ⊕ ∈ {sum, mean, max, min}. "auto" picks MPI's in-place
    `Allreduce` in one call below 4 MiB (latency bound) and over consecutive
    `segment_bytes(size)`-byte segments from 4 MiB (bandwidth bound; 0.87-3.5x the
    single call there at 2 ranks, depending on size and run); float16/bfloat16 always
    use the ring. The first call with a
    given shape, dtype, op and algorithm checks that every rank agrees (a mismatch
    raises `MismatchError` on every rank instead of hanging); later ones only look
    the call up (1.5-2 us over MPI's own call, measured under `mpirun -n 2`).

    Args:
      buf: [...] numpy (or jax) array of a numeric dtype, the same shape and dtype on
        every rank. It is not modified (unless `out` is `buf`).
      op: "sum", "mean" (floats only), "max" or "min".
      algorithm: "auto", "ring", "native" (one MPI call) or "segmented".
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

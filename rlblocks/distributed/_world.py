"""The MPI world: communicator lookup, ranks, seeding, rank-0 output, safety nets.

This is the only place (with its sibling modules) where mpi4py is imported. Without
mpi4py, or outside `mpirun`, everything works as a 1-rank world.

Safety nets:
  * `install_abort_on_exception` (installed automatically when the world has more
    than one rank) makes an uncaught exception on any rank call `comm.Abort`, so the
    other ranks do not wait forever in a collective.
  * `set_stall_timeout(seconds)` (off by default; or the environment variable
    ``RLBLOCKS_STALL_TIMEOUT``) turns every collective of this package into
    non-blocking calls with a deadline; a rank that waits longer aborts the job with a
    message saying where it was stuck.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
from typing import Any

import numpy as np

from rlblocks._src import checks

try:  # mpi4py is optional: without it this is a 1-rank world.
    from mpi4py import MPI
except ImportError:  # pragma: no cover - exercised only without the mpi extra
    MPI = None


class SelfComm:
    """Stand-in communicator of a 1-rank world, used when mpi4py is not installed."""

    def Get_rank(self) -> int:
        """Return 0: the only rank."""
        return 0

    def Get_size(self) -> int:
        """Return 1: the only rank."""
        return 1

    def Abort(self, errorcode: int = 1) -> None:
        """Exit the process with `errorcode`."""
        os._exit(errorcode)


_SELF = SelfComm()
_stall_timeout: float | None = None


def get_comm(comm: Any = None):
    """Return `comm`, or the world communicator (a 1-rank stand-in without mpi4py)."""
    if comm is not None:
        return comm
    return MPI.COMM_WORLD if MPI is not None else _SELF


def rank(comm: Any = None) -> int:
    """Return this process's rank in `comm` (default: the world), 0 without MPI.

    Args:
      comm: an mpi4py communicator; None for the world.

    Returns:
      The rank, an int in [0, size).
    """
    return get_comm(comm).Get_rank()


def size(comm: Any = None) -> int:
    """Return the number of ranks in `comm` (default: the world), 1 without MPI.

    Args:
      comm: an mpi4py communicator; None for the world.

    Returns:
      The number of processes, an int >= 1.
    """
    return get_comm(comm).Get_size()


def is_root(comm: Any = None) -> bool:
    """Return True on rank 0 of `comm`: the rank that logs, saves and evaluates.

    Args:
      comm: an mpi4py communicator; None for the world.

    Returns:
      Whether this process has rank 0.
    """
    return rank(comm) == 0


def rank_seed(seed: int, comm: Any = None) -> int:
    """Return a distinct, reproducible seed for this rank.

    seedᵣ = (seed + 1 000 003 · r) mod 2³¹, so rank 0 keeps `seed` (a 1-rank run
    reproduces a run without MPI) and nearby user seeds do not collide across ranks.

    Args:
      seed: the experiment's seed, a non-negative int.
      comm: an mpi4py communicator; None for the world.

    Returns:
      An int in [0, 2³¹), usable by `jax.random.key`, numpy and gymnasium.
    """
    if not checks.is_integer(seed) or not 0 <= seed < 2**31:
        raise ValueError(f"seed must be an int in [0, 2**31), got {seed!r}")
    return (int(seed) + 1_000_003 * rank(comm)) % 2**31


def print0(*args: Any, comm: Any = None, **kwargs: Any) -> None:
    """`print` on rank 0 only (flushed), a no-op on the other ranks.

    Args:
      *args: what `print` takes.
      comm: an mpi4py communicator; None for the world.
      **kwargs: `print`'s keyword arguments (`sep`, `end`, `file`).
    """
    if is_root(comm):
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


class RootOnlyFilter(logging.Filter):
    """A `logging.Filter` that lets records through on rank 0 only.

    Use ``logger.addFilter(RootOnlyFilter())`` (or on a handler) so that a job of N
    ranks logs once instead of N times.
    """

    def __init__(self, comm=None):
        super().__init__()
        self._root = is_root(comm)

    def filter(self, record: logging.LogRecord) -> bool:
        """Return True (keep the record) on rank 0 only."""
        return self._root


# --- safety: abort on uncaught exceptions ------------------------------------

_previous_hook = None


def install_abort_on_exception(comm: Any = None) -> None:
    """Make an uncaught exception on this rank abort the whole MPI job.

    Without it, a rank that dies leaves the others blocked in their next collective
    (and `MPI_Finalize` at exit may block too). The hook prints the traceback as
    usual, then a line naming the rank, then calls ``comm.Abort(1)``. Installed
    automatically by `import rlblocks.distributed` when the world has > 1 rank;
    installing twice is harmless.

    Args:
      comm: the communicator to abort; None for the world.
    """
    global _previous_hook
    if _previous_hook is not None:
        return
    _previous_hook = sys.excepthook
    target = get_comm(comm)

    def hook(exc_type, exc, tb):
        _previous_hook(exc_type, exc, tb)
        r, n = target.Get_rank(), target.Get_size()
        sys.stderr.write(
            f"rlblocks.distributed: uncaught {exc_type.__name__} on rank {r} of {n}; "
            "aborting the MPI job\n"
        )
        sys.stderr.flush()
        target.Abort(1)

    sys.excepthook = hook


# --- safety: stall watchdog ---------------------------------------------------


def set_stall_timeout(seconds: float | None) -> float | None:
    """Set the stall watchdog's deadline for every collective; None turns it off.

    With a deadline, collectives run as non-blocking MPI calls polled until done; a
    rank still waiting after `seconds` prints where it was stuck and aborts the job
    (a peer crashed, hangs, or called a different collective). Off by default (the
    blocking calls are a little faster); the environment variable
    ``RLBLOCKS_STALL_TIMEOUT`` sets the initial value.

    Args:
      seconds: the deadline in seconds (> 0), or None.

    Returns:
      The previous setting.
    """
    global _stall_timeout
    if seconds is not None and not float(seconds) > 0:
        raise ValueError(f"seconds must be > 0 or None, got {seconds}")
    previous, _stall_timeout = (
        _stall_timeout,
        None if seconds is None else float(seconds),
    )
    return previous


def stall_timeout() -> float | None:
    """Return the stall watchdog's deadline in seconds (None when off)."""
    return _stall_timeout


def wait(requests, what: str, comm, start: float | None = None) -> None:
    """Complete MPI `requests`, aborting the job if the stall deadline passes."""
    if _stall_timeout is None:
        MPI.Request.Waitall(requests)
        return
    start = time.monotonic() if start is None else start
    spins = 0
    while not MPI.Request.Testall(requests):
        spins += 1
        if spins > 1000:  # polled for a while: stop burning a shared core
            time.sleep(1e-4)
        if time.monotonic() - start > _stall_timeout:
            _abort_stalled(what, comm, time.monotonic() - start)


def _abort_stalled(what: str, comm, waited: float) -> None:
    sys.stderr.write(
        f"rlblocks.distributed: rank {comm.Get_rank()} of {comm.Get_size()} waited "
        f"{waited:.1f} s (stall timeout {_stall_timeout} s) in {what}; a peer may "
        "have crashed, hung, or called a different collective. Aborting the job.\n"
    )
    sys.stderr.flush()
    comm.Abort(1)


def allgather_bytes(data: bytes, what: str, comm) -> list[bytes]:
    """Gather one byte string from every rank (variable lengths, watchdog-aware)."""
    n = comm.Get_size()
    counts = np.zeros(n, np.int64)
    mine = np.array([len(data)], np.int64)
    start = time.monotonic()
    wait([comm.Iallgather(mine, counts)], what, comm, start)
    displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.empty(int(counts.sum()), np.uint8)
    send = np.frombuffer(data, np.uint8) if data else np.empty(0, np.uint8)
    spec = [out, (counts, displs), MPI.BYTE]
    wait([comm.Iallgatherv([send, MPI.BYTE], spec)], what, comm, start)
    return [out[d : d + c].tobytes() for d, c in zip(displs, counts, strict=True)]


# --- safety: agreeing on a call's signature -----------------------------------


class MismatchError(ValueError):
    """Ranks called the same collective with different shapes, dtypes or options."""


_agreed: dict = {}  # (id(comm), key) -> (fingerprint, description)
_every_call = False


def set_check_every_call(enabled: bool) -> bool:
    """Check the call signature on every collective, not only the first time.

    By default ranks compare signatures on the first call with a given structure
    only, so a rank repeating an earlier call while another makes a new one is not
    detected (the stall watchdog catches the resulting hang). With this on, every
    call first allreduces a 64-bit fingerprint of its signature (one small extra
    collective, a few microseconds), and a mismatch raises `MismatchError` on every
    rank. Set it identically on every rank (or ``RLBLOCKS_CHECK_EVERY_CALL=1``).

    Args:
      enabled: whether to check every call.

    Returns:
      The previous setting.
    """
    global _every_call
    previous, _every_call = _every_call, bool(enabled)
    return previous


def check_every_call() -> bool:
    """Return whether signatures are checked on every call."""
    return _every_call


def describe(key: tuple) -> list[str]:
    """Describe a simple signature key ``(what, shape, dtype, ...)`` in one line."""
    what, shape, dtype, *rest = key
    text = f"{what} of {np.dtype(dtype).name}{list(shape)} " + " ".join(map(str, rest))
    return [text]


def _fingerprint(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 2  # non-negative, negatable


def _fingerprints_agree(comm, fp: int, what: str) -> bool:
    both = np.array([fp, -fp], np.int64)
    wait([comm.Iallreduce(MPI.IN_PLACE, both, op=MPI.MAX)], what, comm)
    return bool(both[0] == -both[1])


def agree(comm, key: tuple, lines=None) -> None:
    """Check that every rank passed the same `key` (first call, or every call).

    Ranks exchange a description of their call (shapes, dtypes, op); if any differ,
    every rank raises `MismatchError` naming the ranks and what each passed, instead
    of entering mismatched collectives that would hang or corrupt data. Later calls
    with a key already agreed cost one dict lookup, or one 16-byte allreduce with
    `set_check_every_call(True)`.
    """
    token = (id(comm), key)
    known = _agreed.get(token)
    if known is not None and not _every_call:
        return
    if known is None:
        text = "\n".join(lines() if lines is not None else describe(key))
        known = (_fingerprint(text), text)
    what = f"checking {key[0]}"
    if _every_call and _fingerprints_agree(comm, known[0], what):
        _agreed[token] = known
        return
    got = [b.decode() for b in allgather_bytes(known[1].encode(), what, comm)]
    if len(set(got)) > 1:
        raise MismatchError(mismatch_message(key[0], got))
    _agreed[token] = known


def mismatch_message(what: str, got: list[str]) -> str:
    """Name the ranks and the first line of their descriptions that differ."""
    per_rank = [g.split("\n") for g in got]
    depth = min(len(p) for p in per_rank)
    first = next((i for i in range(depth) if len({p[i] for p in per_rank}) > 1), depth)
    groups: dict[str, list[int]] = {}
    for r, p in enumerate(per_rank):
        line = p[first] if first < len(p) else f"(only {len(p)} entries)"
        groups.setdefault(line, []).append(r)
    parts = [
        f"rank{'s' if len(rs) > 1 else ''} {', '.join(map(str, rs))}: {line}"
        for line, rs in groups.items()
    ]
    return (
        f"{what}: ranks disagree on the call (it would hang or mix data). "
        + "; ".join(parts)
    )


def _init_from_environment() -> None:
    if os.environ.get("RLBLOCKS_CHECK_EVERY_CALL", "").strip() not in ("", "0"):
        set_check_every_call(True)
    value = os.environ.get("RLBLOCKS_STALL_TIMEOUT", "").strip()
    if value and value.lower() not in ("0", "none", "off"):
        set_stall_timeout(float(value))


_init_from_environment()
local = threading.local()  # per-thread scratch buffers (see _ring.py)

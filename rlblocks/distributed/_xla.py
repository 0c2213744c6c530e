"""Gradient means inside `jax.jit` as an XLA FFI call into Python, without copies.

XLA's CPU runtime calls a typed-FFI handler with a call frame holding pointers to
the operand and result buffers. The handler here is a ctypes callback (no compiled
code): it views those buffers as numpy arrays, writes the scaled operand into the
result and allreduces the result in place with MPI, on the XLA thread that runs the
program. Only the structures the handler reads are declared below, with the fields
of `xla/ffi/api/c_api.h` (shipped in jaxlib's `jax.ffi.include_dir()`) in order.

Against `jax.experimental.io_callback` this skips jax's host-callback machinery
(operand copies, pytree handling, result transfer) and keeps the program on jax's
C++ dispatch path: on top of MPI, ~45 us per call alone and ~100-115 us inside
the DQN learn call, against ~500 us for the callback (benchmarks/README.md). The
call has no effect token, so its place in the program is fixed only by data
dependencies: `average_gradients(ordered=False)`.
"""

from __future__ import annotations

import ctypes
import itertools
import traceback

import jax
import numpy as np

from rlblocks.distributed import _allreduce, _world

_EXECUTE = 3  # XLA_FFI_ExecutionStage_EXECUTE
_METADATA = 1  # XLA_FFI_Extension_Metadata
_INVALID_ARGUMENT, _INTERNAL = 3, 13  # XLA_FFI_Error_Code
_API_MAJOR, _API_MINOR = 0, 1  # reported to XLA, which takes older minor versions


class _ExtensionBase(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("type", ctypes.c_int),
        ("next", ctypes.c_void_p),
    ]


class _ApiVersion(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("major_version", ctypes.c_int),
        ("minor_version", ctypes.c_int),
    ]


class _Metadata(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("api_version", _ApiVersion),
        ("traits", ctypes.c_uint32),
        ("state_type_id", ctypes.c_int64),
    ]


class _MetadataExtension(ctypes.Structure):
    _fields_ = [("base", _ExtensionBase), ("metadata", ctypes.POINTER(_Metadata))]


class _Buffers(ctypes.Structure):  # XLA_FFI_Args and XLA_FFI_Rets
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("size", ctypes.c_int64),
        ("types", ctypes.c_void_p),
        ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ]


class _Attrs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("size", ctypes.c_int64),
        ("types", ctypes.c_void_p),
        ("names", ctypes.c_void_p),
        ("attrs", ctypes.c_void_p),
    ]


class _ErrorCreateArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("message", ctypes.c_char_p),
        ("errc", ctypes.c_int),
    ]


_ErrorCreate = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_ErrorCreateArgs))


class _Api(ctypes.Structure):  # leading fields of XLA_FFI_Api
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("api_version", _ApiVersion),
        ("internal_api", ctypes.c_void_p),
        ("error_create", _ErrorCreate),
    ]


class _CallFrame(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.POINTER(_ExtensionBase)),
        ("api", ctypes.POINTER(_Api)),
        ("ctx", ctypes.c_void_p),
        ("stage", ctypes.c_int),
        ("args", _Buffers),
        ("rets", _Buffers),
        ("attrs", _Attrs),
        ("future", ctypes.c_void_p),
    ]


class _Buffer(ctypes.Structure):  # leading fields of XLA_FFI_Buffer
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("data", ctypes.c_void_p),
    ]


_Handler = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_CallFrame))
_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)

_targets: dict = {}  # (id(comm), key, groups) -> registered target name
_alive: list = []  # the ctypes callbacks XLA holds pointers to
_names = itertools.count()
_dups: dict = {}  # id(comm) -> (comm, its duplicate for in-jit collectives)


def _view(frame, which: str, i: int, dtype: np.dtype, size: int) -> np.ndarray:
    buffers = getattr(frame, which).buffers
    data = ctypes.cast(buffers[i], ctypes.POINTER(_Buffer)).contents.data
    raw = (ctypes.c_char * (size * dtype.itemsize)).from_address(data)
    return np.frombuffer(raw, dtype)


def _error(frame, exc: BaseException):
    code = _INVALID_ARGUMENT if isinstance(exc, ValueError) else _INTERNAL
    text = "".join(traceback.format_exception_only(exc)).strip()
    args = _ErrorCreateArgs(ctypes.sizeof(_ErrorCreateArgs), None, text.encode(), code)
    return frame.api.contents.error_create(ctypes.byref(args))


def mean_into(comm, key, lines, flats, outs) -> None:
    """Write the mean over `comm` of each flat vector into its `outs` entry.

    The in-jit means' host side (this handler and the ordered io_callback): check
    once that every rank passed the same `key`, then per dtype group scale by 1/N
    into `out` and sum `out` in place across ranks, as `allreduce_tree` does.
    """
    _world.agree(comm, key, lambda: lines)
    scale = 1.0 / comm.Get_size()
    for flat, out in zip(flats, outs, strict=True):
        np.multiply(flat, scale, out=out)
        _allreduce.allreduce(out, op="sum", comm=comm, out=out)


def _mean_handler(comm, key, lines, groups):
    """The FFI handler averaging `groups` ((dtype, size) per operand) over `comm`."""

    def handler(frame_ptr):
        frame = frame_ptr.contents
        ext = frame.extension_start
        if ext and ext.contents.type == _METADATA:  # XLA asks which FFI version
            meta = ctypes.cast(ext, ctypes.POINTER(_MetadataExtension)).contents
            meta.metadata.contents.api_version.major_version = _API_MAJOR
            meta.metadata.contents.api_version.minor_version = _API_MINOR
            return None
        if frame.stage != _EXECUTE:
            return None
        try:
            views = [
                [_view(frame, which, i, *group) for i, group in enumerate(groups)]
                for which in ("args", "rets")
            ]
            mean_into(comm, key, lines, *views)
        except BaseException as exc:  # an XLA error on the host, not a lost one
            return _error(frame, exc)
        return None

    return handler


def thread_level() -> int:
    """The thread support MPI was initialised with (`MPI.Query_thread()`)."""
    return _world.MPI.Query_thread()


def check_thread_level() -> None:
    """Raise RuntimeError unless MPI was initialised with MPI_THREAD_MULTIPLE.

    The in-jit means call MPI on XLA's threads while the host thread may call it
    too (`check_consistent`, host allreduces): with less than MPI_THREAD_MULTIPLE
    that is undefined behaviour (crashes or silent corruption), so it is refused.
    """
    mpi = _world.MPI
    level, multiple = thread_level(), mpi.THREAD_MULTIPLE
    if level < multiple:  # the MPI standard orders the levels
        names = ("SINGLE", "FUNNELED", "SERIALIZED")
        name = {getattr(mpi, f"THREAD_{n}"): n for n in names}.get(level, "?")
        raise RuntimeError(
            "average_gradients inside jax.jit runs MPI on XLA's threads while the "
            "host thread may call MPI as well, which needs MPI_THREAD_MULTIPLE; this "
            f"process initialised MPI with MPI_THREAD_{name} (level "
            f"{level} < {multiple}). Leave mpi4py.rc.thread_level at its default "
            "'multiple' before mpi4py.MPI is imported, or average on the host "
            "(average_gradients outside jax.jit)."
        )


def in_jit_comm(comm):
    """A duplicate of `comm` for collectives that run on XLA's threads.

    A jitted program runs while the host thread goes on (asynchronous dispatch), so
    its collectives may overlap host collectives on the same ranks; on their own
    communicator the two streams cannot match each other's messages. Collective:
    the first call for a communicator (at trace time) must happen on every rank.
    Raises RuntimeError (`check_thread_level`) if MPI lacks MPI_THREAD_MULTIPLE.
    """
    entry = _dups.get(id(comm))
    if entry is None or entry[0] is not comm:
        check_thread_level()
        entry = _dups[id(comm)] = (comm, comm.Dup())
    return entry[1]


def mean_call(comm, key: tuple, lines: list[str], flats: list) -> list:
    """Average the flat vectors `flats` (one per dtype) across `comm` in one FFI call.

    Every rank must trace the same `key` (checked on the first execution, as the
    host collectives do; a mismatch raises `MismatchError` text as an XLA error).
    """
    groups = tuple((np.dtype(f.dtype), int(f.size)) for f in flats)
    name = _targets.get((id(comm), key, groups))
    if name is None:
        name = f"rlblocks_mean_{next(_names)}"
        handler = _Handler(_mean_handler(comm, key, lines, groups))
        pointer = ctypes.cast(handler, ctypes.c_void_p).value
        capsule = _capsule_new(pointer, b"xla._CUSTOM_CALL_TARGET", None)
        jax.ffi.register_ffi_target(name, capsule, platform="cpu", api_version=1)
        _alive.append((comm, handler, capsule))
        _targets[(id(comm), key, groups)] = name
    shapes = [jax.ShapeDtypeStruct(f.shape, f.dtype) for f in flats]
    return jax.ffi.ffi_call(name, shapes)(*flats)

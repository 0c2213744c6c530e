"""rlblocks.distributed: chunking, the ring on simulated ranks, the 1-rank world, and
the real thing under `mpirun -n 2` / `-n 3` (workers in tests/mpi/, marker `mpi`).

Each mpirun launch costs ~2 s, so one launch of tests/mpi/collectives.py runs many
checks and every check is then asserted as its own test from the captured output.
"""

import functools
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlblocks.distributed as rld
from rlblocks.distributed import _allreduce as rld_allreduce
from rlblocks.distributed import _ring

HERE = Path(__file__).parent
MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which(
    "mpirun"
)


# --- chunking arithmetic ------------------------------------------------------


def test_chunk_offsets_hand_computed():
    # 10 elements over 3 ranks: 10 = 3*3 + 1, the first chunk gets the extra one.
    assert rld.chunk_offsets(10, 3) == [0, 4, 7, 10]
    # 2 elements over 3 ranks: chunks of 1, 1, 0.
    assert rld.chunk_offsets(2, 3) == [0, 1, 2, 2]
    assert rld.chunk_offsets(0, 4) == [0, 0, 0, 0, 0]
    assert rld.chunk_offsets(7, 1) == [0, 7]


@pytest.mark.parametrize("parts", [1, 2, 3, 4, 7])
def test_chunk_sizes_differ_by_at_most_one_and_cover_the_buffer(parts):
    for n in range(0, 40):
        offs = rld.chunk_offsets(n, parts)
        sizes = np.diff(offs)
        assert offs[0] == 0 and offs[-1] == n and len(sizes) == parts
        assert sizes.max() - sizes.min() <= 1 and (sizes >= 0).all()
        assert list(sizes) == sorted(sizes, reverse=True)  # longer chunks first


def test_chunk_offsets_rejects_bad_arguments():
    with pytest.raises(ValueError, match="parts >= 1"):
        rld.chunk_offsets(5, 0)


# --- the ring schedule on simulated ranks (threads, no MPI) -------------------


class ThreadComm:
    """Just enough of an mpi4py communicator for the ring: queues between threads."""

    def __init__(self, rank, size, boxes):
        self.rank, self.size, self.boxes = rank, size, boxes

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Sendrecv(self, send, dest, sendtag, recv, source, recvtag):
        self.boxes[(self.rank, dest)].put(np.array(send))
        got = self.boxes[(source, self.rank)].get(timeout=10)
        assert got.nbytes == recv.nbytes, "chunk sizes disagree between neighbours"
        recv[...] = got


def simulate_ring(inputs, op):
    """Run `ring_inplace` on len(inputs) threads; return each rank's result."""
    size = len(inputs)
    boxes = {(a, b): queue.Queue() for a in range(size) for b in range(size)}
    outs = [x.copy() for x in inputs]
    errors = []

    def run(r):
        try:
            _ring.ring_inplace(outs[r], op, ThreadComm(r, size, boxes))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors, errors
    return outs


@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_simulated_ring_equals_numpy_reduction(size):
    rng = np.random.default_rng(size)
    for n in [0, 1, size - 1, size + 1, 13]:
        ints = [rng.integers(-50, 50, n).astype(np.int64) for _ in range(size)]
        for op, ref in [("sum", np.sum), ("max", np.max), ("min", np.min)]:
            for out in simulate_ring(ints, op):
                np.testing.assert_array_equal(out, ref(np.stack(ints), axis=0))
        floats = [rng.standard_normal(n) for _ in range(size)]
        outs = simulate_ring(floats, "mean")
        np.testing.assert_allclose(outs[0], np.mean(floats, axis=0), rtol=1e-12)
        for out in outs[1:]:  # bit-identical on every rank
            assert out.tobytes() == outs[0].tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 8, 1024])
def test_mean_division_gives_the_bits_of_a_true_division(dtype, n):
    # For n = 2^k, x * 2^-k and x / 2^k round the same real number: equal bits,
    # subnormals, signed zeros, infinities and NaNs included.
    rng = np.random.default_rng(n)
    info = np.finfo(dtype)
    mags = 10.0 ** rng.uniform(
        np.log10(info.smallest_subnormal), np.log10(info.max), 5000
    )
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, info.tiny, info.smallest_subnormal]
    x = np.concatenate([mags * rng.choice([-1, 1], 5000), special]).astype(dtype)
    got = x.copy()
    _ring.divide_inplace(got, n)
    assert got.tobytes() == np.divide(x, n).tobytes()


# --- the 1-rank world (no mpirun) ---------------------------------------------


def test_one_rank_world_basics(capsys):
    assert (rld.rank(), rld.size(), rld.is_root()) == (0, 1, True)
    assert rld.rank_seed(123) == 123  # rank 0 keeps the seed
    assert rld.rank_seed(np.int64(2**31 - 1)) == 2**31 - 1
    for bad in (-1, 1.7, 2**31, 2**40):  # 2**40 would wrap onto seed 0
        with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*31\)"):
            rld.rank_seed(bad)
    rld.print0("only root speaks")
    assert capsys.readouterr().out == "only root speaks\n"


@pytest.mark.parametrize("fn", [rld.ring_allreduce, rld.allreduce])
def test_one_rank_allreduce_is_a_copy(fn):
    x = np.arange(6.0).reshape(2, 3)
    for op in ["sum", "mean", "max", "min"]:
        y = fn(x, op=op)
        np.testing.assert_array_equal(y, x)  # one rank: the reduction is the input
        assert y is not x and not np.shares_memory(x, y)
    y = fn(x, out=x)
    assert y is x


def test_one_rank_tree_helpers_are_identities():
    tree = {"w": jnp.ones((2, 3)), "b": np.zeros(3)}
    assert rld.allreduce_tree(tree) is tree
    assert rld.broadcast_tree(tree) is tree
    assert rld.average_gradients(tree) is tree
    out = jax.jit(rld.average_gradients)(tree)
    np.testing.assert_array_equal(out["w"], np.ones((2, 3)))
    # An integer leaf has no mean: refused on one rank too, as under mpirun.
    bad = {"w": np.ones(3, np.int32)}
    for fn in (rld.average_gradients, jax.jit(rld.average_gradients)):
        with pytest.raises(
            ValueError, match=r"op='mean' needs a floating leaf \['w'\]"
        ):
            fn(bad)


def test_ffi_mean_over_a_one_rank_communicator():
    # The FFI handler itself, in one process: over COMM_SELF the mean of each
    # dtype group is the group times 1/1, written into XLA's result buffers, and
    # the ops around the call see those results (2 * [0, 1, 2, 3] + 1 = [1, 3, 5,
    # 7]; the bfloat16 group [0.5, -2] is exact in bfloat16).
    mpi = pytest.importorskip("mpi4py.MPI")
    from rlblocks.distributed import _xla

    comm = _xla.in_jit_comm(mpi.COMM_SELF)
    assert _xla.in_jit_comm(mpi.COMM_SELF) is comm  # duplicated once

    @jax.jit
    def fn(x, h):
        a, b = _xla.mean_call(comm, ("probe",), ["probe"], [x * 2.0, h])
        return a + 1.0, b

    a, b = fn(jnp.arange(4.0, dtype=jnp.float32), jnp.array([0.5, -2], jnp.bfloat16))
    np.testing.assert_array_equal(np.asarray(a), [1.0, 3.0, 5.0, 7.0])
    assert b.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(b, np.float32), [0.5, -2.0])
    a2, _ = fn(jnp.ones(4, jnp.float32), jnp.zeros(2, jnp.bfloat16))  # runs again
    np.testing.assert_array_equal(np.asarray(a2), [3.0, 3.0, 3.0, 3.0])


def test_in_jit_mean_refuses_mpi_without_thread_multiple(monkeypatch):
    # The in-jit means call MPI from XLA's threads while the host may call it too:
    # an MPI initialised below MPI_THREAD_MULTIPLE is refused at trace time,
    # before the communicator is duplicated, naming the level (SERIALIZED, 2 < 3 in
    # Open MPI's numbering).
    mpi = pytest.importorskip("mpi4py.MPI")
    from rlblocks.distributed import _xla

    assert _xla.thread_level() == mpi.THREAD_MULTIPLE  # what this suite runs with
    monkeypatch.setattr(_xla, "thread_level", lambda: mpi.THREAD_SERIALIZED)
    comm = mpi.COMM_SELF.Dup()  # not yet duplicated for in-jit use
    try:
        levels = f"(level {mpi.THREAD_SERIALIZED} < {mpi.THREAD_MULTIPLE})"
        text = re.escape(f"MPI_THREAD_SERIALIZED {levels}")
        with pytest.raises(RuntimeError, match=text):
            _xla.in_jit_comm(comm)
        assert id(comm) not in _xla._dups
    finally:
        comm.Free()


def test_check_consistent_digest_depends_on_every_byte():
    tree = {"w": jnp.arange(4.0), "b": np.zeros(2, np.int32)}
    same = {"w": jnp.arange(4.0), "b": np.zeros(2, np.int32)}
    other = {"w": jnp.arange(4.0).at[3].set(3.0000002), "b": np.zeros(2, np.int32)}
    retyped = {"w": jnp.arange(4.0), "b": np.zeros(2, np.int64)}
    digest = rld.check_consistent(tree)
    assert digest == rld.check_consistent(same)
    assert digest != rld.check_consistent(other)
    assert digest != rld.check_consistent(retyped)


def test_bad_arguments_raise_value_error():
    x = np.ones(3)
    with pytest.raises(ValueError, match="op must be one of"):
        rld.ring_allreduce(x, op="prod")
    with pytest.raises(ValueError, match="floating"):
        rld.allreduce(np.arange(3), op="mean")
    with pytest.raises(ValueError, match="complex"):
        rld.allreduce(np.ones(3, np.complex64), op="max")
    with pytest.raises(ValueError, match="numeric"):
        rld.allreduce(np.array(["a"]))
    with pytest.raises(ValueError, match=r"out must match buf.*float32\[2\]"):
        rld.allreduce(x, out=np.ones(2, np.float32))
    with pytest.raises(ValueError, match="algorithm must be one of"):
        rld.allreduce(x, algorithm="tree")
    with pytest.raises(ValueError, match="does not support dtype float16"):
        rld.allreduce(np.ones(2, np.float16), algorithm="native")
    with pytest.raises(ValueError, match=r"root must lie in \[0, 1\)"):
        rld.broadcast_tree({"a": x}, root=1)
    with pytest.raises(ValueError, match="floating"):
        rld.allreduce_tree({"steps": np.arange(2)}, mean=True)
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*31\)"):
        rld.rank_seed(-1)
    with pytest.raises(ValueError, match="> 0 or None"):
        rld.set_stall_timeout(0)


def test_stall_timeout_setting_round_trips():
    previous = rld.set_stall_timeout(5)
    try:
        assert rld.stall_timeout() == 5.0
    finally:
        rld.set_stall_timeout(previous)
    assert rld.stall_timeout() == previous


def test_check_every_call_setting_round_trips():
    previous = rld.set_check_every_call(True)
    try:
        assert rld.check_every_call() is True
        np.testing.assert_array_equal(rld.allreduce(np.arange(3)), np.arange(3))
    finally:
        rld.set_check_every_call(previous)
    assert rld.check_every_call() is previous


def test_auto_algorithm_uses_thresholds(monkeypatch):
    f32 = np.dtype(np.float32)
    for var in ("RLBLOCKS_RING_MIN_BYTES", "RLBLOCKS_SEGMENTED_MIN_BYTES"):
        monkeypatch.delenv(var, raising=False)
    limit = rld_allreduce.SEGMENTED_MIN_BYTES
    assert rld.ring_min_bytes(2) is None
    assert rld.choose_algorithm(4096, f32, 2) == "native"
    assert rld.choose_algorithm(limit - 4, f32, 2) == "native"
    assert rld.choose_algorithm(limit, f32, 2) == "segmented"
    assert rld.choose_algorithm(1 << 30, f32, 4) == "segmented"
    assert rld.choose_algorithm(8, np.dtype(np.float16), 2) == "ring"
    monkeypatch.setenv("RLBLOCKS_RING_MIN_BYTES", "1024")
    assert rld.choose_algorithm(1024, f32, 2) == "ring"
    assert rld.choose_algorithm(1020, f32, 2) == "native"
    monkeypatch.setenv("RLBLOCKS_SEGMENTED_MIN_BYTES", "512")
    assert rld.choose_algorithm(512, f32, 2) == "segmented"


def test_segment_bytes_by_rank_count(monkeypatch):
    monkeypatch.delenv("RLBLOCKS_SEGMENT_BYTES", raising=False)
    assert rld.segment_bytes(2) == 1 << 20
    assert rld.segment_bytes(4) == 512 << 10
    monkeypatch.setenv("RLBLOCKS_SEGMENT_BYTES", "4096")
    assert rld.segment_bytes(2) == 4096


def test_root_only_filter_keeps_records_on_rank_zero():
    import logging

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    assert rld.RootOnlyFilter().filter(record) is True


# --- under mpirun -------------------------------------------------------------


def run_mpi(n, script, *args, timeout=180, mca=()):
    """Launch `mpirun -n n python tests/mpi/script args`; kill the job on timeout."""
    if MPIRUN is None:
        pytest.skip("mpirun not found (install the mpi extra)")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OMPI_", "PMIX_", "PRTE_"))
    }
    env.update(OMPI_MCA_rmaps_base_oversubscribe="1", PYTHONUNBUFFERED="1")
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
    for key, value in mca:
        cmd += ["--mca", key, value]
    cmd += ["-n", str(n), sys.executable, str(HERE / "mpi" / script), *args]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mpirun {script} hung for {timeout} s:\n{out}\n{err}")
    return proc.returncode, out, err, time.monotonic() - start


CHECKS = [
    "ring_all_sizes",
    "allreduce_algorithms",
    "segmented_with_many_segments",
    "int_overflow_wraps_like_mpi",
    "multidim_and_inplace",
    "half_precision_uses_ring",
    "watchdog_paths_are_correct",
    "tree_mixed_dtypes_sum",
    "tree_mean_and_buffer_reuse",
    "tree_mean_scales_before_the_sum",
    "tree_mean_rejects_ints",
    "broadcast_from_each_root",
    "consistent_trees_pass",
    "inconsistent_tree_names_ranks",
    "shape_mismatch_raises_everywhere",
    "op_mismatch_raises_everywhere",
    "segment_size_mismatch_raises_everywhere",
    "check_every_call_catches_repeats",
    "average_gradients_host_and_jit",
    "seeds_and_printing",
]


@functools.cache
def collectives_run(n):
    return run_mpi(n, "collectives.py")


@pytest.mark.mpi
@pytest.mark.parametrize("n", [2, 3])
def test_collectives_worker_exits_cleanly(n):
    code, out, err, _ = collectives_run(n)
    assert code == 0, out + err
    for r in range(n):
        assert f"rank {r}: done, 0 failed" in out


@pytest.mark.mpi
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", CHECKS)
def test_collective_check_passes_on_every_rank(n, name):
    _, out, err, _ = collectives_run(n)
    for r in range(n):
        ok = re.search(rf"^rank {r}: ok {name} ", out, re.MULTILINE)
        assert ok, f"rank {r} did not pass {name}:\n{out}\n{err[-3000:]}"


@pytest.mark.mpi
@pytest.mark.parametrize("n", [2, 3])
def test_mismatch_message_names_ranks_and_shapes_on_every_rank(n):
    _, out, _, _ = collectives_run(n)
    want = (
        "ranks 0, 1: ring_allreduce of float64[10] op=sum; rank 2: ring_allreduce "
        "of float64[11] op=sum"
        if n == 3
        else "rank 0: ring_allreduce of float64[10] op=sum; rank 1: ring_allreduce "
        "of float64[11] op=sum"
    )
    for r in range(n):
        assert f"rank {r}: message ring_allreduce: ranks disagree" in out
        assert re.search(rf"^rank {r}: message .*{re.escape(want)}", out, re.MULTILINE)


@pytest.mark.mpi
def test_tcp_transport():
    code, out, err, _ = run_mpi(2, "collectives.py", "quick", mca=[("btl", "self,tcp")])
    assert code == 0, out + err
    assert out.count(": ok ") == 2 * 3


@pytest.mark.mpi
def test_exception_on_one_rank_aborts_the_job():
    code, out, err, took = run_mpi(2, "crash.py", timeout=60)
    assert code != 0
    assert took < 30, f"abort took {took:.1f} s"
    assert "deliberate failure on rank 1" in err
    assert "uncaught RuntimeError on rank 1 of 2; aborting the MPI job" in err
    assert "rank 0 finished" not in out


@pytest.mark.mpi
@pytest.mark.parametrize("algorithm", ["ring", "native", "segmented"])
def test_stall_watchdog_aborts(algorithm):
    code, out, err, took = run_mpi(2, "stall.py", algorithm, timeout=60)
    assert code != 0 and took < 30
    where = "ring_allreduce (Sendrecv)" if algorithm == "ring" else "MPI Iallreduce"
    assert re.search(r"rank 0 of 2 waited \d+\.\d s \(stall timeout 1\.0 s\)", err), err
    assert where in err
    assert "rank 0 finished" not in out


# --- the docs page's code runs ------------------------------------------------


def test_docs_example_runs_in_a_one_rank_world(capsys):
    text = (HERE.parent / "docs" / "distributed.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks, "docs/distributed.md lost its example"
    for block in blocks:
        exec(compile(block, "docs/distributed.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.count("step ") == 3 and "loss" in out

"""MPI worker: checks rlblocks.distributed against mpi4py's own collectives.

Run under ``mpirun -n N``. Every check prints ``rank R: ok NAME`` or
``rank R: FAIL NAME: reason`` so that tests/test_distributed.py can assert on each
check separately from a single launch. Exits 1 if any check failed on this rank.
Argument ``quick`` runs a reduced set (used for the TCP transport test).
"""

import hashlib
import io
import os
import sys
import time
import traceback
from contextlib import redirect_stdout

import jax
import jax.numpy as jnp
import numpy as np
import optax
from mpi4py import MPI

import rlblocks.distributed as rld

COMM = MPI.COMM_WORLD
R, N = COMM.Get_rank(), COMM.Get_size()
MPI_OPS = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
failures = []


def check(fn):
    """Run one named check on every rank and report it."""
    start = time.perf_counter()
    try:
        fn()
        took = time.perf_counter() - start
        print(f"rank {R}: ok {fn.__name__} ({took:.2f} s)", flush=True)
    except Exception as exc:  # report and keep going: one launch, many checks
        failures.append(fn.__name__)
        msg = f"{type(exc).__name__}: {exc}".replace("\n", " | ")
        print(f"rank {R}: FAIL {fn.__name__}: {msg}", flush=True)
        traceback.print_exc()
    return fn


def data(n, dtype, salt=0):
    """Rank-dependent test data: ints in [-1000, 1000], floats ~ N(0, 1)."""
    rng = np.random.default_rng([R, n, salt])
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-1000, 1000, size=n).astype(dtype)
    return rng.standard_normal(n).astype(dtype)


def reference(x, op):
    """The reduction by mpi4py's own Allreduce (mean = sum / N)."""
    ref = np.empty_like(x)
    COMM.Allreduce(x, ref, op=MPI_OPS[op])
    return ref / N if op == "mean" else ref


def same_on_all_ranks(y, what):
    """Raise unless `y` is bit-identical on every rank."""
    digest = hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest()
    digests = COMM.allgather(digest)
    if len(set(digests)) != 1:
        raise AssertionError(f"{what}: results differ across ranks: {digests}")


def compare(y, x, op, what):
    ref = reference(x, op)
    if y.shape != x.shape or y.dtype != x.dtype:
        raise AssertionError(f"{what}: got {y.dtype}{y.shape}, want {x.dtype}{x.shape}")
    if x.dtype.kind in "iu" or op in ("max", "min"):
        ok = np.array_equal(y, ref)
    else:
        rtol = 1e-5 if x.dtype == np.float32 else 1e-12
        ok = np.allclose(y, ref, rtol=rtol, atol=rtol)
    if not ok:
        raise AssertionError(f"{what}: differs from comm.Allreduce")
    same_on_all_ranks(y, what)


SIZES = [0, 1, N - 1, N + 1, 2 * N + 1, 7, 13, 997, 10007, 1 << 20]


def sweep(fn, sizes, dtypes, ops, name):
    for n in sizes:
        for dtype in dtypes:
            for op in ops:
                if op == "mean" and np.dtype(dtype).kind in "iu":
                    continue
                x = data(n, dtype)
                before = x.copy()
                y = fn(x, op)
                compare(y, x, op, f"{name} n={n} {np.dtype(dtype).name} {op}")
                if not np.array_equal(x, before):
                    raise AssertionError(f"{name} n={n}: input was modified")


DTYPES = [np.float32, np.float64, np.int32, np.int64]
OPS = ["sum", "mean", "max", "min"]


def ring_all_sizes():
    sweep(lambda x, op: rld.ring_allreduce(x, op=op), SIZES[:-1], DTYPES, OPS, "ring")
    sweep(
        lambda x, op: rld.ring_allreduce(x, op=op),
        SIZES[-1:],
        [np.float32, np.int64],
        ["sum", "max"],
        "ring",
    )


def allreduce_algorithms():
    for algo in ("auto", "native", "ring", "segmented"):
        fn = lambda x, op, a=algo: rld.allreduce(x, op=op, algorithm=a)  # noqa: E731
        sweep(fn, [0, 1, N + 1, 997, 65537], [np.float32, np.int64], OPS, algo)
        sweep(fn, [1 << 20], [np.float32], ["sum"], algo)


def segmented_with_many_segments():
    # 256-byte segments: 1025 float32 = 16 segments of 64 plus one of 1; 4099 int64 =
    # 128 of 32 plus one of 3. Sizes no earlier check used, so the runner is new.
    os.environ["RLBLOCKS_SEGMENT_BYTES"] = "256"
    try:
        fn = lambda x, op: rld.allreduce(x, op=op, algorithm="segmented")  # noqa: E731
        sweep(fn, [1025, 4099], [np.float32, np.int64], OPS, "segmented 256 B")
        x = data(3 * 5 * 17, np.float64).reshape(3, 5, 17)
        ref = reference(x, "mean")
        y = rld.allreduce(x, op="mean", algorithm="segmented", out=x)
        if y is not x or not np.allclose(y, ref, rtol=1e-12, atol=1e-12):
            raise AssertionError("segmented in-place mean of [3, 5, 17] differs")
    finally:
        del os.environ["RLBLOCKS_SEGMENT_BYTES"]


def int_overflow_wraps_like_mpi():
    x = np.full(N + 2, np.iinfo(np.int32).max - R, np.int32)
    compare(rld.ring_allreduce(x), x, "sum", "int32 overflow")


def multidim_and_inplace():
    x = data(3 * 5 * 7, np.float64).reshape(3, 5, 7)
    keep = x.copy()
    ref = reference(keep, "sum")
    y = rld.allreduce(x, algorithm="ring", out=x)
    if y is not x or not np.allclose(x, ref, rtol=1e-12):
        raise AssertionError("in-place ring result wrong")
    out = np.empty_like(keep)
    y = rld.ring_allreduce(keep, op="max", out=out)
    if y is not out or not np.array_equal(out, reference(keep, "max")):
        raise AssertionError("out= max wrong")


def half_precision_uses_ring():
    x = data(N * 5 + 1, np.float16)
    y = rld.allreduce(x)
    ref = reference(x.astype(np.float64), "sum")
    if not np.allclose(y.astype(np.float64), ref, rtol=1e-2, atol=1e-2):
        raise AssertionError("float16 sum wrong")
    same_on_all_ranks(y, "float16")


def watchdog_paths_are_correct():
    previous = rld.set_stall_timeout(20.0)
    try:
        sweep(
            lambda x, op: rld.ring_allreduce(x, op=op),
            [N + 1, 10007],
            [np.float64],
            OPS,
            "wd",
        )
        fn = lambda x, op: rld.allreduce(x, op=op, algorithm="native")  # noqa: E731
        sweep(fn, [N + 1, 997], [np.int32], ["sum", "max"], "wd-native")
        fn = lambda x, op: rld.allreduce(x, op=op, algorithm="segmented")  # noqa: E731
        sweep(fn, [N + 1, 997], [np.int32], ["sum", "max"], "wd-segmented")
        tree = {"a": data(5, np.float32), "b": data(3, np.int64)}
        got = rld.broadcast_tree(tree, root=N - 1)
        want = COMM.bcast(tree, root=N - 1)
        assert all(np.array_equal(got[k], want[k]) for k in tree)
    finally:
        rld.set_stall_timeout(previous)


def mixed_tree():
    return {
        "w": jnp.asarray(data(12, np.float32).reshape(3, 4)),
        "b": data(5, np.float64),
        "n": data(2, np.int32),
        "layers": [jnp.asarray(data(7, np.float32)), jnp.float32(R + 0.5)],
    }


def tree_mixed_dtypes_sum():
    tree = mixed_tree()
    got = rld.allreduce_tree(tree, mean=False)
    for path, leaf in jax.tree_util.tree_leaves_with_path(got):
        x = np.asarray(
            jax.tree_util.tree_leaves(tree)[
                [p for p, _ in jax.tree_util.tree_leaves_with_path(tree)].index(path)
            ]
        )
        compare(np.asarray(leaf), x, "sum", f"tree leaf {jax.tree_util.keystr(path)}")
    if not all(isinstance(x, np.ndarray) for x in jax.tree.leaves(got)):
        raise AssertionError("allreduce_tree should return numpy leaves")
    if jax.tree.structure(got) != jax.tree.structure(tree):
        raise AssertionError("structure changed")


def tree_mean_and_buffer_reuse():
    t1 = {"a": data(10, np.float32), "b": jnp.asarray(data(4, np.float32))}
    t2 = {"a": data(10, np.float32, salt=1), "b": jnp.asarray(data(4, np.float32, 1))}
    keep1 = jax.tree.map(np.array, t1)
    g1 = rld.allreduce_tree(t1)
    g1_copy = jax.tree.map(np.array, g1)
    g2 = rld.allreduce_tree(t2)
    for k in t1:
        compare(np.asarray(g1[k]), np.asarray(keep1[k]), "mean", f"mean {k}")
        compare(np.asarray(g2[k]), np.asarray(t2[k]), "mean", f"mean2 {k}")
        if not np.array_equal(np.asarray(g1[k]), g1_copy[k]):
            raise AssertionError("a later call overwrote an earlier result")
        if not np.array_equal(np.asarray(t1[k]), keep1[k]):
            raise AssertionError("input modified")


def tree_mean_scales_before_the_sum():
    """Mean = sum of x_r / N (scaled while packing); fresh, writeable result views."""
    tree = {"w": jnp.asarray(data(1000, np.float32)), "v": data(33, np.float64)}
    keep = jax.tree.map(np.array, tree)
    got = rld.allreduce_tree(tree)
    for k, x in keep.items():
        total = np.empty_like(x)
        COMM.Allreduce(x, total, op=MPI.SUM)
        if N & (N - 1) == 0:  # x / N is exact, so the sums round alike: bit-equal
            assert np.array_equal(got[k], total / N), k
        else:  # one extra rounding per term: within a few ulps of the sum's scale
            terms = np.stack(COMM.allgather(x)).astype(np.float64)
            ulp = np.finfo(x.dtype).eps * np.abs(terms).sum(0)
            assert np.all(np.abs(got[k] - total / N) <= 4 * ulp), k
        assert got[k].flags.writeable and not np.shares_memory(got[k], x), k
        same_on_all_ranks(got[k], f"scaled mean {k}")


def tree_mean_rejects_ints():
    try:
        rld.allreduce_tree({"steps": np.arange(3)}, mean=True)
    except ValueError as exc:
        assert "['steps']" in str(exc) and "floating" in str(exc), exc
    else:
        raise AssertionError("no ValueError")


def broadcast_from_each_root():
    for root in range(N):
        tree = {"p": data(6, np.float32, salt=root), "q": [data(2, np.int32)]}
        want = COMM.bcast(tree, root=root)
        got = rld.broadcast_tree(tree, root=root)
        jax_tree = {"w": jnp.asarray(data(4, np.float32, salt=root))}
        got_jax = rld.broadcast_tree(jax_tree, root=root)
        assert isinstance(got_jax["w"], jax.Array), "broadcast keeps jax leaves"
        assert np.array_equal(got_jax["w"], COMM.bcast(jax_tree, root=root)["w"])
        if not np.array_equal(got["p"], want["p"]) or not np.array_equal(
            got["q"][0], want["q"][0]
        ):
            raise AssertionError(f"broadcast from {root} wrong")


def consistent_trees_pass():
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "b": np.ones(2, np.int32)}
    digests = COMM.allgather(rld.check_consistent(tree))
    assert len(set(digests)) == 1, digests


def inconsistent_tree_names_ranks():
    tree = {"w": jnp.arange(6.0), "b": np.ones(2) * (R == N - 1)}
    try:
        rld.check_consistent(tree)
    except ValueError as exc:
        msg = str(exc)
        assert f"rank {N - 1} differ" in msg and "['b']" in msg, msg
        print(f"rank {R}: message {msg}", flush=True)
    else:
        raise AssertionError("no ValueError")


def expect_mismatch(fn, *needles):
    try:
        fn()
    except rld.MismatchError as exc:
        msg = str(exc)
        for needle in needles:
            assert needle in msg, (needle, msg)
        print(f"rank {R}: message {msg}", flush=True)
    else:
        raise AssertionError("no MismatchError")


def shape_mismatch_raises_everywhere():
    n = 10 + (R == N - 1)
    expect_mismatch(
        lambda: rld.ring_allreduce(np.ones(n)),
        "float64[10]",
        "float64[11]",
        f"rank {N - 1}",
    )
    expect_mismatch(
        lambda: rld.allreduce(np.ones(n, np.float32)), "float32[11]", "algorithm=native"
    )
    tree = {"w": np.ones((2, 3 + (R == 1))), "b": np.ones(2)}
    expect_mismatch(lambda: rld.allreduce_tree(tree), "['w']", "[2, 3]", "[2, 4]")
    # the communicator is still in step afterwards
    compare(rld.ring_allreduce(np.arange(5.0) + R), np.arange(5.0) + R, "sum", "after")


def op_mismatch_raises_everywhere():
    # a call no rank has made before: a shape seen earlier is not re-checked
    op = "max" if R == 0 else "sum"
    expect_mismatch(lambda: rld.allreduce(np.ones(17), op=op), "op=max", "op=sum")


def segment_size_mismatch_raises_everywhere():
    # a rank launched with another RLBLOCKS_SEGMENT_BYTES would make other calls:
    # 13 float64 in segments of 8 bytes (1 element) or 16 bytes (2 elements)
    os.environ["RLBLOCKS_SEGMENT_BYTES"] = "16" if R == 0 else "8"
    try:
        fn = lambda: rld.allreduce(np.ones(13), algorithm="segmented")  # noqa: E731
        expect_mismatch(fn, "segment=2", "segment=1")
    finally:
        del os.environ["RLBLOCKS_SEGMENT_BYTES"]


def check_every_call_catches_repeats():
    previous = rld.set_check_every_call(True)
    try:
        rld.allreduce(np.ones(23))  # agreed by all ranks
        rld.allreduce_tree({"x": np.ones(29)})
        # rank 0 makes a new call while the others repeat the agreed one
        n = 24 if R == 0 else 23
        expect_mismatch(lambda: rld.allreduce(np.ones(n)), "float64[24]", "float64[23]")
        tree = {"x": np.ones(30 if R == N - 1 else 29)}
        expect_mismatch(lambda: rld.allreduce_tree(tree), "[30]", "[29]")
        compare(rld.allreduce(np.ones(23)), np.ones(23), "sum", "strict, agreed")
    finally:
        rld.set_check_every_call(previous)


def average_gradients_host_and_jit():
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2), "h": jnp.ones(3, jnp.bfloat16)}
    x = jnp.asarray(data(12, np.float32).reshape(4, 3))
    opt = optax.adam(1e-2)

    def loss(p, x):
        y = x @ p["w"] + p["b"] + jnp.sum(x * p["h"].astype(jnp.float32))
        return jnp.mean(y**2)

    @jax.jit
    def step(p, o, x):  # gradients, their mean over ranks, optimizer: one call
        g = rld.average_gradients(jax.grad(loss)(p, x))
        updates, o = opt.update(g, o, p)
        return optax.apply_updates(p, updates), o, g

    new, o, g_jit = step(params, opt.init(params), x)
    g_host = rld.average_gradients(jax.grad(loss)(params, x))
    local = jax.tree.map(np.asarray, jax.grad(loss)(params, x))
    for k in params:
        gathered = np.stack(COMM.allgather(local[k])).astype(np.float64)
        tol = 1e-2 if k == "h" else 1e-6
        got = np.asarray(g_jit[k]).astype(np.float64)
        assert np.allclose(got, gathered.mean(0), rtol=tol, atol=tol), k
        assert g_jit[k].dtype == params[k].dtype, k
        assert np.array_equal(np.asarray(g_jit[k]), np.asarray(g_host[k])), k
    rld.check_consistent((new, o))  # identical parameters and optimizer states
    new2, o2, _ = step(new, o, x)  # the compiled step runs again
    rld.check_consistent((new2, o2))

    def two_steps(p, o, x, ordered):  # unordered: ordered by the data they need
        for _ in range(2):
            g = rld.average_gradients(jax.grad(loss)(p, x), ordered=ordered)
            updates, o = opt.update(g, o, p)
            p = optax.apply_updates(p, updates)
        return p, o

    fused = jax.jit(two_steps, static_argnums=3)
    p_u, o_u = fused(params, opt.init(params), x, False)
    p_o, o_o = fused(params, opt.init(params), x, True)
    pairs = zip(jax.tree.leaves((p_u, o_u)), jax.tree.leaves((p_o, o_o)), strict=True)
    for a, b in pairs:  # same math; XLA may fuse the two programs differently
        tol = 1e-2 if a.dtype == jnp.bfloat16 else 1e-6
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert np.allclose(a, b, rtol=tol, atol=tol), "unordered differs"
    rld.check_consistent((p_u, o_u))


def average_gradients_in_jit_mismatch_raises_everywhere():
    # The unordered FFI call checks the ranks' gradient trees on its first run; a
    # mismatch comes back from the jitted call as an error naming both shapes.
    n = 5 + (R == N - 1)
    fn = jax.jit(lambda g: rld.average_gradients(g, ordered=False))
    try:
        jax.block_until_ready(fn({"w": jnp.ones(n)}))
    except Exception as exc:  # jax re-raises the handler's error as its own type
        msg = str(exc)
        assert "ranks disagree" in msg and "[5]" in msg and "[6]" in msg, msg
    else:
        raise AssertionError("no error from mismatched in-jit gradients")


def in_jit_mean_overlaps_host_collectives():
    # The jitted mean runs ~0.1 s of work before its exchange (asynchronous
    # dispatch); rank 0 waits for it before a host collective, the other ranks call
    # the host collective at once, so the two enter MPI in opposite orders across
    # ranks. Each stream has its own communicator, so neither takes the other's
    # messages. Values: rank r holds r + 1 (the busy work adds 0 * sum(sin...)), so
    # the mean is (N + 1) / 2, and the host sum of ones is N.
    def busy_then_mean(g):
        busy = jax.lax.fori_loop(0, 200, lambda _, x: jnp.sin(x), g)
        return rld.average_gradients(g * (1.0 + 0.0 * jnp.sum(busy)), ordered=False)

    fn = jax.jit(busy_then_mean)
    g = jnp.full(50_000, R + 1.0, jnp.float32)
    jax.block_until_ready(fn(g))  # compiled and agreed first
    for _ in range(3):
        out = fn(g)  # dispatched; awaited before the host call on rank 0 only
        if R == 0:
            jax.block_until_ready(out)
        host = rld.allreduce(np.ones(7), algorithm="native")
        assert np.array_equal(host, np.full(7, float(N))), host
        assert np.array_equal(np.asarray(out), np.full(50_000, (N + 1) / 2)), out[:3]


def seeds_and_printing():
    seeds = COMM.allgather(rld.rank_seed(42))
    assert seeds[0] == 42 and len(set(seeds)) == N, seeds
    buf = io.StringIO()
    with redirect_stdout(buf):
        rld.print0("hello from root")
    assert (buf.getvalue() == "hello from root\n") == (R == 0), buf.getvalue()
    assert rld.is_root() == (R == 0) and rld.rank() == R and rld.size() == N


def transport_smoke():
    for algo in ("ring", "native"):
        fn = lambda x, op, a=algo: rld.allreduce(x, op=op, algorithm=a)  # noqa: E731
        sweep(
            fn, [0, 1, N + 1, 997, 65537], [np.float32, np.int64], ["sum", "max"], algo
        )


QUICK = [transport_smoke, tree_mixed_dtypes_sum, broadcast_from_each_root]
ALL = [
    ring_all_sizes,
    allreduce_algorithms,
    segmented_with_many_segments,
    int_overflow_wraps_like_mpi,
    multidim_and_inplace,
    half_precision_uses_ring,
    watchdog_paths_are_correct,
    tree_mixed_dtypes_sum,
    tree_mean_and_buffer_reuse,
    tree_mean_scales_before_the_sum,
    tree_mean_rejects_ints,
    broadcast_from_each_root,
    consistent_trees_pass,
    inconsistent_tree_names_ranks,
    shape_mismatch_raises_everywhere,
    op_mismatch_raises_everywhere,
    segment_size_mismatch_raises_everywhere,
    check_every_call_catches_repeats,
    average_gradients_host_and_jit,
    average_gradients_in_jit_mismatch_raises_everywhere,
    in_jit_mean_overlaps_host_collectives,
    seeds_and_printing,
]

if __name__ == "__main__":
    for fn in QUICK if "quick" in sys.argv[1:] else ALL:
        check(fn)
    COMM.Barrier()
    print(f"rank {R}: done, {len(failures)} failed", flush=True)
    sys.exit(1 if failures else 0)

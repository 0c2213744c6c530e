"""Allreduce bandwidth: rlblocks ring vs Open MPI's in-place Allreduce vs "auto".

Run under MPI, e.g.::

    .venv/bin/mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 \\
        .venv/bin/python benchmarks/bench_allreduce.py

For each message size (float32, 1 KiB .. 64 MiB) the three methods are timed in
interleaved repeats (the machine is shared and noisy): each repeat runs a batch of
calls between barriers, takes the slowest rank's time, and the median over repeats is
reported as algbw = bytes / time and busbw = algbw · 2(N-1)/N (the bytes each rank must
move, as nccl-tests define it). A second part times the pytree path on a ~100k
parameter MLP against one flat allreduce of the same bytes. Rank 0 prints one JSON
line per configuration; ``--table`` also prints a markdown table.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from mpi4py import MPI

import rlblocks.distributed as rld

try:
    from benchmarks import common
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    import common

MPI_RANKS = (2, 4)  # `python -m benchmarks` runs this under mpirun -n 2 and -n 4
COMM = MPI.COMM_WORLD
N = COMM.Get_size()


def native(buf):
    COMM.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)


def ring(buf):
    rld.ring_allreduce(buf, out=buf)


def auto(buf):
    rld.allreduce(buf, out=buf)


METHODS = {"native": native, "ring": ring, "auto": auto}


def timed_batch(fn, arg, iters: int) -> float:
    """Seconds per call of fn(arg) over `iters` calls, slowest rank."""
    COMM.Barrier()
    start = time.perf_counter()
    for _ in range(iters):
        fn(arg)
    took = (time.perf_counter() - start) / iters
    return COMM.allreduce(took, op=MPI.MAX)


def interleaved(fns: dict, arg, iters: int, repeats: int) -> tuple[dict, ...]:
    """Per-call seconds of each fn, repeats interleaved (rotating order).

    Returns the median time of each fn; for each fn, the medians over repeats of
    (first fn's time / this fn's time) and (this fn's time - first fn's time) in
    the same repeat: paired figures that cancel load drifting between repeats; and
    the interquartile range of each fn's times.
    """
    for fn in fns.values():  # warm-up: first-call checks, scratch, page faults
        timed_batch(fn, arg, 2)
    times = {name: [] for name in fns}
    names = list(fns)
    for rep in range(repeats):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            times[name].append(timed_batch(fns[name], arg, iters))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    pairs = {
        name: list(zip(times[names[0]], ts, strict=True)) for name, ts in times.items()
    }
    paired = {name: statistics.median(b / t for b, t in p) for name, p in pairs.items()}
    extra = {name: statistics.median(t - b for b, t in p) for name, p in pairs.items()}
    spread = {name: common.summarize(ts)["iqr_s"] for name, ts in times.items()}
    return medians, paired, extra, spread


def bandwidth_rows(sizes: list[int], repeats: int) -> list[dict]:
    rows = []
    for nbytes in sizes:
        buf = np.zeros(nbytes // 4, np.float32)  # zeros stay zeros: no inf/denormals
        iters = max(2, min(200, (16 << 20) // nbytes))  # >= ~1 ms per batch
        med, paired, extra, spread = interleaved(METHODS, buf, iters, repeats)
        for name, sec in med.items():
            algbw = nbytes / sec / 1e9
            rows.append(
                {
                    "bench": "allreduce",
                    "ranks": N,
                    "bytes": nbytes,
                    "method": name,
                    "algorithm": name,
                    "chosen": rld.choose_algorithm(nbytes, buf.dtype, N)
                    if name == "auto"
                    else name,
                    "time_us": round(sec * 1e6, 2),
                    "iqr_us": round(spread[name] * 1e6, 2),
                    "algbw_GBps": round(algbw, 3),
                    "busbw_GBps": round(algbw * 2 * (N - 1) / N, 3),
                    "vs_native": round(med["native"] / sec, 3),
                    "vs_native_paired": round(paired[name], 3),
                    "extra_us_paired": round(extra[name] * 1e6, 2),
                    "iters_per_batch": iters,
                    "repeats": repeats,
                }
            )
            if COMM.Get_rank() == 0:
                print(json.dumps(rows[-1]), flush=True)
    return rows


def mlp_params(key) -> dict:
    """An MLP 64-256-256-64-4: 99,140 float32 parameters in 8 leaves."""
    sizes = [64, 256, 256, 64, 4]
    params = {}
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        key, sub = jax.random.split(key)
        params[f"layer{i}"] = {
            "w": jax.random.normal(sub, (a, b)),
            "b": jnp.zeros(b),
        }
    return params


def tree_rows(repeats: int) -> list[dict]:
    grads = mlp_params(jax.random.key(rld.rank_seed(0)))
    count = sum(x.size for x in jax.tree.leaves(grads))
    flat = np.zeros(count, np.float32)
    jit_avg = jax.jit(rld.average_gradients)
    jit_avg_unordered = jax.jit(functools.partial(rld.average_gradients, ordered=False))
    fns = {
        "flat_allreduce": lambda _: rld.allreduce(flat, op="mean"),
        "flat_native_inplace": lambda _: native(flat),
        "allreduce_tree": lambda g: rld.allreduce_tree(g),
        "average_gradients_jit": lambda g: jax.block_until_ready(jit_avg(g)),
        "average_gradients_jit_unordered": lambda g: jax.block_until_ready(
            jit_avg_unordered(g)
        ),
    }
    med, paired, extra, spread = interleaved(fns, grads, 50, repeats)
    rows = []
    for name, sec in med.items():
        rows.append(
            {
                "bench": "allreduce_tree",
                "ranks": N,
                "params": count,
                "leaves": len(jax.tree.leaves(grads)),
                "method": name,
                "time_us": round(sec * 1e6, 2),
                "iqr_us": round(spread[name] * 1e6, 2),
                "vs_flat_allreduce": round(sec / med["flat_allreduce"], 3),
                "vs_flat_allreduce_paired": round(1 / paired[name], 3),
                "extra_us_paired": round(extra[name] * 1e6, 2),
                "repeats": repeats,
            }
        )
        if COMM.Get_rank() == 0:
            print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    by_size: dict[int, dict] = {}
    for r in rows:
        by_size.setdefault(r["bytes"], {})[r["method"]] = r
    lines = [
        f"| size (N={N}) | native busbw GB/s | ring busbw | auto busbw (algo) | "
        "auto/native | auto/native paired | auto - native us/call | "
        "ring/native paired |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for nbytes, m in sorted(by_size.items()):
        label = f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KiB"
        lines.append(
            f"| {label} | {m['native']['busbw_GBps']:.3f} "
            f"| {m['ring']['busbw_GBps']:.3f} "
            f"| {m['auto']['busbw_GBps']:.3f} ({m['auto']['chosen']}) "
            f"| {m['auto']['vs_native']:.2f} | {m['auto']['vs_native_paired']:.2f} "
            f"| {m['auto']['extra_us_paired']:+.1f} "
            f"| {m['ring']['vs_native_paired']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--min-kib", type=int, default=1)
    parser.add_argument("--max-mib", type=int, default=64)
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--skip-tree", action="store_true")
    parser.add_argument("--tree-only", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 repeats, <= 16 MiB")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.max_mib = min(args.repeats, 3), min(args.max_mib, 16)
    sizes, s = [], args.min_kib << 10
    while s <= args.max_mib << 20:
        sizes.append(s)
        s *= 2
    rows = [] if args.tree_only else bandwidth_rows(sizes, args.repeats)
    if not args.skip_tree:
        tree_rows(args.repeats)
    if args.table and rows and COMM.Get_rank() == 0:
        print(table(rows), flush=True)


if __name__ == "__main__":
    main()

"""Timing helpers shared by the benchmark scripts.

Each script times rlblocks and its peer in the same run, interleaving their repeats
so that load on a shared machine hits both alike, and prints one JSON line per
configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

# Single-threaded XLA kernels, as `rlblocks train` sets (cli.SINGLE_THREAD_XLA); this
# module imports no jax, so scripts set it from here before jax is first imported.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def parse_args(description: str, argv=None) -> argparse.Namespace:
    """Parse the flags every benchmark accepts (`--quick`, `--repeats`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--repeats", type=int, default=None)
    return parser.parse_args(argv)


def interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 2,
    inner: int = 1,
) -> dict[str, dict[str, float]]:
    """Time each zero-argument callable `repeats` times, alternating between them.

    Each callable must block until its work is done (call `block_until_ready`).
    Returns, per name, the median seconds per call and the spread (interquartile
    range) over repeats; `inner` calls are timed together and divided out.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - start) / inner)
    return {name: summarize(s) for name, s in samples.items()}


def summarize(samples: list[float]) -> dict[str, float]:
    """Median and interquartile range of a list of timings."""
    ordered = sorted(samples)
    if len(ordered) >= 4:
        q = statistics.quantiles(ordered, n=4)
        spread = q[2] - q[0]
    else:
        spread = ordered[-1] - ordered[0]
    return {"median_s": statistics.median(ordered), "iqr_s": spread, "n": len(ordered)}


def runtime_sps(train_args: list[str], launcher: list[str] = ()) -> dict[str, float]:
    """Run `rlblocks train ...` in a temporary run dir and read its throughput.

    The command is `launcher + [python, -m, rlblocks.train.cli, train, *train_args,
    --run-dir, tmp]` (the checkout's code under PYTHONPATH, not the installed
    script; `launcher` is e.g. an mpirun or taskset prefix). Returns the median and
    interquartile range of the runtime's env steps/s over its train.csv rows after
    the first (which includes compilation) and the command's wall time.
    """
    from rlblocks.train import records

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*launcher, sys.executable, "-m", "rlblocks.train.cli", "train"]
        cmd += [*train_args, "--run-dir", tmp]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, timeout=1800)
        wall = time.perf_counter() - start
        rows = records.read_csv(os.path.join(tmp, "train.csv"))["sps"][1:]
    stats = summarize([float(x) for x in rows])
    return {"median": stats["median_s"], "iqr": stats["iqr_s"], "wall_s": wall}


def emit(record: dict) -> None:
    """Print one benchmark record as a JSON line (flushed, for the suite runner)."""
    print(json.dumps(record, sort_keys=False), flush=True)

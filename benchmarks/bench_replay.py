"""Replay benchmark: rlblocks vs flashbax vs a plain numpy ring, in one run.

Measures (median over interleaved repeats, microseconds per call, blocking on the
result of every call; the host add returns nothing to block on and is timed bare):
  * in-jit add of 1 and 8 transitions with buffer donation, and adds inside lax.scan;
  * in-jit uniform sample of 32 and 256;
  * prioritized sample 256 + priority update in one jitted call;
  * host add of one transition (numpy ring baseline: one row write per field);
  * host sample of 256 delivered as JAX arrays (baseline: numpy gather + device_put);
  * host prioritized sample of 256 + update of the sampled priorities;
  * memory of a 1M-capacity 84x84 uint8 transition buffer, from array shapes only.

Usage: python benchmarks/bench_replay.py [--quick] [--repeats 15] [--capacity 100000]
       [--only memory,host,add,sample,prioritized]
Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks import replay

try:
    from benchmarks import common
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    import common

try:
    import flashbax as fbx
except ImportError:  # the `bench` extra is not installed
    fbx = None


def transition(n: int, obs_shape=(4,), dtype=np.float32) -> replay.Transition:
    """N CartPole-like transitions (obs [4] float32)."""
    rng = np.random.default_rng(n)
    obs = rng.normal(size=(n, *obs_shape)).astype(dtype)
    return replay.Transition(
        obs_tm1=obs,
        a_tm1=rng.integers(0, 2, n).astype(np.int32),
        r_t=np.ones(n, np.float32),
        discount_t=np.full(n, 0.99, np.float32),
        obs_t=obs + 1,
    )


def example(obs_shape=(4,), dtype=np.float32) -> replay.Transition:
    return jax.tree.map(lambda x: x[0], transition(1, obs_shape, dtype))


def per_call(fn, calls: int, block: bool = True) -> float:
    """Microseconds per call of fn(), blocking on each result unless `block` is off.

    Host (numpy) writes are synchronous and return nothing to wait for; blocking on
    their None result would add `jax.block_until_ready`'s own ~0.6-0.9 us per call.
    """
    t0 = time.perf_counter()
    if block:
        for _ in range(calls):
            jax.block_until_ready(fn())
    else:
        for _ in range(calls):
            fn()
    return (time.perf_counter() - t0) / calls * 1e6


def race(contenders: dict, calls: int, repeats: int, block: bool = True) -> dict:
    """Interleave the contenders' repeats; per contender, the us/call of each repeat."""
    for fn in contenders.values():  # warm-up (compile)
        per_call(fn, 3, block)
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(per_call(fn, calls, block))
    return times


def medians(times: dict) -> dict:
    return {name: statistics.median(t) for name, t in times.items()}


def report(config: str, times: dict, **extra) -> None:
    """Print medians and interquartile ranges (us/call), and rlblocks / each peer."""
    mid = medians(times)
    line = {
        "config": config,
        "us_per_call": {k: round(v, 2) for k, v in mid.items()},
        "iqr_us": {k: round(common.summarize(t)["iqr_s"], 2) for k, t in times.items()},
    }
    for peer in mid:
        if peer != "rlblocks" and "rlblocks" in mid:
            line[f"rlblocks_over_{peer}"] = round(mid["rlblocks"] / mid[peer], 3)
    line.update(extra)
    print(json.dumps(line), flush=True)


class Threaded:
    """fn() -> new state, with the state threaded through a donated jit call."""

    def __init__(self, step, state, *args):
        self.step, self.state, self.args = step, state, args

    def __call__(self):
        self.state = self.step(self.state, *self.args)
        return self.state


def key_stream(n: int = 2000):
    """Endless keys, made up front so that timed calls do no eager slicing."""
    return itertools.cycle(list(jax.random.split(jax.random.key(0), n)))


def full_state(buf, capacity: int):
    state = buf.init(example())
    return jax.jit(buf.add)(state, jax.tree.map(jnp.asarray, transition(capacity)))


def fbx_full_state(buf, capacity: int):
    state = buf.init(jax.tree.map(jnp.asarray, example()))
    return jax.jit(buf.add)(state, jax.tree.map(jnp.asarray, transition(capacity)))


def bench_add(capacity, repeats):
    for n in (1, 8):
        items = jax.tree.map(jnp.asarray, transition(n))
        ours = replay.uniform_buffer(capacity)
        contenders = {
            "rlblocks": Threaded(
                jax.jit(ours.add, donate_argnums=0), full_state(ours, capacity), items
            )
        }
        if fbx is not None:
            theirs = fbx.make_item_buffer(capacity, 1, 32, add_batches=True)
            contenders["flashbax"] = Threaded(
                jax.jit(theirs.add, donate_argnums=0),
                fbx_full_state(theirs, capacity),
                items,
            )
        report(f"jit_add_{n}", race(contenders, 200, repeats))
    scan_add(capacity, repeats)


def scan_add(capacity, repeats):
    """Items/s when 10k single-item adds run inside one lax.scan."""
    steps = 10_000
    xs = jax.tree.map(jnp.asarray, transition(steps))

    def looped(add):
        def run(state, xs):
            body = lambda s, x: (add(s, jax.tree.map(lambda v: v[None], x)), None)  # noqa: E731
            return jax.lax.scan(body, state, xs)[0]

        return jax.jit(run, donate_argnums=0)

    ours = replay.uniform_buffer(capacity)
    state = full_state(ours, capacity)
    contenders = {"rlblocks": Threaded(looped(ours.add), state, xs)}
    if fbx is not None:
        theirs = fbx.make_item_buffer(capacity, 1, 32, add_batches=True)
        contenders["flashbax"] = Threaded(
            looped(theirs.add), fbx_full_state(theirs, capacity), xs
        )
    times = race(contenders, 3, repeats)
    rates = {k: round(steps / v, 1) for k, v in medians(times).items()}  # items/us
    report("scan_add_1_x10000", times, million_items_per_s=rates)


def bench_sample(capacity, repeats):
    ours = replay.uniform_buffer(capacity)
    state = full_state(ours, capacity)
    for b in (32, 256):
        sample = jax.jit(ours.sample, static_argnums=2)
        keys = key_stream()
        contenders = {"rlblocks": lambda: sample(state, next(keys), b)}  # noqa: B023
        if fbx is not None:
            theirs = fbx.make_item_buffer(capacity, 1, b, add_batches=True)
            fstate = fbx_full_state(theirs, capacity)
            fsample = jax.jit(theirs.sample)
            contenders["flashbax"] = lambda: fsample(fstate, next(keys))  # noqa: B023
        report(f"jit_sample_{b}", race(contenders, 200, repeats))


def bench_prioritized(capacity, repeats):
    b = 256
    ours = replay.prioritized_buffer(capacity, alpha=0.6, beta=0.4)

    def our_step(state, key):
        out = ours.sample(state, key, b)
        p = jax.random.uniform(jax.random.fold_in(key, 1), (b,)) * 10
        return ours.update_priorities(state, out.indices, p)

    keys = key_stream()
    step = jax.jit(our_step, donate_argnums=0)
    holder = {"s": full_state(ours, capacity)}

    def run_ours():
        holder["s"] = step(holder["s"], next(keys))
        return holder["s"]

    contenders = {"rlblocks": run_ours}
    if fbx is not None:
        theirs = fbx.make_prioritised_item_buffer(
            capacity, 1, b, add_batches=True, priority_exponent=0.6
        )

        def their_step(state, key):
            out = theirs.sample(state, key)
            p = jax.random.uniform(jax.random.fold_in(key, 1), (b,)) * 10
            return theirs.set_priorities(state, out.indices, p)

        fstep = jax.jit(their_step, donate_argnums=0)
        fholder = {"s": fbx_full_state(theirs, capacity)}

        def run_theirs():
            fholder["s"] = fstep(fholder["s"], next(keys))
            return fholder["s"]

        contenders["flashbax"] = run_theirs
    report("prioritized_sample_256_plus_update", race(contenders, 100, repeats))


class NumpyRing:
    """The baseline: one numpy array per field, one row write per field."""

    def __init__(self, capacity, ex):
        ex = [np.asarray(x) for x in ex]
        self.fields = [np.zeros((capacity, *x.shape), x.dtype) for x in ex]
        self.capacity, self.pos, self.size = capacity, 0, 0

    def add(self, *values):
        i = self.pos
        for f, v in zip(self.fields, values, strict=True):
            f[i] = v
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng, b, with_indices=False):
        idx = rng.integers(0, self.size, b)
        rows = [f[idx] for f in self.fields]
        return jax.device_put([*rows, idx] if with_indices else rows)


def bench_host(capacity, repeats):
    ours = replay.host_uniform_buffer(capacity)
    state = ours.init(example())
    ours.add(state, transition(capacity))
    ring = NumpyRing(capacity, example())
    ring.add(*example())
    ring.size = capacity
    one = transition(1)
    row = example()

    def add_ours():
        ours.add(state, one)

    def add_ring():
        ring.add(*row)

    calls = 20_000
    report(
        "host_add_1",
        race({"rlblocks": add_ours, "numpy_ring": add_ring}, calls, repeats, False),
    )
    rng = np.random.default_rng(0)
    contenders = {
        "rlblocks": lambda: ours.sample(state, rng, 256),
        "numpy_plus_device_put": lambda: ring.sample(rng, 256),
        "numpy_plus_device_put_with_indices": lambda: ring.sample(rng, 256, True),
    }
    report("host_sample_256_as_jax", race(contenders, 300, repeats))
    host_prioritized(capacity, repeats)


def host_prioritized(capacity, repeats):
    """Host prioritized sample 256 + update_priorities of the sampled indices."""
    ours = replay.host_prioritized_buffer(capacity, alpha=0.6, beta=0.4)
    state = ours.init(example())
    ours.add(state, transition(capacity))
    rng = np.random.default_rng(0)
    priorities = rng.random(256) * 10

    def step():
        out = ours.sample(state, rng, 256)
        ours.update_priorities(state, out.indices, priorities)
        return out

    report(
        "host_prioritized_sample_256_plus_update",
        race({"rlblocks": step}, 100, repeats),
        peer=None,  # flashbax has no host path; numpy has no sum tree to compare
    )


def tree_bytes(tree) -> int:
    return int(sum(x.size * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)))


def bench_memory():
    capacity = 1_000_000
    ex = example((84, 84), np.uint8)
    naive = tree_bytes(jax.eval_shape(replay.uniform_buffer(capacity).init, ex))
    shared = tree_bytes(jax.eval_shape(replay.frame_sharing_buffer(capacity).init, ex))
    line = {
        "config": "memory_1M_84x84_uint8",
        "bytes": {"rlblocks_naive": naive, "rlblocks_frame_sharing": shared},
        "frame_sharing_over_naive": round(shared / naive, 4),
        "exact": True,  # array sizes, not timings: no spread
    }
    if fbx is not None:
        theirs = fbx.make_item_buffer(capacity, 1, 32, add_batches=True)
        line["bytes"]["flashbax_item"] = tree_bytes(
            jax.eval_shape(theirs.init, jax.tree.map(jnp.asarray, ex))
        )
    print(json.dumps(line), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 repeats")
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument(
        "--only", default="memory,host,add,sample,prioritized", help="sections"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats = min(args.repeats, 5)
    print(json.dumps({"jax": jax.__version__, "flashbax": fbx is not None}), flush=True)
    sections = args.only.split(",")
    if "memory" in sections:
        bench_memory()
    for name, fn in [
        ("host", bench_host),
        ("add", bench_add),
        ("sample", bench_sample),
        ("prioritized", bench_prioritized),
    ]:
        if name in sections:
            fn(args.capacity, args.repeats)


if __name__ == "__main__":
    main()

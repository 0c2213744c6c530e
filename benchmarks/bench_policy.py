"""Exploration, schedule and policy-gradient timings: rlblocks against rlax/optax.

Standalone: `python benchmarks/bench_policy.py [--repeats=15]`. Each configuration
compiles first, then alternates repeats of ours and the peer's (the machine is
shared and noisy) and prints one JSON line with the median microseconds per call.
Needs rlax (`pip install -e ".[bench]"`).
"""

import json
import statistics
import sys
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rlblocks as rlb

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import rlax

warnings.simplefilter("ignore")  # rlax warns about its own deprecations on each call


def _per_call_us(fn, calls):
    jax.block_until_ready(fn())  # warm-up (and compile)
    start = time.perf_counter()
    for _ in range(calls):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / calls * 1e6


def _compare(name, ours, peer, peer_name, repeats, calls, **config):
    times = {"ours": [], peer_name: []}
    for _ in range(repeats):  # interleaved
        times["ours"].append(_per_call_us(ours, calls))
        times[peer_name].append(_per_call_us(peer, calls))
    row = {"bench": name, **config, "calls": calls, "repeats": repeats}
    row.update({f"{k}_us": round(statistics.median(v), 2) for k, v in times.items()})
    print(json.dumps(row), flush=True)


def main(repeats=15):
    rng = np.random.default_rng(0)
    key = jax.random.key(0)
    for batch, actions in [(1, 4), (256, 18)]:
        q = jnp.asarray(rng.normal(size=(batch, actions)), jnp.float32)
        ours = jax.jit(lambda k, q: rlb.epsilon_greedy().sample(k, q, 0.05))
        peer = jax.jit(lambda k, q: rlax.epsilon_greedy().sample(k, q, 0.05))
        _compare(
            "epsilon_greedy.sample jit",
            lambda f=ours, q=q: f(key, q),
            lambda f=peer, q=q: f(key, q),
            "rlax",
            repeats,
            200,
            batch=batch,
            actions=actions,
        )
    q = jnp.asarray(rng.normal(size=(4,)), jnp.float32)
    _compare(
        "epsilon_greedy.sample eager",
        lambda: rlb.epsilon_greedy(0.05).sample(key, q),
        lambda: rlax.epsilon_greedy(0.05).sample(key, q),
        "rlax",
        repeats,
        50,
        batch=1,
        actions=4,
    )
    t_len, actions = 128, 6
    logits = jnp.asarray(rng.normal(size=(t_len, actions)), jnp.float32)
    a = jnp.asarray(rng.integers(0, actions, size=t_len))
    adv, w = jnp.asarray(rng.normal(size=t_len), jnp.float32), jnp.ones(t_len)

    def grad_of(fn):
        return jax.jit(jax.value_and_grad(lambda x: fn(x, a, adv, w)))

    ours, peer = grad_of(rlb.policy_gradient_loss), grad_of(rlax.policy_gradient_loss)
    _compare(
        "policy_gradient_loss value_and_grad jit",
        lambda: ours(logits),
        lambda: peer(logits),
        "rlax",
        repeats,
        200,
        T=t_len,
        actions=actions,
    )
    ours = rlb.linearly_decaying_epsilon(10_000, 1_000, 0.05)
    peer = optax.linear_schedule(1.0, 0.05, 10_000, 1_000)
    _compare(
        "linearly_decaying_epsilon eager",
        lambda: ours(5_000),
        lambda: peer(5_000),
        "optax",
        repeats,
        200,
    )


if __name__ == "__main__":
    args = dict(a.lstrip("-").split("=") for a in sys.argv[1:])
    main(repeats=int(args.get("repeats", 15)))

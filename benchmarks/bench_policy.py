"""Exploration, schedules and policy gradients: rlblocks against rlax and optax.

Jitted, rlblocks and rlax should be level. Eager calls are where they differ:
rlblocks compiles the distribution arithmetic and the schedules once per shape, so
an eager call is one dispatch instead of one per array operation.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rlblocks as rlb
from benchmarks import common

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import rlax

warnings.simplefilter("ignore")  # rlax warns about its own deprecations on each call


def _record(name, timings, peer_name):
    ours, peer = timings["rlblocks"], timings["peer"]
    common.emit(
        {
            "name": name,
            "rlblocks_us": ours["median_s"] * 1e6,
            "rlblocks_iqr_us": ours["iqr_s"] * 1e6,
            "peer": peer_name,
            "peer_us": peer["median_s"] * 1e6,
            "ratio": ours["median_s"] / peer["median_s"],
        }
    )


def _compare(name, ours, peer, peer_name, repeats, inner):
    fns = {
        "rlblocks": lambda: jax.block_until_ready(ours()),
        "peer": lambda: jax.block_until_ready(peer()),
    }
    _record(name, common.interleaved(fns, repeats, inner=inner), peer_name)


def bench_sampling(repeats, sizes):
    key = jax.random.key(0)
    rng = np.random.default_rng(0)
    ours = jax.jit(lambda k, q: rlb.epsilon_greedy().sample(k, q, 0.05))
    peer = jax.jit(lambda k, q: rlax.epsilon_greedy().sample(k, q, 0.05))
    for batch, actions in sizes:
        q = jnp.asarray(rng.normal(size=(batch, actions)), jnp.float32)
        _compare(
            f"epsilon_greedy sample jit B={batch} A={actions}",
            lambda q=q: ours(key, q),
            lambda q=q: peer(key, q),
            "rlax",
            repeats,
            inner=20,
        )
    q = jnp.asarray(rng.normal(size=(4,)), jnp.float32)
    ours_dist, peer_dist = rlb.epsilon_greedy(0.05), rlax.epsilon_greedy(0.05)
    _compare(
        "epsilon_greedy sample eager A=4",
        lambda: ours_dist.sample(key, q),
        lambda: peer_dist.sample(key, q),
        "rlax",
        repeats,
        inner=5,
    )


def bench_policy_gradient(repeats):
    rng = np.random.default_rng(1)
    t_len, actions = 128, 6
    logits = jnp.asarray(rng.normal(size=(t_len, actions)), jnp.float32)
    a = jnp.asarray(rng.integers(0, actions, size=t_len))
    adv, w = jnp.asarray(rng.normal(size=t_len), jnp.float32), jnp.ones(t_len)

    def grad_of(fn):
        return jax.jit(jax.value_and_grad(lambda x: fn(x, a, adv, w)))

    ours, peer = grad_of(rlb.policy_gradient_loss), grad_of(rlax.policy_gradient_loss)
    _compare(
        f"policy_gradient_loss value_and_grad jit T={t_len} A={actions}",
        lambda: ours(logits),
        lambda: peer(logits),
        "rlax",
        repeats,
        inner=20,
    )


def bench_schedule(repeats):
    ours = rlb.linearly_decaying_epsilon(10_000, 1_000, 0.05)
    peer = optax.linear_schedule(1.0, 0.05, 10_000, 1_000)
    _compare(
        "linearly_decaying_epsilon eager",
        lambda: ours(5_000),
        lambda: peer(5_000),
        "optax.linear_schedule",
        repeats,
        inner=20,
    )


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    repeats = args.repeats or (15 if args.quick else 60)
    sizes = [(1, 4)] if args.quick else [(1, 4), (256, 18)]
    bench_sampling(repeats, sizes)
    bench_policy_gradient(repeats)
    bench_schedule(repeats)


if __name__ == "__main__":
    main()

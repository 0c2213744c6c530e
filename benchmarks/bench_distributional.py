"""Distributional losses and transformed targets: rlblocks vs rlax, jitted on CPU.

    .venv/bin/pip install rlax   # the peer (pyproject `bench` extra)
    .venv/bin/python benchmarks/bench_distributional.py [--quick] [--repeats 15]

Each configuration builds one jitted function per library (the batched rlblocks
`*_loss`, or `jax.vmap` of the rlax primitive with the same mean), checks that
both give the same value, compiles both, then times interleaved repeats (the
machine is shared and noisy): a repeat is `inner` calls each ending in
`block_until_ready`, and the median (and spread) over repeats is reported in
microseconds per call. One JSON line per configuration.
"""

from __future__ import annotations

import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import rlblocks as rlb
from benchmarks import common

warnings.simplefilter("ignore")  # rlax's categorical_cross_entropy deprecation note
import rlax  # noqa: E402


def _normal(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.normal(size=s).astype(np.float32)) for s in shapes]


# Each builder returns (ours, peer, args): two losses of the same arguments, the
# first argument being the one differentiated. All data are arguments (no captured
# constants for XLA to fold).


def categorical(batch, actions, atoms):
    logits_tm1, logits_t, r = _normal(
        0, (batch, actions, atoms), (batch, actions, atoms), (batch,)
    )
    z = jnp.linspace(-10.0, 10.0, atoms)
    a = jnp.arange(batch) % actions
    d = jnp.full((batch,), 0.99)

    def ours(logits_tm1, z, a, r, d, logits_t):
        return rlb.categorical_q_learning_loss(z, logits_tm1, a, r, d, z, logits_t)[0]

    def peer(logits_tm1, z, a, r, d, logits_t):
        axes = (None, 0, 0, 0, 0, None, 0)
        per = jax.vmap(rlax.categorical_q_learning, axes)(
            z, logits_tm1, a, r, d, z, logits_t
        )
        return jnp.mean(per)

    return ours, peer, (logits_tm1, z, a, r, d, logits_t)


def quantile(batch, actions, quantiles):
    q_tm1, q_t, r = _normal(
        1, (batch, quantiles, actions), (batch, quantiles, actions), (batch,)
    )
    tau = (jnp.arange(quantiles) + 0.5) / quantiles
    a = jnp.arange(batch) % actions
    d = jnp.full((batch,), 0.99)

    def ours(q_tm1, tau, a, r, d, q_t):
        return rlb.quantile_q_learning_loss(q_tm1, tau, a, r, d, q_t, q_t, 1.0)[0]

    def peer(q_tm1, tau, a, r, d, q_t):
        axes = (0, None, 0, 0, 0, 0, 0, None)
        per = jax.vmap(rlax.quantile_q_learning, axes)(
            q_tm1, tau, a, r, d, q_t, q_t, 1.0
        )
        return jnp.mean(per)

    return ours, peer, (q_tm1, tau, a, r, d, q_t)


def retrace(batch, time_steps, actions):
    bt, bta = (batch, time_steps), (batch, time_steps, actions)
    q_tm1, q_t, r, logits = _normal(2, bta, bta, bt, bta)
    pi = jax.nn.softmax(logits)
    a = jnp.arange(batch * time_steps).reshape(bt) % actions
    mu = jnp.full(bt, 1.0 / actions)
    d = jnp.full(bt, 0.997)

    def make(fn, pair):
        def loss(q_tm1, q_t, a, r, d, pi, mu):
            step = lambda *x: fn(*x, 0.95, tx_pair=pair)  # noqa: E731
            td = jax.vmap(step)(q_tm1, q_t, a, a, r, d, pi, mu)
            return 0.5 * jnp.mean(td**2)

        return loss

    ours = make(rlb.transformed_retrace, rlb.SIGNED_HYPERBOLIC_PAIR)
    peer = make(rlax.transformed_retrace, rlax.SIGNED_HYPERBOLIC_PAIR)
    return ours, peer, (q_tm1, q_t, a, r, d, pi, mu)


def n_step_q(batch, time_steps, actions, n=5):
    bt, bta = (batch, time_steps), (batch, time_steps, actions)
    q_tm1, q_t, r = _normal(3, bta, bta, bt)
    a = jnp.arange(batch * time_steps).reshape(bt) % actions
    d = jnp.full(bt, 0.997)

    def make(fn, pair):
        def loss(q_tm1, q_t, a, r, d):
            step = lambda *x: fn(*x, n, tx_pair=pair)  # noqa: E731
            td = jax.vmap(step)(q_tm1, a, q_t, a, r, d)
            return 0.5 * jnp.mean(td**2)

        return loss

    ours = make(rlb.transformed_n_step_q_learning, rlb.SIGNED_HYPERBOLIC_PAIR)
    peer = make(rlax.transformed_n_step_q_learning, rlax.SIGNED_HYPERBOLIC_PAIR)
    return ours, peer, (q_tm1, q_t, a, r, d)


CONFIGS = [
    ("categorical_q_learning_loss", categorical, dict(batch=32, actions=6, atoms=51)),
    ("categorical_q_learning_loss", categorical, dict(batch=256, actions=18, atoms=51)),
    ("quantile_q_learning_loss", quantile, dict(batch=32, actions=6, quantiles=32)),
    ("quantile_q_learning_loss", quantile, dict(batch=64, actions=18, quantiles=200)),
    ("transformed_retrace", retrace, dict(batch=32, time_steps=80, actions=18)),
    (
        "transformed_n_step_q_learning",
        n_step_q,
        dict(batch=32, time_steps=80, actions=18),
    ),
]


def main():
    opts = common.parse_args(__doc__.splitlines()[0])
    repeats = opts.repeats or (5 if opts.quick else 15)
    configs = CONFIGS[::2] if opts.quick else CONFIGS
    for name, build, config in configs:
        ours, peer, args = build(**config)
        ours, peer = (jax.jit(jax.value_and_grad(f)) for f in (ours, peer))
        (v_ours, g_ours), (v_peer, g_peer) = ours(*args), peer(*args)  # compile
        np.testing.assert_allclose(v_ours, v_peer, rtol=2e-3)
        np.testing.assert_allclose(g_ours, g_peer, rtol=2e-3, atol=1e-5)
        start = time.perf_counter()
        jax.block_until_ready(ours(*args))
        inner = max(1, min(100, int(0.02 / (time.perf_counter() - start))))
        timings = common.interleaved(
            {
                "rlblocks": lambda f=ours, a=args: jax.block_until_ready(f(*a)),
                "rlax": lambda f=peer, a=args: jax.block_until_ready(f(*a)),
            },
            repeats,
            inner=inner,
        )
        mine, theirs = timings["rlblocks"], timings["rlax"]
        label = " ".join(f"{k}={v}" for k, v in config.items())
        common.emit(
            {
                "name": f"{name} {label} jit(value_and_grad)",
                "rlblocks_us": mine["median_s"] * 1e6,
                "rlblocks_iqr_us": mine["iqr_s"] * 1e6,
                "peer": "rlax (vmap of the primitive)",
                "peer_us": theirs["median_s"] * 1e6,
                "ratio": mine["median_s"] / theirs["median_s"],
            }
        )


if __name__ == "__main__":
    main()

"""Time jitted lambda_returns, retrace and vtrace (T=100, B=256) against rlax.

Both sides are the unbatched primitive vmapped over the batch axis and jitted;
repeats of ours and rlax's are interleaved (the machine is shared and noisy) and
the median of each is reported, one JSON line per configuration:

    python -m benchmarks.bench_multistep [--quick] [--repeats 300]

If rlax is not installed, a plain `jnp` Python-loop reference is timed instead and
labelled `peer: "jnp-loop"`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import rlblocks as rlb
from benchmarks import common

try:
    import rlax
except ImportError:  # pragma: no cover - depends on the bench extra
    rlax = None


def _inputs(size: int, batch: int, actions: int = 4):
    rng = np.random.default_rng(0)
    f32 = np.float32

    def normal(*shape):
        return rng.normal(size=(batch, *shape)).astype(f32)

    logits = normal(size, actions)
    pi = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    a_t = rng.integers(0, actions, (batch, size)).astype(np.int32)
    return {
        "r_t": normal(size),
        "discount_t": (0.99 * (rng.random((batch, size)) > 0.02)).astype(f32),
        "v_t": normal(size),
        "v_tm1": normal(size),
        "rho": np.exp(0.5 * normal(size)).astype(f32),
        "q_tm1": normal(size, actions),
        "q_t": normal(size, actions),
        "a_tm1": rng.integers(0, actions, (batch, size)).astype(np.int32),
        "a_t": a_t,
        "pi_t": pi.astype(f32),
        "mu_t": rng.uniform(0.1, 1.0, (batch, size)).astype(f32),
    }


def _loop_lambda_returns(r_t, discount_t, v_t, lambda_):
    """Plain reference: a Python loop over T (unrolled by jit)."""
    g, out = v_t[-1], []
    for t in reversed(range(r_t.shape[0])):
        g = r_t[t] + discount_t[t] * ((1 - lambda_) * v_t[t] + lambda_ * g)
        out.append(g)
    return jnp.stack(out[::-1])


def _configs(lib):
    lam = 0.9
    if lib is None:  # jnp reference for lambda_returns only
        return {
            "lambda_returns": lambda x: _loop_lambda_returns(
                x["r_t"], x["discount_t"], x["v_t"], lam
            )
        }
    return {
        "lambda_returns": lambda x: lib.lambda_returns(
            x["r_t"], x["discount_t"], x["v_t"], lam, stop_target_gradients=True
        ),
        "retrace": lambda x: lib.retrace(
            x["q_tm1"],
            x["q_t"],
            x["a_tm1"],
            x["a_t"],
            x["r_t"],
            x["discount_t"],
            x["pi_t"],
            x["mu_t"],
            lam,
        ),
        "vtrace": lambda x: lib.vtrace(
            x["v_tm1"], x["v_t"], x["r_t"], x["discount_t"], x["rho"], lam
        ),
    }


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0])
    repeats = args.repeats or (50 if args.quick else 300)
    size, batch = 100, 256
    x = {k: jnp.asarray(v) for k, v in _inputs(size, batch).items()}
    ours, peers = _configs(rlb), _configs(rlax)
    peer_name = "rlax" if rlax is not None else "jnp-loop"
    for name, peer_fn in peers.items():
        fns = {
            "ours": jax.jit(jax.vmap(ours[name])),
            "peer": jax.jit(jax.vmap(peer_fn)),
        }
        outs = {k: jax.block_until_ready(f(x)) for k, f in fns.items()}  # compile
        np.testing.assert_allclose(outs["ours"], outs["peer"], rtol=1e-4, atol=1e-4)
        timings = common.interleaved(
            {k: (lambda f=f: jax.block_until_ready(f(x))) for k, f in fns.items()},
            repeats,
            warmup=10,
        )
        mine, peer = timings["ours"], timings["peer"]
        common.emit(
            {
                "name": f"{name} T={size} B={batch}",
                "rlblocks_us": round(mine["median_s"] * 1e6, 1),
                "rlblocks_iqr_us": round(mine["iqr_s"] * 1e6, 1),
                "peer": peer_name,
                "peer_us": round(peer["median_s"] * 1e6, 1),
                "peer_iqr_us": round(peer["iqr_s"] * 1e6, 1),
                "ratio": round(mine["median_s"] / peer["median_s"], 3),
            }
        )


if __name__ == "__main__":
    main()

"""Time jitted lambda_returns, retrace and vtrace (T=100, B=256) against rlax.

Both sides are the unbatched primitive vmapped over the batch axis and jitted;
repeats of ours and rlax's are interleaved (the machine is shared and noisy) and
the median of each is reported, one JSON line per configuration:

    python benchmarks/bench_multistep.py [--repeats 200] [--T 100] [--B 256]

If rlax is not installed, a plain `jnp` Python-loop reference is timed instead and
labelled `peer: "jnp-loop"`.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import rlblocks as rlb

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


def _time(fn, x) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(x))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--B", type=int, default=256)
    args = parser.parse_args()
    x = {k: jnp.asarray(v) for k, v in _inputs(args.T, args.B).items()}
    ours, peers = _configs(rlb), _configs(rlax)
    peer_name = "rlax" if rlax is not None else "jnp-loop"
    for name, peer_fn in peers.items():
        fns = [jax.jit(jax.vmap(f)) for f in (ours[name], peer_fn)]
        outs = [jax.block_until_ready(f(x)) for f in fns]  # compile
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=1e-4)
        for f in fns:  # warm-up
            for _ in range(10):
                _time(f, x)
        times = [[], []]
        for _ in range(args.repeats):
            for i, f in enumerate(fns):
                times[i].append(_time(f, x))
        ours_us, peer_us = (1e6 * float(np.median(t)) for t in times)
        ours_min, peer_min = (1e6 * float(np.min(t)) for t in times)
        record = {
            "fn": name,
            "T": args.T,
            "B": args.B,
            "peer": peer_name,
            "ours_us": round(ours_us, 1),
            "peer_us": round(peer_us, 1),
            "ratio": round(ours_us / peer_us, 3),
            "ours_min_us": round(ours_min, 1),
            "peer_min_us": round(peer_min, 1),
            "ratio_min": round(ours_min / peer_min, 3),
            "repeats": args.repeats,
        }
        print(json.dumps(record))


if __name__ == "__main__":
    main()

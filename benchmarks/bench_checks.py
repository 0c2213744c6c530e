"""Trace-time checks cost nothing at run time: a checked vs unchecked jitted call.

The peer here is the same computation with no checks: after compilation the two
must run equally fast, since shape checks only run while tracing.
"""

import jax
import jax.numpy as jnp

from benchmarks import common
from rlblocks._src import checks


def unchecked(q, a):
    return jnp.take_along_axis(q, a[:, None], axis=-1)[:, 0]


def checked(q, a):
    checks.check_shapes({"q": (q, "B A"), "a": (a, "B", "int")})
    return unchecked(q, a)


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    repeats = args.repeats or (50 if args.quick else 300)
    q = jnp.ones((256, 8))
    a = jnp.zeros(256, jnp.int32)
    fns = {"checked": jax.jit(checked), "unchecked": jax.jit(unchecked)}
    timings = common.interleaved(
        {name: (lambda f=f: f(q, a).block_until_ready()) for name, f in fns.items()},
        repeats,
        inner=10,
    )
    ours, peer = timings["checked"], timings["unchecked"]
    common.emit(
        {
            "name": "batched_index B=256 A=8",
            "rlblocks_us": ours["median_s"] * 1e6,
            "rlblocks_iqr_us": ours["iqr_s"] * 1e6,
            "peer": "unchecked jnp",
            "peer_us": peer["median_s"] * 1e6,
            "ratio": ours["median_s"] / peer["median_s"],
        }
    )


if __name__ == "__main__":
    main()

"""Replay states round-trip exactly through save/load and to/from bytes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlblocks import replay

EXAMPLE = {
    "a": np.zeros((), np.int32),
    "obs": np.zeros(3, np.uint8),
    "f": np.zeros((), np.bool_),
}


def items(n, start=0):
    ids = np.arange(start, start + n)
    return {
        "a": ids.astype(np.int32),
        "obs": np.stack([ids] * 3, -1).astype(np.uint8),
        "f": ids % 2 == 0,
    }


def assert_same(x, y):
    assert jax.tree.structure(x) == jax.tree.structure(y)
    for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def jit_states():
    u = replay.uniform_buffer(5)
    p = replay.prioritized_buffer(5)
    s = replay.sequence_buffer(5, 2)
    ps = jax.jit(p.add)(p.init(EXAMPLE), items(7))
    ps = jax.jit(p.update_priorities)(ps, jnp.array([0, 3]), jnp.array([0.25, 4.0]))
    acc = replay.n_step_transitions(3, 0.9)
    ns = acc.init(np.zeros(2, np.float32), np.zeros((), np.int32), 2)
    ns = acc.step(
        ns,
        jnp.ones((2, 2)),
        jnp.array([1, 2]),
        jnp.array([1.0, 2.0]),
        jnp.array([False, True]),
        jnp.array([False, False]),
        jnp.ones((2, 2)),
    )[0]
    return [
        (u, u.add(u.init(EXAMPLE), items(7))),
        (p, ps),
        (s, s.add(s.init(EXAMPLE), items(3))),
        (None, ns),
    ]


def test_jit_states_round_trip(tmp_path):
    for k, (buf, state) in enumerate(jit_states()):
        path = tmp_path / f"s{k}.npz"
        replay.save(path, state)
        like = jax.eval_shape(lambda s=state: s)
        loaded = replay.load(path, like)
        assert_same(loaded, state)
        assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(loaded))
        if buf is not None:
            # The loaded state behaves identically: same samples.
            key = jax.random.key(7)
            sample = jax.jit(buf.sample, static_argnums=2)
            assert_same(sample(loaded, key, 4), sample(state, key, 4))


def test_host_states_round_trip():
    u = replay.host_uniform_buffer(5)
    p = replay.host_prioritized_buffer(5)
    for buf in (u, p):
        state = buf.add(buf.init(EXAMPLE), items(7))
        if buf is p:
            buf.update_priorities(state, np.array([1, 2]), np.array([3.0, 0.5]))
            buf.add(state, items(1, 50))  # leaves a stale tree path behind
        loaded = replay.from_bytes(replay.to_bytes(state), buf.init(EXAMPLE))
        assert_same(loaded, state)
        assert all(isinstance(x, np.ndarray) for x in jax.tree.leaves(loaded))
        # In-place adds keep working and both copies evolve identically.
        for s in (state, loaded):
            buf.add(s, items(2, 90))
        assert_same(loaded, state)
        out = [buf.sample(s, np.random.default_rng(3), 6) for s in (state, loaded)]
        assert_same(out[0], out[1])


def test_mismatched_like_raises():
    buf = replay.uniform_buffer(5)
    data = replay.to_bytes(buf.init(EXAMPLE))
    with pytest.raises(ValueError, match="has shape"):
        replay.from_bytes(data, replay.uniform_buffer(6).init(EXAMPLE))
    with pytest.raises(ValueError, match="saved leaves"):
        replay.from_bytes(data, replay.uniform_buffer(5).init({"a": np.zeros(())}))

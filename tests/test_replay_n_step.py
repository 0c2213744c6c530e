"""N-step transitions of parallel envs, jit and host, against a plain-Python model."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlblocks import replay
from tests.reference import n_step_model

E = 3


def rollout(seed, length=14):
    """Random steps of E envs: obs [2] = [t, e], action t*10+e, flags at random."""
    rng = np.random.default_rng(seed)
    steps = []
    for t in range(length):
        row = []
        for e in range(E):
            obs = np.array([t, e], np.float32)
            nxt = np.array([t + 0.5, e], np.float32)
            term = bool(rng.random() < 0.15)
            trunc = bool(rng.random() < 0.15)
            valid = bool(rng.random() < 0.85)
            row.append((obs, t * 10 + e, float(rng.normal()), term, trunc, nxt, valid))
        steps.append(row)
    return steps


def arrays(row):
    obs, act, rew, term, trunc, nxt, valid = zip(*row, strict=True)
    return (
        np.stack(obs),
        np.array(act, np.int32),
        np.array(rew, np.float32),
        np.array(term),
        np.array(trunc),
        np.stack(nxt),
        np.array(valid),
    )


def run(acc, steps, n, jit):
    state = acc.init(np.zeros(2, np.float32), np.zeros((), np.int32), E)
    step = jax.jit(acc.step) if jit else acc.step
    emitted = []
    for row in steps:
        *args, valid = arrays(row)
        state, out, mask = step(state, *args, valid=valid)
        mask = np.asarray(mask)
        got = []
        for k in np.flatnonzero(mask):
            got.append(
                (
                    k // n,
                    np.asarray(out.obs_tm1)[k].tolist(),
                    int(np.asarray(out.a_tm1)[k]),
                    float(np.asarray(out.r_t)[k]),
                    float(np.asarray(out.discount_t)[k]),
                    np.asarray(out.obs_t)[k].tolist(),
                )
            )
        emitted.append(got)
    return emitted


def assert_same(got, want):
    assert len(got) == len(want)
    for g_step, w_step in zip(got, want, strict=True):
        assert len(g_step) == len(w_step)
        for g, w in zip(g_step, w_step, strict=True):
            assert g[0] == w[0] and g[1] == w[1].tolist() and g[2] == w[2]
            np.testing.assert_allclose(g[3], w[3], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(g[4], w[4], rtol=1e-6)
            assert g[5] == w[5].tolist()


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.sampled_from([1, 2, 3]))
def test_host_matches_model(seed, n):
    steps = rollout(seed)
    got = run(replay.host_n_step_transitions(n, 0.9), steps, n, jit=False)
    assert_same(got, n_step_model(steps, n, 0.9))


@functools.cache
def jit_accumulator(n):
    """One accumulator per n, so `run` jits (and compiles) its step once per n."""
    return replay.n_step_transitions(n, 0.9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.sampled_from([1, 2, 3]))
def test_jit_matches_model(seed, n):
    steps = rollout(seed)
    got = run(jit_accumulator(n), steps, n, jit=True)
    assert_same(got, n_step_model(steps, n, 0.9))


def test_hand_computed_episode():
    # One env, n = 2, γ = 0.5, rewards 1, 2, 4, then truncation at the 3rd step.
    # step 1: window [s0]              -> nothing
    # step 2: window [s0, s1] full     -> (s0: 1 + 0.5*2 = 2, discount 0.25, obs_t o2)
    # step 3: truncated, window [s1, s2] -> (s1: 2 + 0.5*4 = 4, disc 0.25, obs_t o3),
    #                                       (s2: 4, disc 0.5, obs_t o3)
    acc = replay.n_step_transitions(2, 0.5)
    state = acc.init(np.zeros((), np.float32), np.zeros((), np.int32), 1)
    outs = []
    for t, r in enumerate([1.0, 2.0, 4.0]):
        state, out, mask = acc.step(
            state,
            jnp.array([float(t)]),
            jnp.array([t]),
            jnp.array([r]),
            jnp.array([False]),
            jnp.array([t == 2]),
            jnp.array([t + 1.0]),
        )
        m = np.asarray(mask)
        outs.append(
            [
                (
                    float(out.obs_tm1[k]),
                    float(out.r_t[k]),
                    float(out.discount_t[k]),
                    float(out.obs_t[k]),
                )
                for k in np.flatnonzero(m)
            ]
        )
    assert outs == [
        [],
        [(0.0, 2.0, 0.25, 2.0)],
        [(1.0, 4.0, 0.25, 3.0), (2.0, 4.0, 0.5, 3.0)],
    ]
    # A terminated step instead cuts with discount 0: (s3: r=8, discount 0).
    state, out, mask = acc.step(
        state,
        jnp.array([3.0]),
        jnp.array([3]),
        jnp.array([8.0]),
        jnp.array([True]),
        jnp.array([False]),
        jnp.array([4.0]),
    )
    k = np.flatnonzero(np.asarray(mask))
    assert k.tolist() == [1]
    assert (float(out.r_t[1]), float(out.discount_t[1])) == (8.0, 0.0)


def test_feeds_buffers_in_jit_and_on_host():
    # Two envs, n = 1: every valid step becomes one transition in the buffer.
    for make_acc, make_buf in [
        (replay.n_step_transitions, replay.uniform_buffer),
        (replay.host_n_step_transitions, replay.host_uniform_buffer),
    ]:
        acc = make_acc(1, 0.99)
        state = acc.init(np.zeros(2, np.float32), np.zeros((), np.int32), 2)
        buf = make_buf(8)
        example = replay.Transition(
            np.zeros(2, np.float32),
            np.zeros((), np.int32),
            np.float32(0),
            np.float32(0),
            np.zeros(2, np.float32),
        )
        bstate = buf.init(example)
        obs = np.ones((2, 2), np.float32)
        state, out, mask = acc.step(
            state,
            obs,
            np.array([1, 2], np.int32),
            np.array([1.0, 2.0], np.float32),
            np.array([False, True]),
            np.array([False, False]),
            obs * 2,
            valid=np.array([True, False]),
        )
        bstate = buf.add(bstate, jax.tree.map(np.asarray, out), mask=np.asarray(mask))
        assert int(bstate.size) == 1
        # The only kept transition is env 0's: action 1, reward 1, discount 0.99.
        assert int(np.asarray(bstate.items.a_tm1)[0]) == 1
        np.testing.assert_allclose(
            np.asarray(bstate.items.discount_t)[0], 0.99, rtol=1e-6
        )


def test_bad_inputs():
    acc = replay.n_step_transitions(2, 0.9)
    with pytest.raises(ValueError, match="n must be"):
        replay.n_step_transitions(0, 0.9)
    with pytest.raises(ValueError, match="gamma"):
        replay.n_step_transitions(2, 1.5)
    state = acc.init(np.zeros(2, np.float32), np.zeros((), np.int32), 3)
    obs = np.zeros((3, 2), np.float32)
    a = np.zeros(3, np.int32)
    r = np.zeros(3, np.float32)
    f = np.zeros(3, bool)
    with pytest.raises(ValueError, match="reward must have shape"):
        acc.step(state, obs, a, np.zeros(2), f, f, obs)
    with pytest.raises(ValueError, match=r"obs must have shape \[N, 2\]"):
        acc.step(state, np.zeros((3, 4), np.float32), a, r, f, f, obs)
    with pytest.raises(ValueError, match="action must have a dtype"):
        acc.step(state, obs, np.zeros(3, np.float32), r, f, f, obs)
    with pytest.raises(ValueError, match="next_obs must have a leading"):
        acc.step(state, obs, a, r, f, f, np.zeros((2, 2), np.float32))

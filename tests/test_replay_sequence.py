"""Sequence buffer, in jit and on the host, against the plain-Python model."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rlblocks import replay
from tests.reference import SequenceModel

EXAMPLE = {"id": np.zeros((), np.int32), "obs": np.zeros(2, np.float32)}


def make_steps(ids):
    ids = np.asarray(ids, np.int32)
    return {"id": ids, "obs": np.stack([ids, 2 * ids], -1).astype(np.float32)}


@functools.cache
def jit_buffer(capacity, length, period):
    buf = replay.sequence_buffer(capacity, length, period=period)
    return buf._replace(
        add=jax.jit(buf.add), sample=jax.jit(buf.sample, static_argnums=2)
    )


class SequenceMachine(RuleBasedStateMachine):
    make = staticmethod(jit_buffer)

    def __init__(self):
        super().__init__()
        self.buf = None
        self.next_id = 1

    def key(self, seed):
        return jax.random.key(seed)

    @precondition(lambda self: self.buf is None)
    @rule(config=st.sampled_from([(4, 3, 1), (5, 2, 2)]))
    def create(self, config):
        capacity, length, period = config
        self.config = config
        self.buf = self.make(capacity, length, period)
        self.state = self.buf.init(EXAMPLE)
        self.model = SequenceModel(capacity, length, period)

    @precondition(lambda self: self.buf is not None)
    @rule(n=st.sampled_from([1, 6]), masked=st.booleans(), data=st.data())
    def add(self, n, masked, data):
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        mask = None
        if masked:
            mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        self.state = self.buf.add(self.state, make_steps(ids), mask=mask)
        self.model.add(ids, mask)

    @precondition(lambda self: self.buf is not None)
    @rule(seed=st.integers(0, 2**16))
    def sample(self, seed):
        if not self.model.starts():
            self.sample_without_window(seed)
            return
        out = self.buf.sample(self.state, self.key(seed), 4)
        ids = np.asarray(out.item["id"])
        assert ids.shape == (4, self.model.length)
        windows = {
            k % self.model.capacity: self.model.history[k : k + self.model.length]
            for k in self.model.starts()
        }
        for b, slot in enumerate(np.asarray(out.indices)):
            assert int(slot) in windows
            assert ids[b].tolist() == windows[int(slot)]
        np.testing.assert_array_equal(np.asarray(out.item["obs"])[..., 1], 2 * ids)
        np.testing.assert_array_equal(np.asarray(out.weights), np.ones(4, np.float32))

    def sample_without_window(self, seed):
        # Under jit the state is traced: no error, all-zero weights. Eagerly the same
        # concrete state raises.
        out = self.buf.sample(self.state, self.key(seed), 4)
        np.testing.assert_array_equal(np.asarray(out.weights), np.zeros(4, np.float32))
        eager = replay.sequence_buffer(*self.config[:2], period=self.config[2])
        with pytest.raises(ValueError, match="cannot sample"):
            eager.sample(self.state, self.key(seed), 4)

    @precondition(lambda self: self.buf is not None)
    @invariant()
    def matches_model(self):
        assert int(self.state.size) == self.model.size
        assert int(self.state.count) == self.model.count
        assert bool(self.buf.can_sample(self.state)) == bool(self.model.starts())


class HostSequenceMachine(SequenceMachine):
    make = staticmethod(lambda c, t, p: replay.host_sequence_buffer(c, t, period=p))

    def key(self, seed):
        return np.random.default_rng(seed)

    def sample_without_window(self, seed):
        with pytest.raises(ValueError, match="cannot sample"):
            self.buf.sample(self.state, self.key(seed), 4)


TestSequenceJit = SequenceMachine.TestCase
TestSequenceJit.settings = settings(
    max_examples=20, stateful_step_count=10, deadline=None
)
TestSequenceHost = HostSequenceMachine.TestCase
TestSequenceHost.settings = settings(
    max_examples=40, stateful_step_count=12, deadline=None
)


def test_hand_computed_windows():
    # capacity 5, T = 2, period 2; ids 1..7 added: held are times 2..6 (ids 3..7).
    # Starts: even k in [2, 5]: k = 2 (ids 3, 4) and k = 4 (ids 5, 6); the window
    # at k = 6 would need time 7, not yet written, so it is never drawn.
    buf = replay.sequence_buffer(5, 2, period=2)
    state = buf.add(buf.init(EXAMPLE), make_steps(range(1, 8)))
    out = jax.jit(buf.sample, static_argnums=2)(state, jax.random.key(0), 200)
    got = {tuple(w) for w in np.asarray(out.item["id"]).tolist()}
    assert got == {(3, 4), (5, 6)}
    # Slots: time 2 -> slot 2, time 4 -> slot 4.
    assert set(np.asarray(out.indices).tolist()) == {2, 4}


def test_windows_may_wrap_the_array_but_not_the_write_head():
    # capacity 4, T = 3, ids 1..6: held times 2..5 (slots 2, 3, 0, 1).
    # Windows: k = 2 (ids 3, 4, 5: slots 2, 3, 0) and k = 3 (ids 4, 5, 6).
    buf = replay.sequence_buffer(4, 3)
    state = jax.jit(buf.add)(buf.init(EXAMPLE), make_steps(range(1, 7)))
    out = jax.jit(buf.sample, static_argnums=2)(state, jax.random.key(1), 100)
    got = {tuple(w) for w in np.asarray(out.item["id"]).tolist()}
    assert got == {(3, 4, 5), (4, 5, 6)}


def test_parallel_streams_with_vmap():
    # Two envs, one stream each: env e adds ids 10*e + (1, 2, 3); T = 3 gives the
    # single window per env.
    buf = replay.sequence_buffer(4, 3)
    states = jax.vmap(lambda _: buf.init(EXAMPLE))(jnp.arange(2))
    steps = jax.tree.map(
        jnp.asarray,
        {
            "id": np.array([[1, 2, 3], [11, 12, 13]], np.int32),
            "obs": np.zeros((2, 3, 2), np.float32),
        },
    )
    states = jax.jit(jax.vmap(buf.add))(states, steps)
    keys = jax.random.split(jax.random.key(0), 2)
    sample = jax.vmap(buf.sample, in_axes=(0, 0, None))
    out = jax.jit(sample, static_argnums=2)(states, keys, 5)
    assert out.item["id"].shape == (2, 5, 3)
    assert np.asarray(out.item["id"])[:, 0].tolist() == [[1, 2, 3], [11, 12, 13]]


@pytest.mark.parametrize("make", [replay.sequence_buffer, replay.host_sequence_buffer])
def test_bad_sizes(make):
    with pytest.raises(ValueError, match="sequence_length=5 must be <= capacity=4"):
        make(4, 5)
    with pytest.raises(ValueError, match="period"):
        make(4, 2, period=0)
    # A full buffer holds the C - T + 1 = 2 starts count-4, count-3: period 3 would
    # leave times with neither a multiple of 3 (count = 6: starts 2, 3 hold 3; count
    # = 8: starts 4, 5 hold none).
    with pytest.raises(ValueError, match=r"period=3 must be <= capacity - seq.* = 2"):
        make(4, 3, period=3)
    make(4, 3, period=2)  # the largest period that always has a window
    buf = make(4, 3)
    key = (
        jax.random.key(0)
        if make is replay.sequence_buffer
        else np.random.default_rng(0)
    )
    state = buf.add(buf.init(EXAMPLE), make_steps([1, 2]))
    with pytest.raises(ValueError, match="cannot sample"):
        buf.sample(state, key, 2)

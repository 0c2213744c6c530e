"""Frame-sharing buffer against the plain-Python FrameModel."""

import functools

import jax
import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rlblocks import replay
from tests.reference import FrameModel

EXAMPLE = replay.Transition(
    np.zeros(2, np.uint8),
    np.zeros((), np.int32),
    np.float32(0),
    np.float32(0),
    np.zeros(2, np.uint8),
)


def batch(transitions):
    """[(obs_tm1 id, action, obs_t id)] -> Transition arrays; obs = [id, id]."""
    o, a, n = (np.array(x) for x in zip(*transitions, strict=True))
    obs = lambda ids: np.stack([ids, ids], -1).astype(np.uint8)  # noqa: E731
    return replay.Transition(
        obs(o),
        a.astype(np.int32),
        (a * 0.5).astype(np.float32),
        np.full(len(a), 0.9, np.float32),
        obs(n),
    )


@functools.cache
def jit_buffer(capacity):
    buf = replay.frame_sharing_buffer(capacity)
    return buf._replace(
        add=jax.jit(buf.add), sample=jax.jit(buf.sample, static_argnums=2)
    )


class FrameMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.buf = None
        self.obs = 0
        self.next_action = 1

    @precondition(lambda self: self.buf is None)
    @rule(capacity=st.sampled_from([2, 7]))
    def create(self, capacity):
        self.buf = jit_buffer(capacity)
        self.state = self.buf.init(EXAMPLE)
        self.model = FrameModel(capacity)

    @precondition(lambda self: self.buf is not None)
    @rule(n=st.sampled_from([1, 4]), data=st.data())
    def add(self, n, data):
        # Each transition continues from the last obs, or (a reset) starts from an obs
        # in 0..3, which may equal the last one. Observations cycle through 0..31.
        rows = []
        for _ in range(n):
            if data.draw(st.booleans()):
                self.obs = data.draw(st.integers(0, 3))
            nxt = (self.obs * 7 + 5) % 32
            rows.append((self.obs, self.next_action, nxt))
            self.next_action += 1
            self.obs = nxt
        mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        self.state = self.buf.add(self.state, batch(rows), mask=mask)
        self.model.add([r for r, m in zip(rows, mask, strict=True) if m])

    @precondition(lambda self: self.buf is not None)
    @rule(seed=st.integers(0, 2**16))
    def sample(self, seed):
        want = self.model.sampleable()
        if not want:
            with pytest.raises(ValueError, match="cannot sample"):
                replay.frame_sharing_buffer(self.model.base.capacity).sample(
                    self.state, jax.random.key(seed), 3
                )
            return
        out = self.buf.sample(self.state, jax.random.key(seed), 6)
        t = jax.tree.map(np.asarray, out.item)
        for k, slot in enumerate(np.asarray(out.indices)):
            assert int(slot) in want
            o, a, n = want[int(slot)]
            assert (t.obs_tm1[k].tolist(), int(t.a_tm1[k]), t.obs_t[k].tolist()) == (
                [o, o],
                a,
                [n, n],
            )
            assert float(t.r_t[k]) == a * 0.5

    @precondition(lambda self: self.buf is not None)
    @invariant()
    def matches_model(self):
        b = self.model.base
        assert int(self.state.slots.size) == b.size
        leaves = np.asarray(self.state.sum_tree)[self.state.sum_tree.shape[0] // 2 :]
        want = [1.0 if i in self.model.sampleable() else 0.0 for i in range(b.capacity)]
        assert leaves[: b.capacity].tolist() == want
        frames = np.asarray(self.state.slots.items["frame"])
        for i in range(b.size):
            assert frames[i, 0] == b.slots[i][0]


TestFrames = FrameMachine.TestCase
TestFrames.settings = settings(max_examples=30, stateful_step_count=12, deadline=None)


def test_hand_computed_layout_and_memory():
    # Episode A: 1 -> 2 -> 3 (two transitions), then a reset to 9 -> 4.
    # Slots: [1 start] [2 step a=1] [3 step a=2] [9 start] [4 step a=3].
    buf = replay.frame_sharing_buffer(6)
    add = jax.jit(buf.add)
    state = add(buf.init(EXAMPLE), batch([(1, 1, 2), (2, 2, 3), (9, 3, 4)]))
    frames = np.asarray(state.slots.items["frame"])[:5, 0].tolist()
    assert frames == [1, 2, 3, 9, 4]
    assert np.asarray(state.slots.items["is_step"])[:5].tolist() == [
        False,
        True,
        True,
        False,
        True,
    ]
    # 5 frames for 3 transitions, against 6 in the naive layout.
    naive = jax.eval_shape(replay.uniform_buffer(10**6).init, EXAMPLE)
    shared = jax.eval_shape(replay.frame_sharing_buffer(10**6).init, EXAMPLE)
    size = lambda tree: sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))  # noqa: E731
    # naive per slot: 2 + 4 + 4 + 4 + 2 = 16 bytes; shared: 2 + 4 + 4 + 4 + 1 = 15
    # bytes plus two float32 trees of 2 * 2**20 nodes (16 MiB).
    assert size(naive) == 16 * 10**6 + 12
    assert size(shared) == 15 * 10**6 + 2 * 4 * 2**21 + 12


def test_errors():
    with pytest.raises(ValueError, match="capacity must be >= 2"):
        replay.frame_sharing_buffer(1)
    buf = replay.frame_sharing_buffer(4)
    with pytest.raises(ValueError, match="Transition"):
        buf.init({"obs": np.zeros(2)})
    state = buf.init(EXAMPLE)
    bad = batch([(1, 1, 2)])._replace(obs_t=np.zeros((1, 3), np.uint8))
    with pytest.raises(ValueError, match="must have shape"):
        buf.add(state, bad)
    with pytest.raises(ValueError, match="cannot sample"):
        buf.sample(state, jax.random.key(0), 2)

"""Uniform replay, in jit and on the host, against the plain-Python ReplayModel."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rlblocks import replay
from tests.reference import ReplayModel

EXAMPLE = {
    "obs": np.zeros(2, np.float32),
    "a": np.zeros((), np.int32),
    "flag": np.zeros((), np.bool_),
}


def make_items(ids):
    """Item k encodes its id: obs = [id, id + 0.5], a = id, flag = id even."""
    ids = np.asarray(ids, np.int64)
    return {
        "obs": np.stack([ids, ids + 0.5], axis=-1).astype(np.float32),
        "a": ids.astype(np.int32),
        "flag": ids % 2 == 0,
    }


def decode(items, slot):
    """The id stored in `slot`, checking that every leaf agrees."""
    a = int(np.asarray(items["a"])[slot])
    obs = np.asarray(items["obs"])[slot]
    np.testing.assert_array_equal(obs, [a, a + 0.5])
    assert bool(np.asarray(items["flag"])[slot]) == (a % 2 == 0)
    return a


@functools.cache
def jit_buffer(capacity):
    buf = replay.uniform_buffer(capacity)
    return buf._replace(
        add=jax.jit(buf.add), sample=jax.jit(buf.sample, static_argnums=2)
    )


def host_buffer(capacity):
    return replay.host_uniform_buffer(capacity)


class UniformMachine(RuleBasedStateMachine):
    """Random adds (any size, masked or not) and samples, checked against the model."""

    make = staticmethod(jit_buffer)

    def __init__(self):
        super().__init__()
        self.buf = None
        self.next_id = 1

    @precondition(lambda self: self.buf is None)
    @rule(capacity=st.sampled_from([1, 4]))
    def create(self, capacity):
        self.buf = self.make(capacity)
        self.state = self.buf.init(EXAMPLE)
        self.model = ReplayModel(capacity)
        self.capacity = capacity

    @precondition(lambda self: self.buf is not None)
    @rule(n=st.sampled_from([1, 6]), masked=st.booleans(), data=st.data())
    def add(self, n, masked, data):
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        mask = None
        if masked:
            mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        self.state = self.buf.add(self.state, make_items(ids), mask=mask)
        self.model.add(ids, mask)

    @precondition(lambda self: self.buf is not None)
    @rule(seed=st.integers(0, 2**16), batch=st.just(8))
    def sample(self, seed, batch):
        if not self.model.size:
            with pytest.raises(ValueError, match="cannot sample"):
                self.draw_eager(seed, batch)
            return
        out = self.draw(seed, batch)
        indices = np.asarray(out.indices)
        assert set(indices.tolist()) <= self.model.sampleable()
        for k, slot in enumerate(indices):
            want = self.model.slots[slot]
            assert decode(out.item, k) == want
        np.testing.assert_array_equal(np.asarray(out.weights), np.ones(batch))

    def draw(self, seed, batch):
        return self.buf.sample(self.state, jax.random.key(seed), batch)

    def draw_eager(self, seed, batch):
        # Concrete states raise; the jitted sample cannot (it gives zero weights).
        out = self.draw(seed, batch)
        np.testing.assert_array_equal(np.asarray(out.weights), np.zeros(batch))
        eager = replay.uniform_buffer(self.capacity)
        return eager.sample(self.state, jax.random.key(seed), batch)

    @precondition(lambda self: self.buf is not None)
    @invariant()
    def matches_model(self):
        assert int(self.state.size) == self.model.size
        assert int(self.state.insert_pos) == self.model.insert_pos
        assert int(self.state.count) == self.model.count
        assert bool(self.buf.can_sample(self.state)) == (self.model.size > 0)
        for slot in range(self.model.size):
            assert decode(self.state.items, slot) == self.model.slots[slot]


class HostUniformMachine(UniformMachine):
    make = staticmethod(host_buffer)

    def draw(self, seed, batch):
        return self.buf.sample(self.state, np.random.default_rng(seed), batch)

    draw_eager = draw


TestUniformJit = UniformMachine.TestCase
TestUniformJit.settings = settings(
    max_examples=30, stateful_step_count=12, deadline=None
)
TestUniformHost = HostUniformMachine.TestCase
TestUniformHost.settings = settings(
    max_examples=40, stateful_step_count=15, deadline=None
)


# --- hand-computed cases --------------------------------------------------------


@pytest.mark.parametrize("make", [replay.uniform_buffer, replay.host_uniform_buffer])
def test_add_larger_than_capacity_keeps_last_items(make):
    # capacity 3, pos 0; adding ids 1..7: the last 3 (5, 6, 7) win. They are written
    # as if appended one by one: 7 items from slot 0 end at slot (7 - 1) % 3 = 0, so
    # slot 0 = 7, slot 1 = 5, slot 2 = 6; insert_pos = 7 % 3 = 1.
    buf = make(3)
    state = buf.add(buf.init(EXAMPLE), make_items(range(1, 8)))
    assert [decode(state.items, s) for s in range(3)] == [7, 5, 6]
    assert int(state.insert_pos) == 1
    assert int(state.size) == 3


def test_wrapping_add_under_jit():
    # capacity 4 holding ids 1..3 (pos 3); adding 10, 11, 12 writes slot 3, 0, 1.
    buf = replay.uniform_buffer(4)
    add = jax.jit(buf.add)
    state = add(buf.init(EXAMPLE), make_items([1, 2, 3]))
    state = add(state, make_items([10, 11, 12]))
    assert [decode(state.items, s) for s in range(4)] == [11, 12, 3, 10]
    assert int(state.insert_pos) == 2


def test_sampling_is_uniform_over_held_slots():
    # 4 of 8 slots held: each held slot has probability 1/4, empty slots 0.
    buf = replay.uniform_buffer(8)
    state = buf.add(buf.init(EXAMPLE), make_items([1, 2, 3, 4]))
    out = jax.jit(buf.sample, static_argnums=2)(state, jax.random.key(0), 40_000)
    freq = np.bincount(np.asarray(out.indices), minlength=8) / 40_000
    np.testing.assert_allclose(freq, [0.25] * 4 + [0] * 4, atol=0.01)


def test_traced_sample_before_can_sample_has_zero_weights():
    buf = replay.uniform_buffer(4, min_size=2)
    state = buf.add(buf.init(EXAMPLE), make_items([1]))
    out = jax.jit(buf.sample, static_argnums=2)(state, jax.random.key(0), 3)
    np.testing.assert_array_equal(np.asarray(out.weights), [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="holds 1 items, needs 2"):
        buf.sample(state, jax.random.key(0), 3)


def test_add_inside_scan():
    buf = replay.uniform_buffer(5)

    def body(state, i):
        return buf.add(state, make_items_jnp(i)), None

    def make_items_jnp(i):
        ids = jnp.reshape(i, (1,))
        obs = jnp.stack([ids, ids + 0.5], axis=-1).astype(jnp.float32)
        return {"obs": obs, "a": ids.astype(jnp.int32), "flag": ids % 2 == 0}

    state, _ = jax.lax.scan(body, buf.init(EXAMPLE), jnp.arange(1, 9))
    # ids 1..8 into 5 slots: slots hold 6, 7, 8, 4, 5.
    assert [decode(state.items, s) for s in range(5)] == [6, 7, 8, 4, 5]


# --- errors ---------------------------------------------------------------------


@pytest.mark.parametrize("make", [replay.uniform_buffer, replay.host_uniform_buffer])
@pytest.mark.parametrize("capacity", [0, -3, 2.5, True])
def test_bad_capacity(make, capacity):
    with pytest.raises(ValueError, match="capacity"):
        make(capacity)


@pytest.mark.parametrize(
    "make",
    [
        replay.uniform_buffer,
        replay.host_uniform_buffer,
        replay.prioritized_buffer,
        replay.host_prioritized_buffer,
        replay.frame_sharing_buffer,
    ],
)
def test_min_size_above_capacity_is_refused(make):
    # A buffer of 4 slots never holds 5 items: can_sample could never be true.
    with pytest.raises(ValueError, match="min_size=5 must be <= capacity=4"):
        make(4, min_size=5)
    make(4, min_size=4)  # the bound itself is accepted


@pytest.mark.parametrize("make", [replay.uniform_buffer, replay.host_uniform_buffer])
def test_bad_items(make):
    buf = make(4)
    state = buf.init(EXAMPLE)
    good = make_items([1, 2])
    with pytest.raises(ValueError, match="structure"):
        buf.add(state, {"obs": good["obs"], "a": good["a"]})
    with pytest.raises(ValueError, match=r"items\['obs'\] must have shape \[N, 2\]"):
        buf.add(state, {**good, "obs": np.zeros((2, 3), np.float32)})
    with pytest.raises(ValueError, match=r"items\['obs'\] must have rank 2"):
        buf.add(state, {**good, "obs": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match=r"items\['a'\] must have a dtype"):
        buf.add(state, {**good, "a": np.zeros(2, np.float32)})
    with pytest.raises(
        ValueError, match=r"items\['flag'\] must have shape \[N\] with the same N=2"
    ):
        buf.add(state, {**good, "flag": np.zeros(3, np.bool_)})
    for n in (1, 3):  # a [1] leaf would broadcast over the batch of 2: refused
        with pytest.raises(ValueError, match=r"items\['obs'\] must have shape"):
            buf.add(state, {**good, "obs": np.zeros((n, 2), np.float32)})
    assert int(state.size) == 0  # nothing was written
    with pytest.raises(ValueError, match="mask"):
        buf.add(state, good, mask=np.ones(3, np.bool_))


@pytest.mark.parametrize(
    "make",
    [
        replay.host_uniform_buffer,
        lambda c: replay.host_prioritized_buffer(c, alpha=0.6, beta=0.4),
    ],
)
def test_host_dict_items_go_to_their_keys_in_any_key_order(make):
    # Two leaves of one shape and dtype; the storage holds them in sorted key
    # order (next_obs, obs), the items are built obs first: each must still land
    # in its own leaf, for a batch of 2 and a batch of 1.
    buf = make(4)
    state = buf.init(
        {"obs": np.zeros(2, np.float32), "next_obs": np.zeros(2, np.float32)}
    )
    for n in (2, 1):
        buf.add(
            state,
            {
                "obs": np.full((n, 2), 1.0, np.float32),
                "next_obs": np.full((n, 2), 2.0, np.float32),
            },
        )
    np.testing.assert_array_equal(state.items["obs"][:3], np.ones((3, 2)))
    np.testing.assert_array_equal(state.items["next_obs"][:3], np.full((3, 2), 2.0))


def test_host_sample_errors():
    buf = replay.host_uniform_buffer(4)
    state = buf.init(EXAMPLE)
    with pytest.raises(ValueError, match="cannot sample"):
        buf.sample(state, np.random.default_rng(0), 2)
    buf.add(state, make_items([1]))
    with pytest.raises(ValueError, match=r"numpy\.random\.Generator"):
        buf.sample(state, jax.random.key(0), 2)
    with pytest.raises(ValueError, match="batch_size"):
        buf.sample(state, np.random.default_rng(0), 0)


def test_host_sample_returns_jax_arrays():
    buf = replay.host_uniform_buffer(4)
    state = buf.add(buf.init(EXAMPLE), make_items([1, 2]))
    out = buf.sample(state, np.random.default_rng(0), 5)
    leaves = jax.tree.leaves(out)
    assert all(isinstance(x, jax.Array) for x in leaves)
    assert out.indices.dtype == jnp.int32 and out.weights.dtype == jnp.float32


def test_host_single_item_adds_match_model():
    # One-item adds of an exactly-typed NamedTuple take the fast path; a float64 obs
    # (same kind, other precision) takes the general one. Both agree with the model.
    buf = replay.host_uniform_buffer(3)
    example = replay.Transition(
        np.zeros(2, np.float32),
        np.int32(0),
        np.float32(0),
        np.float32(0),
        np.zeros(2, np.float32),
    )
    state = buf.init(example)
    model = ReplayModel(3)
    for i in range(1, 8):
        obs = np.full((1, 2), i, np.float64 if i % 2 else np.float32)
        item = replay.Transition(
            obs,
            np.array([i], np.int32),
            np.array([i], np.float32),
            np.array([0.5], np.float32),
            obs + 1,
        )
        assert buf.add(state, item) is state
        model.add([i])
    # ids 1..7 in 3 slots: 7, 5, 6 (slot 0 got 1, 4, 7).
    assert np.asarray(state.items.a_tm1).tolist() == model.slots == [7, 5, 6]
    np.testing.assert_array_equal(state.items.obs_tm1[:, 0], [7, 5, 6])
    np.testing.assert_array_equal(state.items.obs_t[:, 1], [8, 6, 7])
    assert (int(state.insert_pos), int(state.size), int(state.count)) == (1, 3, 7)
    with pytest.raises(
        ValueError,
        match=r"items\.obs_tm1 must have a dtype of the same kind as float32",
    ):
        buf.add(state, item._replace(obs_tm1=np.zeros((1, 2), np.int32)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: replay.uniform_buffer(8),
        lambda: replay.prioritized_buffer(8),
        lambda: replay.sequence_buffer(8, 2),
    ],
    ids=["uniform", "prioritized", "sequence"],
)
def test_init_state_can_be_donated(make):
    # Each leaf must be a buffer of its own: XLA refuses to donate one buffer twice.
    buf = make()
    example = {"obs": jnp.zeros(4), "action": jnp.int32(0)}
    state = buf.init(example)
    leaves = jax.tree.leaves(state)
    assert len({leaf.unsafe_buffer_pointer() for leaf in leaves}) == len(leaves)
    add = jax.jit(buf.add, donate_argnums=0)
    state = add(state, jax.tree.map(lambda x: jnp.stack([x, x + 1]), example))
    assert int(state.size) == 2


def test_host_sample_is_bit_exact_for_every_packed_dtype():
    # Sampled rows travel packed in one byte buffer and are bitcast back on the
    # device; each leaf must equal the numpy gather storage[indices] bit for bit,
    # including bool, 1- and 2-byte leaves. float64 (converted by JAX without x64)
    # takes the per-array path and arrives as float32.
    rng = np.random.default_rng(3)
    n = 12
    items = {
        "u8": rng.integers(0, 256, (n, 2, 3)).astype(np.uint8),
        "b": rng.random(n) < 0.5,
        "i8": rng.integers(-128, 128, (n, 2)).astype(np.int8),
        "f16": rng.normal(size=n).astype(np.float16),
        "u16": rng.integers(0, 2**16, n).astype(np.uint16),
        "i32": rng.integers(-(2**31), 2**31, (n, 3)).astype(np.int32),
    }
    example = {k: v[0] for k, v in items.items()}
    for make in (replay.host_uniform_buffer, replay.host_prioritized_buffer):
        buf = make(8)
        state = buf.add(buf.init(example), items)
        out = buf.sample(state, np.random.default_rng(0), 7)
        idx = np.asarray(out.indices)
        for k, stored in state.items.items():
            got = out.item[k]
            assert isinstance(got, jax.Array) and got.dtype == stored.dtype
            np.testing.assert_array_equal(np.asarray(got), stored[idx])
    buf = replay.host_uniform_buffer(4)
    state = buf.add(buf.init({"x": np.zeros(2)}), {"x": np.arange(6.0).reshape(3, 2)})
    out = buf.sample(state, np.random.default_rng(0), 5)
    assert out.item["x"].dtype == jnp.float32
    want = np.arange(6.0).reshape(3, 2)[np.asarray(out.indices)]
    np.testing.assert_array_equal(np.asarray(out.item["x"]), want)


# --- index draws (straight-line Threefry) -----------------------------------------


def test_threefry_matches_jax_primitive():
    from jax.extend.random import threefry2x32_p

    from rlblocks.replay import _random

    words = jax.random.key_data(jax.random.key(11))
    counters = jnp.arange(64, dtype=jnp.uint32)
    want = threefry2x32_p.bind(words[0], words[1], jnp.zeros_like(counters), counters)
    got = _random.hashed_counters(words, 64)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
    # The float draw is bit for bit jax.random.uniform (same counters, x0 ^ x1).
    key = jax.random.key(5)
    np.testing.assert_array_equal(
        np.asarray(_random.uniform(key, 300)),
        np.asarray(jax.random.uniform(key, (300,))),
    )


@pytest.mark.parametrize("high", [1, 2, 3, 7, 100_000, 2**31 - 1])
def test_integers_are_the_64_bit_multiply_high(high):
    from rlblocks.replay import _random

    key = jax.random.key(3)
    got = np.asarray(jax.jit(_random.integers, static_argnums=2)(key, high, 500))
    h, lo = (
        np.asarray(x) for x in _random.hashed_counters(jax.random.key_data(key), 500)
    )
    # i = floor((2^32 h + l) high / 2^64), in exact Python integers.
    want = [((int(a) << 32) + int(b)) * high >> 64 for a, b in zip(h, lo, strict=True)]
    np.testing.assert_array_equal(got, want)
    assert got.min() >= 0 and got.max() < high


def test_integers_raw_and_other_keys():
    from rlblocks.replay import _random

    # A raw uint32[2] key gives the same draws as the typed key with that data.
    typed = _random.integers(jax.random.key(4), 10, 50)
    raw = _random.integers(jax.random.PRNGKey(4), 10, 50)
    np.testing.assert_array_equal(np.asarray(typed), np.asarray(raw))
    # Another PRNG implementation falls back to jax.random.randint.
    rbg = jax.random.key(4, impl="rbg")
    want = jax.random.randint(rbg, (50,), 0, 10, dtype=jnp.int32)
    np.testing.assert_array_equal(np.asarray(_random.integers(rbg, 10, 50)), want)


def test_integer_frequencies_are_uniform():
    from rlblocks.replay import _random

    # 100k draws over 7 values: each count is 100000/7 = 14285.7 +- 4.5 sigma
    # (sigma = sqrt(100000 * 1/7 * 6/7) = 110.7).
    draws = np.asarray(_random.integers(jax.random.key(9), 7, 100_000))
    counts = np.bincount(draws, minlength=7)
    assert np.all(np.abs(counts - 100_000 / 7) < 4.5 * 110.7), counts


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.int32, jnp.uint8])
def test_computed_once_is_the_identity(dtype):
    # max(x, lowest value of the dtype) == x for every x, extremes and NaN included.
    from rlblocks.replay import _common

    if jnp.issubdtype(dtype, jnp.floating):
        x = np.array([-np.inf, -1.5, 0.0, 3.0, np.inf, np.nan], dtype)
    else:
        info = np.iinfo(dtype)
        x = np.array([info.min, 0, 1, info.max], dtype)
    got = jax.jit(_common.computed_once)(jnp.asarray(x))
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(got), x)

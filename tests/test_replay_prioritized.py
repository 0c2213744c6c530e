"""Prioritized replay, in jit and on the host, against the plain-Python model."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rlblocks import replay
from rlblocks.replay import sum_tree
from tests.reference import PrioritizedModel

EXAMPLE = {"a": np.zeros((), np.int32), "obs": np.zeros(2, np.float32)}
ALPHA, BETA, EPS = 0.6, 0.4, 1e-3


def make_items(ids):
    ids = np.asarray(ids, np.int64)
    obs = np.stack([ids, -ids], axis=-1).astype(np.float32)
    return {"a": ids.astype(np.int32), "obs": obs}


def rebuild(leaves, op):
    """Full bottom-up rebuild of a tree from its [L] leaves (pairwise, leaf dtype)."""
    levels = [np.asarray(leaves)]
    while levels[-1].size > 1:
        level = levels[-1]
        levels.append(op(level[0::2], level[1::2]))
    return np.concatenate([[0], *reversed(levels)]).astype(np.asarray(leaves).dtype)


@functools.cache
def jit_buffer(capacity):
    buf = replay.prioritized_buffer(capacity, alpha=ALPHA, beta=BETA, epsilon=EPS)
    return buf._replace(
        add=jax.jit(buf.add),
        sample=jax.jit(buf.sample, static_argnums=2),
        update_priorities=jax.jit(buf.update_priorities),
    )


def host_buffer(capacity):
    return replay.host_prioritized_buffer(capacity, alpha=ALPHA, beta=BETA, epsilon=EPS)


class PrioritizedMachine(RuleBasedStateMachine):
    make = staticmethod(jit_buffer)

    def __init__(self):
        super().__init__()
        self.buf = None
        self.next_id = 1

    def key(self, seed):
        return jax.random.key(seed)

    @precondition(lambda self: self.buf is None)
    @rule(capacity=st.sampled_from([1, 6]))
    def create(self, capacity):
        self.buf = self.make(capacity)
        self.state = self.buf.init(EXAMPLE)
        self.model = PrioritizedModel(capacity, ALPHA, EPS)

    @precondition(lambda self: self.buf is not None)
    @rule(n=st.sampled_from([1, 7]), masked=st.booleans(), data=st.data())
    def add(self, n, masked, data):
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        mask = None
        if masked:
            mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        self.state = self.buf.add(self.state, make_items(ids), mask=mask)
        self.model.add(ids, mask)

    @precondition(lambda self: self.buf is not None and self.model.size > 0)
    @rule(data=st.data())
    def update(self, data):
        k = 3  # one traced shape keeps compilations few
        held = st.integers(0, self.model.size - 1)
        indices = np.array(data.draw(st.lists(held, min_size=k, max_size=k)))
        values = st.floats(0, 8, width=32)
        prios = np.array(data.draw(st.lists(values, min_size=k, max_size=k)))
        self.state = self.buf.update_priorities(
            self.state, indices.astype(np.int32), prios.astype(np.float32)
        )
        self.model.update(indices, prios.astype(np.float32))

    @precondition(lambda self: self.buf is not None and self.model.size > 0)
    @rule(seed=st.integers(0, 2**16))
    def sample(self, seed):
        out = self.buf.sample(self.state, self.key(seed), 8)
        indices = np.asarray(out.indices)
        probs = self.model.probabilities()
        assert all(probs[i] > 0 for i in indices)
        for k, slot in enumerate(indices):
            assert int(np.asarray(out.item["a"])[k]) == self.model.slots[slot]
        want = self.model.weights(indices, BETA)
        np.testing.assert_allclose(np.asarray(out.weights), want, rtol=2e-5)

    @precondition(lambda self: self.buf is not None)
    @invariant()
    def matches_model(self):
        assert int(self.state.size) == self.model.size
        assert int(self.state.insert_pos) == self.model.insert_pos
        for slot in range(self.model.size):
            assert (
                int(np.asarray(self.state.items["a"])[slot]) == self.model.slots[slot]
            )

    @precondition(lambda self: self.buf is not None and self.model.size > 0)
    @invariant()
    def tree_is_exact(self):
        self.buf.sample(self.state, self.key(0), 1)  # the host flushes lazily
        tree = np.asarray(self.state.sum_tree)
        leaves = tree[tree.size // 2 :]
        want = [p**ALPHA for p in self.model.priority[: self.model.size]]
        np.testing.assert_allclose(leaves[: self.model.size], want, rtol=1e-6)
        np.testing.assert_array_equal(tree[1:], rebuild(leaves, np.add)[1:])
        mins = np.where(leaves > 0, leaves, np.inf)
        got = np.asarray(self.state.min_tree)[1:]
        np.testing.assert_array_equal(got, rebuild(mins, np.minimum)[1:])


class HostPrioritizedMachine(PrioritizedMachine):
    make = staticmethod(host_buffer)

    def key(self, seed):
        return np.random.default_rng(seed)


TestPrioritizedJit = PrioritizedMachine.TestCase
TestPrioritizedJit.settings = settings(
    max_examples=20, stateful_step_count=10, deadline=None
)
TestPrioritizedHost = HostPrioritizedMachine.TestCase
TestPrioritizedHost.settings = settings(
    max_examples=40, stateful_step_count=12, deadline=None
)


# --- frequencies and weights ------------------------------------------------------

PRIOS = np.array([0.5, 3.0, 0.0, 1.0, 7.0, 2.0, 0.2, 4.0], np.float32)


def jitted(buf):
    """The buffer with jitted functions (host buffers are returned unchanged)."""
    if isinstance(buf.init(EXAMPLE).counters, np.ndarray):
        return buf
    return buf._replace(
        add=jax.jit(buf.add),
        sample=jax.jit(buf.sample, static_argnums=2),
        update_priorities=jax.jit(buf.update_priorities),
    )


def filled(make, key_fn):
    buf = jitted(make(8, alpha=0.6, beta=0.7, epsilon=0.01))
    state = buf.add(buf.init(EXAMPLE), make_items(range(8)))
    state = buf.update_priorities(state, np.arange(8, dtype=np.int32), PRIOS)
    return buf, state


def expected_probabilities():
    mass = (PRIOS.astype(np.float64) + 0.01) ** 0.6
    return mass / mass.sum()


def test_jit_frequencies_match_priorities():
    buf, state = filled(replay.prioritized_buffer, None)
    keys = jax.random.split(jax.random.key(1), 100)
    draw = jax.jit(jax.vmap(buf.sample, in_axes=(None, 0, None)), static_argnums=2)
    out = draw(state, keys, 1000)  # 100 calls x 1000 = 100k draws
    freq = np.bincount(np.asarray(out.indices).ravel(), minlength=8) / 100_000
    np.testing.assert_allclose(freq, expected_probabilities(), atol=0.01)


def test_host_frequencies_match_priorities():
    buf, state = filled(replay.host_prioritized_buffer, None)
    rng = np.random.default_rng(1)
    idx = [np.asarray(buf.sample(state, rng, 1000).indices) for _ in range(100)]
    freq = np.bincount(np.concatenate(idx), minlength=8) / 100_000
    np.testing.assert_allclose(freq, expected_probabilities(), atol=0.01)


@pytest.mark.parametrize(
    "make, key",
    [
        (replay.prioritized_buffer, jax.random.key(3)),
        (replay.host_prioritized_buffer, np.random.default_rng(3)),
    ],
)
def test_importance_weights_formula(make, key):
    buf, state = filled(make, None)
    out = buf.sample(state, key, 64)
    probs = expected_probabilities()
    # w_i = (N P(i))^-β / max_j (N P(j))^-β with N = 8, β = 0.7.
    w = (8 * probs) ** -0.7
    want = w[np.asarray(out.indices)] / w.max()
    np.testing.assert_allclose(np.asarray(out.weights), want, rtol=1e-5)


def test_hand_computed_weights_and_beta_schedule():
    # α = 1, ε = 0, priorities 1 and 3: P = 1/4, 3/4; N = 2. With β = 1:
    # w_0 = (2 * 1/4)^-1 = 2, w_1 = (2 * 3/4)^-1 = 2/3; max is 2 -> [1, 1/3].
    # β is a schedule of the item count (2 here): beta(2) = 0.5 * 2 = 1.
    buf = jitted(
        replay.prioritized_buffer(2, alpha=1.0, beta=lambda n: 0.5 * n, epsilon=0.0)
    )
    state = buf.add(buf.init(EXAMPLE), make_items([5, 6]))
    state = buf.update_priorities(state, jnp.array([0, 1]), jnp.array([1.0, 3.0]))
    out = buf.sample(state, jax.random.key(0), 400)
    w = np.where(np.asarray(out.indices) == 0, 1.0, 1 / 3)
    np.testing.assert_allclose(np.asarray(out.weights), w, rtol=1e-6)
    # Stratified: 400 strata over a mass of 4, slot 0 owns [0, 1): exactly 100 strata.
    assert int(np.sum(np.asarray(out.indices) == 0)) == 100


@pytest.mark.parametrize(
    "make", [replay.prioritized_buffer, replay.host_prioritized_buffer]
)
def test_new_items_get_max_priority_and_duplicates_last_wins(make):
    buf = jitted(make(4, alpha=1.0, epsilon=0.0))
    state = buf.add(buf.init(EXAMPLE), make_items([1, 2]))
    # Index 1 appears twice: the last value (5) wins, as if applied in order; the
    # max priority seen is 9, which the new item (slot 2) gets.
    state = buf.update_priorities(
        state, np.array([1, 0, 1], np.int32), np.array([9.0, 2.0, 5.0], np.float32)
    )
    state = buf.add(state, make_items([3]))
    buf.sample(
        state,
        np.random.default_rng(0)
        if make is not replay.prioritized_buffer
        else jax.random.key(0),
        1,
    )
    tree = np.asarray(state.sum_tree)
    np.testing.assert_allclose(tree[4:7], [2.0, 5.0, 9.0])
    assert float(state.max_priority) == 9.0


def test_float32_tree_does_not_drift():
    # 100 rounds of random updates on 1000 slots: every node still equals an exact
    # rebuild from the leaves, and the root is never zero.
    buf = replay.prioritized_buffer(1000, alpha=1.0, epsilon=0.0)
    update = jax.jit(buf.update_priorities)
    state = jax.jit(buf.add)(buf.init(EXAMPLE), make_items(np.arange(1000)))
    rng = np.random.default_rng(0)
    for _ in range(100):
        idx = rng.integers(0, 1000, 128).astype(np.int32)
        p = (rng.random(128) * 10.0 ** rng.integers(-6, 4, 128)).astype(np.float32)
        state = update(state, idx, p)
    tree = np.asarray(state.sum_tree)
    np.testing.assert_array_equal(tree[1:], rebuild(tree[1024:], np.add)[1:])
    assert tree[1] > 0


def test_set_leaves_applies_entries_in_order():
    # 4 leaves (nodes 4..7). Slot 1 is set to 5, then 7: the last kept value wins;
    # slot 3 and the out-of-range slot 9 are not kept. Leaves [0, 7, 2, 0]:
    # sums node 2 = 0 + 7, node 3 = 2 + 0, root = 9; mins (empty = inf) node 2 = 7,
    # node 3 = 2, root = 2. Node 0 (unused) keeps its initial 0 / inf.
    tree, mins = sum_tree.init(4)
    tree, mins = sum_tree.set_leaves(
        tree,
        mins,
        jnp.array([1, 2, 1, 3, 9]),
        jnp.array([5.0, 2.0, 7.0, 4.0, 100.0]),
        jnp.array([True, True, True, False, False]),
    )
    inf = np.inf
    np.testing.assert_array_equal(np.asarray(tree), [0, 9, 7, 2, 0, 7, 2, 0])
    np.testing.assert_array_equal(np.asarray(mins), [inf, 2, 7, 2, inf, 7, 2, inf])


@pytest.mark.parametrize("batched_entries", [True, False])
def test_set_leaves_under_vmap_equals_one_tree_at_a_time(batched_entries):
    # vmap runs the level-by-level update (custom batching rule), unbatched calls the
    # scalar loop: the same trees bit for bit, with repeated slots (last kept value
    # wins) and entries not kept (out-of-range slots among them).
    rng = np.random.default_rng(3)
    k, seeds = 40, 3
    slots = rng.integers(0, 12, (seeds, k)).astype(np.int32)
    slots[:, ::9] = 99  # out of range: never kept
    values = (rng.random((seeds, k)) * 5).astype(np.float32)
    values[:, 1::5] = 0.0  # zero leaves enter the min tree as inf
    keep = (rng.random((seeds, k)) < 0.8) & (slots < 12)
    # start: leaves 0, 1, ..., 15 (L = 16), inner nodes rebuilt from them
    sums, mins = np.zeros(32, np.float32), np.full(32, np.inf, np.float32)
    sums[16:] = np.arange(16.0)
    mins[17:] = np.arange(1.0, 16.0)
    for node in range(15, 0, -1):
        sums[node] = sums[2 * node] + sums[2 * node + 1]
        mins[node] = min(mins[2 * node], mins[2 * node + 1])
    start = [jnp.asarray(np.stack([x] * seeds)) for x in (sums, mins)]
    if not batched_entries:
        slots, values, keep = slots[:1].repeat(seeds, 0), values[:1], keep[:1]
        values, keep = values.repeat(seeds, 0), keep.repeat(seeds, 0)
    got = jax.vmap(
        sum_tree.set_leaves, in_axes=(0, 0) + (0 if batched_entries else None,) * 3
    )(
        *start,
        *((slots, values, keep) if batched_entries else (slots[0], values[0], keep[0])),
    )
    for s_ in range(seeds):
        want = sum_tree.set_leaves(
            start[0][s_], start[1][s_], slots[s_], values[s_], keep[s_]
        )
        np.testing.assert_array_equal(
            np.asarray(got[0][s_])[1:], np.asarray(want[0])[1:]
        )
        np.testing.assert_array_equal(
            np.asarray(got[1][s_])[1:], np.asarray(want[1])[1:]
        )
        leaves = np.asarray(want[0])[16:]  # independent check: last kept value wins
        expect = np.arange(16.0)
        for j in range(k):
            if keep[s_, j]:
                expect[slots[s_, j]] = values[s_, j]
        np.testing.assert_array_equal(leaves, expect.astype(np.float32))


@pytest.mark.parametrize("k", [1, 7, 256, 257, 1000])
def test_last_occurrence_matches_a_python_loop(k):
    # Both branches (all-pairs up to 256 entries, sort above) against a plain loop.
    idx = np.random.default_rng(k).integers(0, max(k // 3, 1), k).astype(np.int32)
    want = [i not in idx[j + 1 :] for j, i in enumerate(idx)]
    got = sum_tree.last_occurrence(jnp.asarray(idx))
    np.testing.assert_array_equal(np.asarray(got), want)


def test_find_never_returns_empty_leaves():
    # Leaves [0, 1, 0, 0] (mass 1 at leaf 1); targets at and beyond the total.
    tree, mins = sum_tree.init(4)
    tree, _ = sum_tree.set_leaves(
        tree, mins, jnp.array([1]), jnp.array([1.0]), jnp.array([True])
    )
    got = sum_tree.find(tree, jnp.array([0.0, 0.5, 1.0, 7.0]))
    np.testing.assert_array_equal(np.asarray(got), [1, 1, 1, 1])


def _descend_one_level_at_a_time(tree, target):
    """Slow reference: the root-to-leaf walk of `find`'s docstring, in float32."""
    node, t = 1, np.float32(target)
    while node < tree.size // 2:
        mass, other = tree[2 * node], tree[2 * node + 1]
        right = mass <= 0 or (t >= mass and other > 0)
        t = np.float32(t - mass) if right else t
        node = 2 * node + int(right)
    return node - tree.size // 2


@pytest.mark.parametrize("capacity", [1, 2, 3, 5, 8, 100, 1000])
def test_find_matches_a_one_level_walk(capacity):
    # find descends two levels per step (depth 0, 1, 2, 3, 3, 7, 10 here: odd and
    # even); a third of the leaves are zero, targets include 0 and just below the total.
    rng = np.random.default_rng(capacity)
    leaves = (rng.random(capacity) ** 3).astype(np.float32)
    leaves[rng.random(capacity) < 0.33] = 0.0
    leaves[rng.integers(capacity)] = 0.5
    tree, mins = sum_tree.init(capacity)
    tree, _ = sum_tree.set_leaves(
        tree, mins, jnp.arange(capacity), jnp.asarray(leaves), jnp.ones(capacity, bool)
    )
    tree = np.asarray(tree)
    total = tree[1]
    targets = np.concatenate(
        [rng.random(200) * total, [0.0, np.nextafter(total, np.float32(0))]]
    ).astype(np.float32)
    got = np.asarray(jax.jit(sum_tree.find)(jnp.asarray(tree), jnp.asarray(targets)))
    want = [_descend_one_level_at_a_time(tree, t) for t in targets]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(sum_tree.np_find(tree, targets), want)
    assert np.all(leaves[got] > 0)


def test_vmapped_find_equals_unbatched_calls():
    # Three trees of 1000 leaves (a third zero), 64 targets each.
    rng = np.random.default_rng(3)
    trees, targets = [], []
    for _ in range(3):
        leaves = rng.random(1000).astype(np.float32)
        leaves[rng.random(1000) < 0.33] = 0.0
        tree, mins = sum_tree.init(1000)
        tree, _ = sum_tree.set_leaves(
            tree, mins, jnp.arange(1000), jnp.asarray(leaves), jnp.ones(1000, bool)
        )
        trees.append(tree)
        targets.append(jnp.asarray(rng.random(64) * float(tree[1]), jnp.float32))
    got = jax.jit(jax.vmap(sum_tree.find))(jnp.stack(trees), jnp.stack(targets))
    want = [sum_tree.find(t, g) for t, g in zip(trees, targets, strict=True)]
    np.testing.assert_array_equal(np.asarray(got), np.stack(want))


# --- errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [replay.prioritized_buffer, replay.host_prioritized_buffer]
)
def test_bad_priorities_and_indices(make):
    buf = make(4)
    state = buf.add(buf.init(EXAMPLE), make_items([1, 2]))
    idx = np.array([0, 1], np.int32)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="priorities must be finite and >= 0"):
            buf.update_priorities(state, idx, np.array([1.0, bad], np.float32))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, size=2\)"):
        buf.update_priorities(state, np.array([0, 2], np.int32), np.ones(2))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, size=2\)"):
        buf.update_priorities(state, np.array([-1, 0], np.int32), np.ones(2))
    with pytest.raises(ValueError, match="priorities must have shape"):
        buf.update_priorities(state, idx, np.ones(3))
    with pytest.raises(ValueError, match="indices must have an integer dtype"):
        buf.update_priorities(state, np.zeros(2), np.ones(2))


def test_traced_bad_entries_are_skipped():
    buf = replay.prioritized_buffer(4, alpha=1.0, epsilon=0.0)
    state = buf.add(buf.init(EXAMPLE), make_items([1, 2]))
    update = jax.jit(buf.update_priorities)
    state = update(
        state,
        jnp.array([0, 1, 3, -1], jnp.int32),  # slot 3 is empty, -1 out of range
        jnp.array([jnp.nan, 2.0, 4.0, 4.0]),
    )
    # Only slot 1 changes (to 2); slot 0 keeps the initial max priority 1.
    np.testing.assert_array_equal(np.asarray(state.sum_tree)[4:], [1.0, 2.0, 0.0, 0.0])
    assert float(state.max_priority) == 2.0


@pytest.mark.parametrize(
    "make", [replay.prioritized_buffer, replay.host_prioritized_buffer]
)
def test_bad_hyperparameters_and_empty_sample(make):
    with pytest.raises(ValueError, match="capacity"):
        make(0)
    with pytest.raises(ValueError, match="alpha"):
        make(4, alpha=-0.1)
    with pytest.raises(ValueError, match="beta"):
        make(4, beta=1.5)
    buf = make(4)
    key = (
        jax.random.key(0)
        if make is replay.prioritized_buffer
        else np.random.default_rng(0)
    )
    with pytest.raises(ValueError, match="cannot sample"):
        buf.sample(buf.init(EXAMPLE), key, 2)


@pytest.mark.parametrize(
    "make", [replay.prioritized_buffer, replay.host_prioritized_buffer]
)
def test_all_zero_priorities_cannot_be_sampled(make):
    # epsilon = 0 and every stored priority 0: the total mass is 0, so no item can
    # be drawn and (p_min / p_i)^beta would be 0/0. Eager and host calls raise;
    # under jit the sample is the "cannot sample" one: slot 0, all-zero weights.
    buf = make(8, alpha=1.0, beta=0.5, epsilon=0.0)
    state = buf.add(buf.init(EXAMPLE), make_items([1, 2, 3, 4]))
    state = buf.update_priorities(state, np.arange(4), np.zeros(4, np.float32))
    host = make is replay.host_prioritized_buffer
    key = np.random.default_rng(0) if host else jax.random.key(0)
    with pytest.raises(ValueError, match="every stored item has priority 0"):
        buf.sample(state, key, 4)
    if not host:
        out = jax.jit(buf.sample, static_argnums=2)(state, key, 4)
        np.testing.assert_array_equal(np.asarray(out.weights), np.zeros(4))
        np.testing.assert_array_equal(np.asarray(out.indices), np.zeros(4))
    # One item back at priority 2: it is the only one drawn, with weight 1.
    state = buf.update_priorities(state, np.array([2]), np.array([2.0], np.float32))
    out = buf.sample(state, key, 4)
    np.testing.assert_array_equal(np.asarray(out.indices), [2, 2, 2, 2])
    np.testing.assert_array_equal(np.asarray(out.weights), np.ones(4))

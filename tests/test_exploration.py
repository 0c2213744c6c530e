"""Exploration distributions (greedy, epsilon-greedy, softmax) and action noise."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlblocks as rlb

Q = jnp.array([1.0, 3.0, 3.0, 0.0])
MASK = jnp.array([True, True, False, True])  # action 2 (a greedy one) is illegal
N = 100_000


def _frequencies(actions, num_actions):
    return np.bincount(np.asarray(actions), minlength=num_actions) / actions.size


# --- greedy ---------------------------------------------------------------------


def test_greedy_hand_values(variant):
    dist = rlb.greedy()
    # Ties between actions 1 and 2 are split evenly.
    np.testing.assert_allclose(variant(dist.probs)(Q), [0, 0.5, 0.5, 0])
    # With action 2 illegal, action 1 is the unique legal maximiser.
    probs = variant(lambda q, m: dist.probs(q, legal_actions_mask=m))(Q, MASK)
    np.testing.assert_allclose(probs, [0, 1, 0, 0])
    # Entropy of a fair coin: ln 2 = 0.693147; of a point mass: 0.
    np.testing.assert_allclose(variant(dist.entropy)(Q), np.log(2), rtol=1e-6)
    ent = variant(lambda q, m: dist.entropy(q, legal_actions_mask=m))(Q, MASK)
    np.testing.assert_allclose(ent, 0.0, atol=1e-7)
    # log 0.5 = -0.693147 for a tied greedy action; log 0 = -inf for the others.
    logp = variant(dist.logprob)(jnp.array([1, 0]), jnp.stack([Q, Q]))
    np.testing.assert_allclose(logp, [np.log(0.5), -np.inf], rtol=1e-6)


def test_greedy_samples_only_maximisers(variant):
    keys = jax.random.split(jax.random.key(1), 2000)
    acts = variant(jax.vmap(rlb.greedy().sample, in_axes=(0, None)))(keys, Q)
    freq = _frequencies(acts, 4)
    assert freq[0] == freq[3] == 0.0
    assert 0.45 < freq[1] < 0.55  # 2000 fair coin flips: sd 0.011


# --- epsilon-greedy -----------------------------------------------------------------


def test_epsilon_greedy_hand_values(variant):
    dist = rlb.epsilon_greedy(0.2)
    # Greedy part 0.8 split over the tie {1, 2}; uniform part 0.2 / 4 = 0.05 each:
    # [0.05, 0.4 + 0.05, 0.4 + 0.05, 0.05].
    np.testing.assert_allclose(variant(dist.probs)(Q), [0.05, 0.45, 0.45, 0.05])
    # Masked: greedy 0.8 on action 1; uniform 0.2 / 3 legal = 0.0666667 each.
    probs = variant(lambda q, m: dist.probs(q, legal_actions_mask=m))(Q, MASK)
    np.testing.assert_allclose(probs, [0.2 / 3, 0.8 + 0.2 / 3, 0, 0.2 / 3], rtol=1e-6)
    # Entropy: -(2 * 0.05 ln 0.05 + 2 * 0.45 ln 0.45) = 0.299573 + 0.718652.
    np.testing.assert_allclose(variant(dist.entropy)(Q), 1.018225, rtol=1e-5)
    # logprob of action 3 = ln 0.05 = -2.995732.
    np.testing.assert_allclose(
        variant(dist.logprob)(jnp.array(3), Q), np.log(0.05), rtol=1e-6
    )


def test_epsilon_greedy_empirical_frequencies():
    # One vectorised call draws 100k actions; each frequency is within 0.01 of the
    # exact probability (binomial sd <= 0.0016), and the masked action never occurs.
    dist = rlb.epsilon_greedy(0.3)
    prefs = jnp.broadcast_to(Q, (N, 4))
    masks = jnp.broadcast_to(MASK, (N, 4))

    @jax.jit
    def draw(key, prefs, masks):  # arguments, not closed-over constants
        k1, k2 = jax.random.split(key)
        masked = dist.sample(k1, prefs, legal_actions_mask=masks)
        return masked, dist.sample(k2, prefs)

    masked, unmasked = draw(jax.random.key(0), prefs, masks)
    freq = _frequencies(masked, 4)
    # Greedy 0.7 on action 1; 0.3 / 3 = 0.1 on each of the 3 legal actions.
    np.testing.assert_allclose(freq, [0.1, 0.8, 0.0, 0.1], atol=0.01)
    assert freq[2] == 0.0
    # Unmasked: 0.7 / 2 + 0.3 / 4 = 0.425 on each greedy action, 0.075 elsewhere.
    freq = _frequencies(unmasked, 4)
    np.testing.assert_allclose(freq, [0.075, 0.425, 0.425, 0.075], atol=0.01)


def test_epsilon_given_at_call_overrides_and_may_be_traced():
    dist = rlb.epsilon_greedy()  # rlax style: epsilon passed at call time
    probs = jax.jit(dist.probs)(Q, 1.0)  # epsilon traced: uniform
    np.testing.assert_allclose(probs, [0.25] * 4)
    np.testing.assert_allclose(rlb.epsilon_greedy(0.5).probs(Q, 0.0), [0, 0.5, 0.5, 0])
    # epsilon from a schedule inside jit.
    sched = rlb.linearly_decaying_epsilon(10, 0, 0.0)
    probs = jax.jit(lambda t: dist.probs(Q, sched(t)))(5)
    # epsilon(5) = 0.5: 0.5 / 4 = 0.125 off-greedy, 0.25 + 0.125 greedy.
    np.testing.assert_allclose(probs, [0.125, 0.375, 0.375, 0.125], rtol=1e-6)


@pytest.mark.parametrize("epsilon", [-0.1, 1.01, float("nan")])
def test_epsilon_out_of_range_raises(epsilon):
    with pytest.raises(ValueError, match="epsilon must lie in"):
        rlb.epsilon_greedy(epsilon)
    with pytest.raises(ValueError, match="epsilon must lie in"):
        rlb.epsilon_greedy().sample(jax.random.key(0), Q, epsilon)


def test_traced_epsilon_outside_range_is_clipped():
    # A traced epsilon cannot raise; it is clipped, so probabilities stay valid.
    probs = jax.jit(rlb.epsilon_greedy().probs)(Q, 1.5)
    np.testing.assert_allclose(probs, [0.25] * 4)  # clipped to 1: uniform
    probs = jax.jit(rlb.epsilon_greedy().probs)(Q, -0.5)
    np.testing.assert_allclose(probs, [0, 0.5, 0.5, 0])  # clipped to 0: greedy


def test_missing_or_batched_epsilon_raises():
    with pytest.raises(ValueError, match="epsilon must be given"):
        rlb.epsilon_greedy().probs(Q)
    with pytest.raises(ValueError, match=r"epsilon must have rank 0"):
        rlb.epsilon_greedy().probs(Q, jnp.array([0.1, 0.2]))


def test_vmap_equals_loop():
    dist = rlb.epsilon_greedy(0.1)
    prefs = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    masks = np.array([[1, 1, 1], [0, 1, 1], [1, 0, 0], [1, 0, 1], [0, 0, 1]], bool)
    keys = jax.random.split(jax.random.key(3), 5)

    @jax.jit
    def one(k, p, m):
        return dist.sample(k, p, legal_actions_mask=m), dist.probs(
            p, legal_actions_mask=m
        )

    ab, pb = jax.jit(jax.vmap(one))(keys, prefs, masks)
    for i in range(5):
        a, p = one(keys[i], prefs[i], masks[i])
        assert int(ab[i]) == int(a)
        np.testing.assert_allclose(pb[i], p, rtol=1e-6)
        assert masks[i, int(a)]  # never an illegal action
    # Batched preferences [B, A] give the same as vmap.
    np.testing.assert_allclose(dist.probs(prefs, legal_actions_mask=masks), pb)


# --- softmax ------------------------------------------------------------------------


def _direct_softmax_logprob(logits, temperature, mask):
    z = jnp.where(mask, logits / temperature, -jnp.inf)
    return z - jnp.log(jnp.sum(jnp.where(mask, jnp.exp(z), 0.0)))


def test_softmax_hand_values(variant):
    dist = rlb.softmax(temperature=2.0)
    logits = jnp.array([0.0, 2.0, 4.0])
    # exp([0, 1, 2]) = [1, 2.718282, 7.389056], sum 11.107338.
    want = np.array([1.0, 2.718282, 7.389056]) / 11.107338
    np.testing.assert_allclose(variant(dist.probs)(logits), want, rtol=1e-6)
    # Masking action 2 leaves [1, e] / (1 + e) = [0.268941, 0.731059, 0].
    m = jnp.array([True, True, False])
    probs = variant(lambda x, mm: dist.probs(x, legal_actions_mask=mm))(logits, m)
    np.testing.assert_allclose(probs, [0.268941, 0.731059, 0.0], rtol=1e-5)
    # Entropy of the masked one: -(0.268941 ln 0.268941 + 0.731059 ln 0.731059)
    # = 0.268941 * 1.313262 + 0.731059 * 0.313262 = 0.353190 + 0.229013 = 0.582203.
    ent = variant(lambda x, mm: dist.entropy(x, legal_actions_mask=mm))(logits, m)
    np.testing.assert_allclose(ent, 0.582203, rtol=1e-5)
    # logprob of action 0 unmasked: 0 - ln 11.107338 = -2.407606.
    np.testing.assert_allclose(
        variant(dist.logprob)(jnp.array(0), logits), -2.407606, rtol=1e-6
    )


def test_softmax_gradients_match_direct_formula():
    dist = rlb.softmax(temperature=0.5)
    logits = jnp.array([0.3, -1.2, 0.8, 2.0])
    mask = jnp.array([True, False, True, True])
    g = jax.jit(
        jax.grad(lambda x: dist.logprob(jnp.array(2), x, legal_actions_mask=mask))
    )(logits)
    g_ref = jax.jit(jax.grad(lambda x: _direct_softmax_logprob(x, 0.5, mask)[2]))(
        logits
    )
    np.testing.assert_allclose(g, g_ref, rtol=1e-5)
    # Entropy gradient with a mask is finite and equals the formula on legal ones.
    ge = jax.jit(jax.grad(lambda x: dist.entropy(x, legal_actions_mask=mask)))(logits)

    def direct_entropy(x):
        legal = x[jnp.array([0, 2, 3])] / 0.5
        p = jax.nn.softmax(legal)
        return -jnp.sum(p * jnp.log(p))

    ge_ref = jax.jit(jax.grad(direct_entropy))(logits)
    assert np.all(np.isfinite(ge))
    np.testing.assert_allclose(ge, ge_ref, rtol=1e-5, atol=1e-7)


def test_softmax_empirical_frequencies():
    dist = rlb.softmax(temperature=1.0)
    logits = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
    mask = jnp.array([True, True, False, True])
    draws = jax.jit(lambda k, x, m: dist.sample(k, x, legal_actions_mask=m))(
        jax.random.key(4),
        jnp.broadcast_to(logits, (N, 4)),
        jnp.broadcast_to(mask, (N, 4)),
    )
    freq = _frequencies(draws, 4)
    # Renormalised over legal actions: [0.1, 0.2, 0.4] / 0.7.
    np.testing.assert_allclose(freq, [1 / 7, 2 / 7, 0.0, 4 / 7], atol=0.01)
    assert freq[2] == 0.0


def test_softmax_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        rlb.softmax(0.0)


# --- masks and shapes, all distributions --------------------------------------------

_DISTS = {
    "greedy": (rlb.greedy, ()),
    "epsilon_greedy": (lambda: rlb.epsilon_greedy(0.1), ()),
    "softmax": (rlb.softmax, ()),
}


@pytest.mark.parametrize("name", sorted(_DISTS))
def test_all_false_concrete_mask_raises(name, variant):
    dist = _DISTS[name][0]()
    empty = np.array([[True, False, False, False], [False] * 4])
    fn = variant(lambda q: dist.probs(q, legal_actions_mask=empty))  # a constant
    with pytest.raises(ValueError, match=r"allows no action at index \[\(1,\)\]"):
        fn(jnp.stack([Q, Q]))
    with pytest.raises(ValueError, match="allows no action"):
        dist.sample(jax.random.key(0), Q, legal_actions_mask=jnp.zeros(4, bool))


@pytest.mark.parametrize("name", sorted(_DISTS))
def test_all_false_traced_mask_falls_back_to_unmasked(name):
    # A traced mask cannot be checked at trace time; the empty row is treated as
    # all-legal, so probabilities stay finite and sum to 1 (never NaN).
    dist = _DISTS[name][0]()
    masks = jnp.array([[False] * 4, [True, False, False, True]])
    prefs = jnp.stack([Q, Q])
    probs = jax.jit(lambda q, m: dist.probs(q, legal_actions_mask=m))(prefs, masks)
    np.testing.assert_allclose(probs[0], dist.probs(Q), rtol=1e-6)
    assert np.all(np.isfinite(probs)) and probs[1, 1] == probs[1, 2] == 0
    np.testing.assert_allclose(probs.sum(-1), [1, 1], rtol=1e-6)
    ent = jax.jit(lambda q, m: dist.entropy(q, legal_actions_mask=m))(prefs, masks)
    assert np.all(np.isfinite(ent))


@pytest.mark.parametrize("name", sorted(_DISTS))
def test_bad_shapes_raise(name):
    dist = _DISTS[name][0]()
    with pytest.raises(ValueError, match=r"legal_actions_mask must have the shape"):
        dist.probs(Q, legal_actions_mask=jnp.ones(3, bool))
    with pytest.raises(ValueError, match=r"preferences must have rank >= 1"):
        dist.probs(jnp.asarray(1.0))
    with pytest.raises(ValueError, match="sample must have an integer dtype"):
        dist.logprob(jnp.asarray(1.0), Q)
    with pytest.raises(
        ValueError, match=r"sample must have rank 0 \(\[\]\), got shape \(2,\)"
    ):
        dist.logprob(jnp.array([0, 1]), Q)


# --- action noise -------------------------------------------------------------------


def test_gaussian_noise_statistics(variant):
    action = jnp.array([0.5, -1.0, 2.0])
    keys = jax.random.split(jax.random.key(5), 20_000)
    noisy = variant(jax.vmap(rlb.add_gaussian_noise, in_axes=(0, None, None)))(
        keys, action, 0.3
    )
    assert noisy.shape == (20_000, 3)
    # Mean within 4 sd (0.3 / sqrt(20000) = 0.0021) and std within 2%.
    np.testing.assert_allclose(noisy.mean(0), action, atol=0.0085)
    np.testing.assert_allclose(noisy.std(0), [0.3] * 3, rtol=0.02)
    zero = rlb.add_gaussian_noise(jax.random.key(0), action, 0.0)
    np.testing.assert_array_equal(zero, action)


def test_ornstein_uhlenbeck_noise(variant):
    action = jnp.array([1.0, -1.0])
    noise_tm1 = jnp.array([0.4, 0.2])
    fn = variant(rlb.add_ornstein_uhlenbeck_noise)
    # With stddev 0: a + (1 - 0.25) n = [1 + 0.3, -1 + 0.15].
    np.testing.assert_allclose(
        fn(jax.random.key(0), action, noise_tm1, 0.25, 0.0), [1.3, -0.85], rtol=1e-6
    )
    keys = jax.random.split(jax.random.key(6), 20_000)
    out = jax.vmap(fn, in_axes=(0, None, None, None, None))(
        keys, action, noise_tm1, 0.25, 0.5
    )
    fresh = out - (action + 0.75 * noise_tm1)  # the innovation sigma * xi
    np.testing.assert_allclose(fresh.mean(0), [0, 0], atol=0.015)
    np.testing.assert_allclose(fresh.std(0), [0.5, 0.5], rtol=0.02)
    with pytest.raises(ValueError, match="noise_tm1 must have shape"):
        rlb.add_ornstein_uhlenbeck_noise(
            jax.random.key(0), action, jnp.ones(3), 0.1, 1.0
        )
    with pytest.raises(ValueError, match="damping"):
        rlb.add_ornstein_uhlenbeck_noise(jax.random.key(0), action, noise_tm1, 1.5, 1.0)


def test_dirichlet_noise():
    # Rows 0..3999 share one prior; one compilation serves every call below.
    prior = jnp.tile(jnp.array([[0.7, 0.2, 0.1], [1.0, 0.0, 0.0]]), (2000, 1))
    fn = jax.jit(rlb.add_dirichlet_noise)
    out = fn(jax.random.key(7), prior, 0.3, 0.25)
    np.testing.assert_allclose(out.sum(-1), np.ones(4000), rtol=1e-5)
    # Every entry is at least (1 - 0.25) of the prior.
    assert np.all(np.asarray(out) >= 0.75 * np.asarray(prior) - 1e-7)
    np.testing.assert_array_equal(fn(jax.random.key(7), prior, 0.3, 0.0), prior)
    # Symmetric Dirichlet noise has mean 1/3: over 4000 draws of fraction 1 the mean
    # of each entry is 1/3 (sd of a Dir(0.3) entry 0.35 / sqrt(4000) = 0.0055).
    noise = fn(jax.random.key(8), prior, 0.3, 1.0)
    np.testing.assert_allclose(noise.mean(0), [1 / 3] * 3, atol=0.025)
    # The noise actually moved the prior (not a no-op).
    assert float(jnp.abs(out - prior).max()) > 0.01
    prior = prior[:2]
    with pytest.raises(ValueError, match="prior must have rank 2"):
        rlb.add_dirichlet_noise(jax.random.key(0), prior[0], 0.3, 0.25)
    with pytest.raises(ValueError, match="dirichlet_fraction"):
        rlb.add_dirichlet_noise(jax.random.key(0), prior, 0.3, 1.25)
    with pytest.raises(ValueError, match="dirichlet_alpha"):
        rlb.add_dirichlet_noise(jax.random.key(0), prior, 0.0, 0.25)


# --- drop-in compatibility with rlax ------------------------------------------------
# Marked slow (excluded from `make test`) and skipped unless rlax is installed (the
# `bench` extra): `pytest -m slow -k rlax tests/`.


def _import_rlax():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("rlax")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_same_distributions_and_noise_as_rlax():
    rlax = _import_rlax()
    rng = np.random.default_rng(9)
    prefs = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    prefs = prefs.at[0, 1].set(prefs[0].max())  # a tie
    actions = jnp.asarray(rng.integers(0, 4, size=5))
    pairs = [
        (rlb.greedy(), rlax.greedy(), ()),
        (rlb.epsilon_greedy(0.3), rlax.epsilon_greedy(0.3), ()),
        (rlb.epsilon_greedy(), rlax.epsilon_greedy(), (0.05,)),
        (rlb.softmax(0.7), rlax.softmax(0.7), ()),
    ]
    for ours, theirs, extra in pairs:
        np.testing.assert_allclose(
            ours.probs(prefs, *extra), theirs.probs(prefs, *extra), rtol=1e-6
        )
        np.testing.assert_allclose(
            ours.logprob(actions, prefs, *extra),
            theirs.logprob(actions, prefs, *extra),
            rtol=1e-6,
        )
        np.testing.assert_allclose(
            ours.entropy(prefs, *extra), theirs.entropy(prefs, *extra), rtol=1e-6
        )
    key = jax.random.key(0)
    action, noise = prefs[0], jnp.abs(prefs[1])
    np.testing.assert_allclose(
        rlb.add_gaussian_noise(key, action, 0.3),
        rlax.add_gaussian_noise(key, action, 0.3),
    )
    np.testing.assert_allclose(
        rlb.add_ornstein_uhlenbeck_noise(key, action, noise, 0.15, 0.2),
        rlax.add_ornstein_uhlenbeck_noise(key, action, noise, 0.15, 0.2),
        rtol=1e-6,
    )
    prior = jax.nn.softmax(prefs)
    np.testing.assert_allclose(
        rlb.add_dirichlet_noise(key, prior, 0.3, 0.25),
        rlax.add_dirichlet_noise(key, prior, 0.3, 0.25),
        rtol=1e-6,
    )

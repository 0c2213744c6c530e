"""Transformed (non-linear Bellman) returns and TD errors against numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlblocks as rlb
from tests import reference as ref


def f32(x):  # numpy inputs: no eager device ops (and compiles) in the tests
    return np.asarray(x, dtype=np.float32)


def i32(x):
    return np.asarray(x, dtype=np.int32)


# Each pair with its float64 numpy twin, used to build the reference targets.
PAIRS = {
    "identity": (rlb.IDENTITY_PAIR, lambda x: x, lambda x: x),
    "signed_hyperbolic": (rlb.SIGNED_HYPERBOLIC_PAIR, ref.h, ref.h_inv),
}
T, A = 6, 3


def _trajectory(seed):
    rng = np.random.default_rng(seed)
    return dict(
        r_t=rng.normal(size=T) * 3,
        discount_t=rng.uniform(0.0, 1.0, size=T) * (rng.uniform(size=T) > 0.2),
        v_t=rng.normal(size=T) * 2,
        lambda_=rng.uniform(size=T),
        q_tm1=rng.normal(size=(T, A)),
        q_t=rng.normal(size=(T, A)),
        a_tm1=rng.integers(0, A, size=T),
        a_t=rng.integers(0, A, size=T),
        pi_t=rng.dirichlet(np.ones(A), size=T),
        mu_t=rng.uniform(0.1, 1.0, size=T),
    )


def _np(f, x):
    return np.array([f(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


# --- hand-computed -------------------------------------------------------------------


def test_lambda_and_n_step_hand_values(variant):
    r, d, v = f32([1.0, 2.0]), f32([0.5, 0.5]), f32([10.0, 20.0])
    lam = variant(lambda *x: rlb.transformed_lambda_returns(rlb.IDENTITY_PAIR, *x))
    # G₁ = 2 + 0.5·20 = 12; G₀ = 1 + 0.5·(0.5·10 + 0.5·12) = 6.5
    np.testing.assert_allclose(lam(r, d, v, 0.5), [6.5, 12.0], rtol=1e-6)
    n_step = variant(
        lambda *x: rlb.transformed_n_step_returns(rlb.IDENTITY_PAIR, *x, n=2)
    )
    # G₀ = 1 + 0.5·(2 + 0.5·20) = 7; G₁ = 2 + 0.5·20 = 12 (window cut at the end)
    np.testing.assert_allclose(n_step(r, d, v), [7.0, 12.0], rtol=1e-6)


def test_retrace_hand_values(variant):
    # T = 2, A = 2. q_t = [[1, 3], [2, 4]], π = [[½, ½], [1, 0]], a_t = [1, 0],
    # μ = [1, 1], λ = 1: c = min(1, π(aₜ)/μ) = [½, 1].
    # G₁ = r₁ + γ E_π q₁ = 1 + 1·2 = 3
    # G₀ = r₀ + γ (E_π q₀ − c₀ q₀(a=1) + c₀ G₁) = 0 + 1·(2 − ½·3 + ½·3) = 2
    # errors: G − q_tm1(a_tm1) = [2 − 0.5, 3 − 1] = [1.5, 2]
    fn = variant(rlb.transformed_retrace)
    out = fn(
        f32([[0.5, 0.0], [0.0, 1.0]]),
        f32([[1.0, 3.0], [2.0, 4.0]]),
        i32([0, 1]),
        i32([1, 0]),
        f32([0.0, 1.0]),
        f32([1.0, 1.0]),
        f32([[0.5, 0.5], [1.0, 0.0]]),
        f32([1.0, 1.0]),
        1.0,
    )
    np.testing.assert_allclose(out, [1.5, 2.0], rtol=1e-6)


def test_signed_hyperbolic_targets_hand_value():
    # one step: G̃ = h(r + γ h⁻¹(ṽ)) with ṽ = h(3) = 1.003, r = 1, γ = 1:
    # G = 1 + 3 = 4, G̃ = h(4) = √5 − 1 + 0.004 = 1.240068
    out = rlb.transformed_lambda_returns(
        rlb.SIGNED_HYPERBOLIC_PAIR, f32([1.0]), f32([1.0]), f32([1.003]), 1.0
    )
    np.testing.assert_allclose(out, [5**0.5 - 1 + 0.004], rtol=1e-5)


# --- against numpy references ------------------------------------------------------


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_lambda_returns_match_reference(pair):
    tx, fwd, inv = PAIRS[pair]
    fn = jax.jit(lambda *x: rlb.transformed_lambda_returns(tx, *x))
    for seed in range(3):
        x = _trajectory(seed)
        v_tilde = _np(fwd, x["v_t"])
        for lam in (x["lambda_"], 0.7):
            got = fn(f32(x["r_t"]), f32(x["discount_t"]), f32(v_tilde), f32(lam))
            plain = ref.lambda_returns(
                x["r_t"], x["discount_t"], _np(inv, v_tilde), lam
            )
            np.testing.assert_allclose(got, _np(fwd, plain), rtol=2e-5, atol=2e-5)


def test_lambda_recursion_equals_explicit_mixture():
    x = _trajectory(4)
    got = rlb.transformed_lambda_returns(
        rlb.IDENTITY_PAIR, f32(x["r_t"]), f32(x["discount_t"]), f32(x["v_t"]), 0.6
    )
    want = ref.lambda_returns_mixture(x["r_t"], x["discount_t"], x["v_t"], 0.6)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    ("pair", "n"), [("identity", 1), ("identity", T + 2), ("signed_hyperbolic", 3)]
)
def test_n_step_returns_match_reference(pair, n):
    tx, fwd, inv = PAIRS[pair]
    fn = jax.jit(lambda *x: rlb.transformed_n_step_returns(tx, *x[:3], n, x[3]))
    x = _trajectory(n)
    v_tilde = _np(fwd, x["v_t"])
    for lam in (1.0, x["lambda_"]):
        got = fn(f32(x["r_t"]), f32(x["discount_t"]), f32(v_tilde), f32(lam))
        plain = ref.n_step_returns(x["r_t"], x["discount_t"], _np(inv, v_tilde), n, lam)
        np.testing.assert_allclose(got, _np(fwd, plain), rtol=2e-5, atol=2e-5)
    if pair == "identity":  # λ = 1: the explicit discounted sum of n rewards
        got = fn(f32(x["r_t"]), f32(x["discount_t"]), f32(x["v_t"]), f32(1.0))
        for t in range(T):
            k = min(n, T - t)
            want = ref.n_step_return(x["r_t"], x["discount_t"], x["v_t"], t, k)
            np.testing.assert_allclose(got[t], want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_retrace_and_off_policy_returns_match_reference(pair):
    tx, fwd, inv = PAIRS[pair]
    retrace = jax.jit(lambda *x: rlb.transformed_retrace(*x, lambda_=0.9, tx_pair=tx))
    returns = jax.jit(
        lambda *x: rlb.transformed_general_off_policy_returns_from_action_values(tx, *x)
    )
    for seed in range(3):
        x = _trajectory(seed)
        q_tilde = _np(fwd, x["q_t"])
        pi_a = x["pi_t"][np.arange(T), x["a_t"]]
        c = 0.9 * np.minimum(1.0, pi_a / (x["mu_t"] + 1e-8))
        plain = ref.off_policy_returns(
            _np(inv, q_tilde), x["a_t"], x["r_t"], x["discount_t"], c, x["pi_t"]
        )
        target = _np(fwd, plain)
        args = (f32(q_tilde), i32(x["a_t"]), f32(x["r_t"]))
        got = returns(*args, f32(x["discount_t"]), f32(c), f32(x["pi_t"]))
        np.testing.assert_allclose(got, target, rtol=2e-5, atol=2e-5)
        got = retrace(
            f32(x["q_tm1"]), f32(q_tilde), i32(x["a_tm1"]),
            i32(x["a_t"]), f32(x["r_t"]), f32(x["discount_t"]),
            f32(x["pi_t"]), f32(x["mu_t"]),
        )  # fmt: skip
        q_a = x["q_tm1"][np.arange(T), x["a_tm1"]]
        np.testing.assert_allclose(got, target - q_a, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_q_lambda_and_n_step_q_learning_match_reference(pair):
    tx, fwd, inv = PAIRS[pair]
    x = _trajectory(7)
    q_tilde, q_tm1 = _np(fwd, x["q_t"]), x["q_tm1"]
    q_a = q_tm1[np.arange(T), x["a_tm1"]]
    got = jax.jit(lambda *a: rlb.transformed_q_lambda(*a, tx_pair=tx))(
        f32(q_tm1), i32(x["a_tm1"]), f32(x["r_t"]), f32(x["discount_t"]),
        f32(q_tilde), f32(x["lambda_"]),
    )  # fmt: skip
    v = _np(inv, q_tilde.max(axis=1))
    plain = ref.lambda_returns(x["r_t"], x["discount_t"], v, x["lambda_"])
    np.testing.assert_allclose(got, _np(fwd, plain) - q_a, rtol=2e-5, atol=2e-5)
    got = jax.jit(lambda *a: rlb.transformed_n_step_q_learning(*a, 3, tx_pair=tx))(
        f32(q_tm1), i32(x["a_tm1"]), f32(q_tilde), i32(x["a_t"]),
        f32(x["r_t"]), f32(x["discount_t"]),
    )  # fmt: skip
    v = _np(inv, q_tilde[np.arange(T), x["a_t"]])
    plain = ref.n_step_returns(x["r_t"], x["discount_t"], v, 3)
    np.testing.assert_allclose(got, _np(fwd, plain) - q_a, rtol=2e-5, atol=2e-5)


def test_muzero_pair_targets_are_encoded_returns():
    # values held as 2-hot probabilities over h-space: the target decodes to the
    # plain λ-return of the decoded values
    pair = rlb.muzero_pair(-10.0, 10.0, 81, rlb.SIGNED_HYPERBOLIC_PAIR)
    x = _trajectory(2)

    @jax.jit
    def target(r_t, discount_t, v_t):
        probs = pair.apply(v_t)
        out = rlb.transformed_lambda_returns(pair, r_t, discount_t, probs, 0.8)
        return out, pair.apply_inv(out)

    out, decoded = target(f32(x["r_t"]), f32(x["discount_t"]), f32(x["v_t"]))
    assert out.shape == (T, 81)
    plain = ref.lambda_returns(x["r_t"], x["discount_t"], x["v_t"], 0.8)
    np.testing.assert_allclose(decoded, plain, rtol=1e-4, atol=1e-4)


# --- vmap, gradients, errors ----------------------------------------------------------


def test_vmap_equals_loop():
    xs = [_trajectory(s) for s in range(3)]
    keys = ("q_tm1", "q_t", "a_tm1", "a_t", "r_t", "discount_t", "pi_t", "mu_t")
    batch = [np.stack([x[k] for x in xs]) for k in keys]
    batch = [f32(b) if b.dtype.kind == "f" else i32(b) for b in batch]
    fn = jax.jit(
        lambda *a: rlb.transformed_retrace(*a, 0.9, tx_pair=rlb.SIGNED_HYPERBOLIC_PAIR)
    )
    batched = jax.vmap(fn)(*batch)
    loop = np.stack([fn(*[b[i] for b in batch]) for i in range(3)])
    np.testing.assert_allclose(batched, loop, rtol=1e-6, atol=1e-6)


def test_gradients_stop_at_targets():
    x = _trajectory(1)
    tx = rlb.SIGNED_HYPERBOLIC_PAIR

    def loss(q_tm1, q_t, stop):
        td = rlb.transformed_q_lambda(
            q_tm1, i32(x["a_tm1"]), f32(x["r_t"]), f32(x["discount_t"]),
            q_t, 0.8, stop_target_gradients=stop, tx_pair=tx,
        )  # fmt: skip
        return jnp.sum(td)

    grad = jax.jit(jax.grad(loss, (0, 1)), static_argnums=2)
    g_tm1, g_t = grad(f32(x["q_tm1"]), f32(x["q_t"]), True)
    assert not np.any(g_t)
    want = -np.eye(A)[x["a_tm1"]]  # ∂(G − q(a))/∂q = −1 at the taken actions
    np.testing.assert_array_equal(g_tm1, want)
    _, g_t = grad(f32(x["q_tm1"]), f32(x["q_t"]), False)
    assert np.any(g_t) and np.all(np.isfinite(g_t))


def test_bad_shapes_raise():
    r, d, v = f32(np.ones(4)), f32(np.ones(4)), f32(np.ones(4))
    tx = rlb.IDENTITY_PAIR
    with pytest.raises(ValueError, match="discount_t"):
        rlb.transformed_lambda_returns(tx, r, f32(np.ones(5)), v)
    with pytest.raises(ValueError, match="lambda_"):
        rlb.transformed_lambda_returns(tx, r, d, v, f32(np.ones(3)))
    with pytest.raises(ValueError, match="v_t"):
        rlb.transformed_n_step_returns(tx, r, d, f32(np.ones((4, 2))), 2)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        rlb.transformed_n_step_returns(tx, r, d, v, 0)
    q, a = f32(np.ones((4, 3))), i32(np.zeros(4))
    for lam in (f32(np.ones(1)), f32(np.ones(5))):  # [1] would broadcast: refused
        with pytest.raises(ValueError, match=r"lambda_ must have shape \[T\] with T=4"):
            rlb.transformed_retrace(q, q, a, a, r, d, q / 3, f32(np.ones(4)), lam)
    q, a = f32(np.ones((4, 2))), i32(np.zeros(4))
    with pytest.raises(ValueError, match="a_t must have an integer dtype"):
        rlb.transformed_retrace(q, q, a, f32(np.zeros(4)), r, d, q, r, 1.0)
    with pytest.raises(ValueError, match="pi_t"):
        rlb.transformed_retrace(q, q, a, a, r, d, f32(np.ones((4, 3))), r, 1.0)
    with pytest.raises(ValueError, match="target_q_t"):
        rlb.transformed_n_step_q_learning(q, a, f32(np.ones((4, 3))), a, r, d, 2)


def test_returns_stop_gradients_by_default():
    # Like every return in the library (docs/conventions.md), the transformed
    # returns are stop-gradiented unless stop_target_gradients=False: the default
    # gives a zero gradient, the flag off a nonzero one (every G bootstraps from
    # some v, e.g. G_{T-1} = r + 0.9 v_{T-1} with the identity pair).
    r, d, v = f32(np.ones(4)), f32(np.full(4, 0.9)), f32(np.arange(4.0))
    tx = rlb.IDENTITY_PAIR
    q = f32(np.ones((4, 2)))
    calls = {
        "lambda": lambda v, **k: rlb.transformed_lambda_returns(tx, r, d, v, **k),
        "n_step": lambda v, **k: rlb.transformed_n_step_returns(tx, r, d, v, 2, **k),
        "off_policy": lambda v, **k: (
            rlb.transformed_general_off_policy_returns_from_action_values(
                tx, q * v[:, None], i32(np.zeros(4)), r, d, f32(np.ones(4)), q / 2, **k
            )
        ),
    }
    for name, fn in calls.items():
        stopped = jax.grad(lambda v: jnp.sum(fn(v)))(v)  # noqa: B023
        np.testing.assert_array_equal(stopped, np.zeros(4), err_msg=name)
        flowing = jax.grad(
            lambda v: jnp.sum(fn(v, stop_target_gradients=False))  # noqa: B023
        )(v)
        assert np.all(np.isfinite(flowing)) and np.any(flowing != 0), name

"""Policy-gradient, entropy, PPO, DPG, all-action and actor-critic losses."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlblocks as rlb
from tests import reference

LN3 = float(np.log(3.0))
# Two steps of a 2-action softmax policy: pi_0 = [0.5, 0.5], pi_1 = [0.75, 0.25].
LOGITS = jnp.array([[0.0, 0.0], [LN3, 0.0]])
H0 = np.log(2.0)  # 0.693147
H1 = 0.75 * -np.log(0.75) + 0.25 * -np.log(0.25)  # 0.215762 + 0.346574 = 0.562335


def _rng(seed):
    """Inputs come from numpy (no XLA compilation for random inputs)."""
    return np.random.default_rng(seed)


def _f32(x):
    return jnp.asarray(x, jnp.float32)


def _grad(fn, *args, argnums=0):
    return jax.jit(jax.grad(fn, argnums=argnums))(*args)


# --- policy_gradient_loss and entropy_loss --------------------------------------


def test_policy_gradient_loss_hand_values(variant):
    a, adv, w = jnp.array([0, 0]), jnp.array([2.0, -1.0]), jnp.array([1.0, 0.5])
    loss = variant(rlb.policy_gradient_loss)(LOGITS, a, adv, w)
    # log pi = [ln 0.5, ln 0.75] = [-0.693147, -0.287682]
    # mean(-log pi * adv * w) = (0.693147 * 2 * 1 - 0.287682 * 1 * 0.5) / 2 = 0.621227
    np.testing.assert_allclose(loss, 0.621227, rtol=1e-5)
    # d/dlogits = (1/T) w adv (pi - onehot(a)):
    # t0: 0.5 * 2 * ([0.5, 0.5] - [1, 0]) = [-0.5, 0.5]
    # t1: 0.5 * 0.5 * -1 * ([0.75, 0.25] - [1, 0]) = [0.0625, -0.0625]
    g = _grad(rlb.policy_gradient_loss, LOGITS, a, adv, w)
    np.testing.assert_allclose(g, [[-0.5, 0.5], [0.0625, -0.0625]], rtol=1e-5)


def test_policy_gradient_loss_stop_gradient_on_advantages():
    a, adv, w = jnp.array([0, 1]), jnp.array([2.0, -1.0]), jnp.array([1.0, 0.5])
    g_stop = _grad(rlb.policy_gradient_loss, LOGITS, a, adv, w, argnums=2)
    np.testing.assert_array_equal(g_stop, [0.0, 0.0])

    def no_stop(adv):
        return rlb.policy_gradient_loss(LOGITS, a, adv, w, use_stop_gradient=False)

    # d/dadv_t = -(1/T) w_t log pi(a_t) = [-0.5 ln 0.5, -0.25 ln 0.25]
    np.testing.assert_allclose(
        _grad(no_stop, adv), [0.5 * H0, 0.25 * np.log(4.0)], rtol=1e-5
    )


def test_entropy_loss_is_negative_entropy(variant):
    loss = variant(rlb.entropy_loss)(LOGITS, jnp.array([1.0, 1.0]))
    # -(H0 + H1) / 2 = -(0.693147 + 0.562335) / 2 = -0.627741: NEGATIVE.
    np.testing.assert_allclose(loss, -0.627741, rtol=1e-5)
    assert loss < 0
    # Weights: -(2 * H0 + 0 * H1) / 2 = -0.693147.
    loss = variant(rlb.entropy_loss)(LOGITS, jnp.array([2.0, 0.0]))
    np.testing.assert_allclose(loss, -H0, rtol=1e-6)


def test_entropy_loss_gradient_pushes_towards_uniform():
    w = jnp.ones(2)
    g = _grad(rlb.entropy_loss, LOGITS, w)

    def direct(x):  # -(1/T) sum_t w_t H_t written out
        p = jax.nn.softmax(x)
        return jnp.mean(jnp.sum(p * jnp.log(p), axis=-1) * w)

    np.testing.assert_allclose(g, _grad(direct, LOGITS), rtol=1e-5, atol=1e-7)
    # Uniform step: zero gradient. Peaked step: gradient descent lowers logit 0.
    np.testing.assert_allclose(g[0], [0, 0], atol=1e-7)
    assert g[1, 0] > 0 > g[1, 1]


# --- clipped surrogate ----------------------------------------------------------


def test_clipped_surrogate_hand_values(variant):
    ratios = jnp.array([0.5, 1.1, 1.5, 1.5])
    adv = jnp.array([1.0, 1.0, 1.0, -1.0])
    loss = variant(rlb.clipped_surrogate_pg_loss)(ratios, adv, 0.2)
    # min(r A, clip(r, 0.8, 1.2) A): min(0.5, 0.8) = 0.5; min(1.1, 1.1) = 1.1;
    # min(1.5, 1.2) = 1.2; min(-1.5, -1.2) = -1.5. -(0.5+1.1+1.2-1.5)/4 = -0.325
    np.testing.assert_allclose(loss, -0.325, rtol=1e-6)
    # Gradient wrt ratios: -A/4 where the unclipped term is the min, else 0.
    g = _grad(rlb.clipped_surrogate_pg_loss, ratios, adv, 0.2)
    np.testing.assert_allclose(g, [-0.25, -0.25, 0.0, 0.25], rtol=1e-6)
    # No gradient into advantages by default.
    g_adv = _grad(rlb.clipped_surrogate_pg_loss, ratios, adv, 0.2, argnums=1)
    np.testing.assert_array_equal(g_adv, [0, 0, 0, 0])


def test_clipped_surrogate_matches_reference_and_direct_gradient():
    rng = _rng(0)
    ratios = _f32(np.exp(0.3 * rng.normal(size=16)))
    adv = _f32(rng.normal(size=16))
    loss = jax.jit(rlb.clipped_surrogate_pg_loss)(ratios, adv, 0.1)
    want = reference.np_clipped_surrogate_loss(
        np.asarray(ratios, np.float64), np.asarray(adv, np.float64), 0.1
    )
    np.testing.assert_allclose(loss, want, rtol=1e-5)

    def direct(r):
        return -jnp.mean(jnp.minimum(r * adv, jnp.clip(r, 0.9, 1.1) * adv))

    np.testing.assert_allclose(
        _grad(rlb.clipped_surrogate_pg_loss, ratios, adv, 0.1),
        _grad(direct, ratios),
        rtol=1e-6,
    )


# --- DPG ------------------------------------------------------------------------


def test_dpg_loss_hand_values(variant):
    a, dqda = jnp.array([1.0, 2.0]), jnp.array([3.0, -4.0])
    # target = sg(a + dqda) so loss = 0.5 dqda^2 = [4.5, 8]; d/da = -dqda = [-3, 4].
    np.testing.assert_allclose(variant(rlb.dpg_loss)(a, dqda), [4.5, 8.0])
    g = _grad(lambda x: jnp.sum(rlb.dpg_loss(x, dqda)), a)
    np.testing.assert_allclose(g, [-3.0, 4.0])
    # Clipping to norm 2.5: ||dqda|| = 5, scaled by 0.5 to [1.5, -2]:
    # loss [1.125, 2.0].
    clipped = variant(rlb.dpg_loss, static_argnums=2)(a, dqda, 2.5)
    np.testing.assert_allclose(clipped, [1.125, 2.0], rtol=1e-6)
    # Without the stop-gradient, a cancels in (a + dqda) - a: zero gradient into a.
    g = _grad(lambda x: jnp.sum(rlb.dpg_loss(x, dqda, None, False)), a)
    np.testing.assert_allclose(g, [0.0, 0.0])


def test_dpg_clipping_with_zero_gradient_is_finite():
    g = _grad(lambda d: jnp.sum(rlb.dpg_loss(jnp.ones(2), d, 1.0, False)), jnp.zeros(2))
    assert np.all(np.isfinite(g))


# --- QPG, RM, RPG --------------------------------------------------------------

# pi = softmax([0, ln 3]) = [0.25, 0.75]; q = [1, 2]; baseline 0.25 + 1.5 = 1.75;
# advantages [-0.75, 0.25].
PI_LOGITS = jnp.array([[0.0, LN3]])
Q_T = jnp.array([[1.0, 2.0]])


def test_qpg_loss_hand_values(variant):
    # sum_a pi(a) A(a) = -0.1875 + 0.1875 = 0: the loss value is always 0 ...
    np.testing.assert_allclose(variant(rlb.qpg_loss)(PI_LOGITS, Q_T), 0.0, atol=1e-6)
    # ... but its gradient is d/dlogit_b -sum_a pi_a sg(A_a) = -pi_b (A_b - 0)
    # = [-0.25 * -0.75, -0.75 * 0.25] = [0.1875, -0.1875].
    g = _grad(rlb.qpg_loss, PI_LOGITS, Q_T)
    np.testing.assert_allclose(g, [[0.1875, -0.1875]], rtol=1e-6)
    np.testing.assert_array_equal(_grad(rlb.qpg_loss, PI_LOGITS, Q_T, argnums=1), 0)


def test_rm_loss_hand_values(variant):
    # regrets relu(A) = [0, 0.25]; loss = -(0.75 * 0.25) = -0.1875.
    np.testing.assert_allclose(variant(rlb.rm_loss)(PI_LOGITS, Q_T), -0.1875, rtol=1e-6)
    # d/dlogit_b = -pi_b (r_b - sum pi r) = [-0.25 (0 - 0.1875), -0.75 (0.25 - 0.1875)]
    g = _grad(rlb.rm_loss, PI_LOGITS, Q_T)
    np.testing.assert_allclose(g, [[0.046875, -0.046875]], rtol=1e-6)


def test_rpg_loss_hand_values(variant):
    # sum_a relu(A_a) = 0.25.
    np.testing.assert_allclose(variant(rlb.rpg_loss)(PI_LOGITS, Q_T), 0.25, rtol=1e-6)
    # Only A_1 is active: dA_1/dlogit_b = -pi_b A_b = [0.1875, -0.1875].
    g = _grad(rlb.rpg_loss, PI_LOGITS, Q_T)
    np.testing.assert_allclose(g, [[0.1875, -0.1875]], rtol=1e-6)
    np.testing.assert_array_equal(_grad(rlb.rpg_loss, PI_LOGITS, Q_T, argnums=1), 0)
    # Without stop-gradient: dA_1/dq_c = delta_1c - pi_c = [-0.25, 0.25].
    g_q = _grad(lambda q: rlb.rpg_loss(PI_LOGITS, q, False), Q_T)
    np.testing.assert_allclose(g_q, [[-0.25, 0.25]], rtol=1e-6)


def test_all_action_losses_match_reference_and_direct_gradients():
    rng = _rng(1)
    logits, q = _f32(rng.normal(size=(6, 4))), _f32(rng.normal(size=(6, 4)))
    want = reference.np_all_action_losses(
        np.asarray(logits, np.float64), np.asarray(q, np.float64)
    )
    fns = (rlb.qpg_loss, rlb.rm_loss, rlb.rpg_loss)

    def adv(x):
        p = jax.nn.softmax(x)
        return p, q - jnp.sum(p * q, -1, keepdims=True)

    def qpg(x):
        p, a = adv(x)
        return -jnp.mean(jnp.sum(p * jax.lax.stop_gradient(a), -1))

    def rm(x):
        p, a = adv(x)
        return -jnp.mean(jnp.sum(p * jax.lax.stop_gradient(jax.nn.relu(a)), -1))

    def rpg(x):
        return jnp.mean(jnp.sum(jax.nn.relu(adv(x)[1]), -1))

    @jax.jit
    def everything(x):  # one compilation for all values and gradients
        values = [fn(x, q) for fn in fns]
        grads = [jax.grad(fn)(x, q) for fn in fns]
        return values, grads, [jax.grad(d)(x) for d in (qpg, rm, rpg)]

    values, grads, direct_grads = everything(logits)
    np.testing.assert_allclose(values, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads, direct_grads, rtol=1e-5, atol=1e-7)


# --- vmap and shapes, rlax-style losses ---------------------------------------------


def test_vmap_equals_loop_for_sequence_losses():
    rng = _rng(2)
    logits = _f32(rng.normal(size=(3, 5, 4)))
    a = jnp.asarray(rng.integers(0, 4, size=(3, 5)))
    adv = _f32(rng.normal(size=(3, 5)))
    q = _f32(rng.normal(size=(3, 5, 4)))
    w = jnp.ones((3, 5))

    def all_losses(logits, a, adv, q, w):
        return jnp.stack(
            [
                rlb.policy_gradient_loss(logits, a, adv, w),
                rlb.entropy_loss(logits, w),
                rlb.clipped_surrogate_pg_loss(w + 0.5 * adv, adv, 0.2),
                rlb.qpg_loss(logits, q),
                rlb.rm_loss(logits, q),
                rlb.rpg_loss(logits, q),
                jnp.sum(rlb.dpg_loss(adv, w)),
            ]
        )

    args = (logits, a, adv, q, w)
    batched = jax.jit(jax.vmap(all_losses))(*args)
    single = jax.jit(all_losses)
    loop = jnp.stack([single(*(x[i] for x in args)) for i in range(3)])
    np.testing.assert_allclose(batched, loop, rtol=1e-6, atol=1e-7)


def test_policy_gradient_loss_matches_reference():
    rng = _rng(3)
    logits = _f32(rng.normal(size=(7, 3)))
    a = jnp.asarray(rng.integers(0, 3, size=7))
    adv, w = _f32(rng.normal(size=7)), _f32(rng.uniform(size=7))
    want = reference.np_policy_gradient_loss(
        np.asarray(logits, np.float64), np.asarray(a), np.asarray(adv), np.asarray(w)
    )
    got = jax.jit(rlb.policy_gradient_loss)(logits, a, adv, w)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_bad_shapes_and_dtypes_raise():
    a, adv, w = jnp.array([0, 1]), jnp.ones(2), jnp.ones(2)
    with pytest.raises(ValueError, match=r"a_t must have shape \[T\] with T=2"):
        rlb.policy_gradient_loss(LOGITS, jnp.array([0, 1, 1]), adv, w)
    with pytest.raises(ValueError, match="a_t must have an integer dtype"):
        rlb.policy_gradient_loss(LOGITS, adv, adv, w)
    with pytest.raises(ValueError, match=r"logits_t must have rank 2"):
        rlb.policy_gradient_loss(LOGITS[0], a, adv, w)
    with pytest.raises(ValueError, match=r"w_t must have shape"):
        rlb.entropy_loss(LOGITS, jnp.ones(3))
    with pytest.raises(ValueError, match=r"adv_t must have shape"):
        rlb.clipped_surrogate_pg_loss(jnp.ones(3), jnp.ones(2), 0.2)
    with pytest.raises(ValueError, match="epsilon must lie in"):
        rlb.clipped_surrogate_pg_loss(jnp.ones(2), jnp.ones(2), -0.1)
    with pytest.raises(ValueError, match=r"dqda_t must have shape"):
        rlb.dpg_loss(jnp.ones(2), jnp.ones(3))
    with pytest.raises(ValueError, match=r"q_t must have shape \[T, A\] with A=2"):
        rlb.qpg_loss(LOGITS, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="policy_logits must have rank >= 2"):
        rlb.discrete_policy_entropy_loss(jnp.ones(3))


# --- TRFL-style batched losses --------------------------------------------------


def test_discrete_policy_entropy_loss_hand_values(variant):
    loss, extra = variant(rlb.discrete_policy_entropy_loss)(LOGITS)
    # extras.entropy is the POSITIVE entropy [0.693147, 0.562335]; loss its
    # negative mean -0.627741.
    np.testing.assert_allclose(extra.entropy, [H0, H1], rtol=1e-6)
    np.testing.assert_allclose(loss, -0.627741, rtol=1e-5)
    # normalised by ln 2: -0.627741 / 0.693147 = -0.905639, in [-1, 0].
    loss_n, _ = variant(rlb.discrete_policy_entropy_loss, static_argnums=1)(
        LOGITS, True
    )
    np.testing.assert_allclose(loss_n, -0.905639, rtol=1e-5)
    # Agrees with rlax's entropy_loss with unit weights.
    np.testing.assert_allclose(loss, rlb.entropy_loss(LOGITS, jnp.ones(2)), rtol=1e-6)


def test_discrete_policy_entropy_loss_time_major():
    logits = _f32(_rng(4).normal(size=(3, 2, 5)))
    loss, extra = jax.jit(rlb.discrete_policy_entropy_loss)(logits)
    want = [[reference.np_entropy(logits[t, b]) for b in range(2)] for t in range(3)]
    np.testing.assert_allclose(extra.entropy, want, rtol=1e-5)
    np.testing.assert_allclose(loss, -np.mean(want), rtol=1e-5)

    def direct(x):  # mean over T, B of sum_a pi log pi
        p = jax.nn.softmax(x)
        return jnp.mean(jnp.sum(p * jnp.log(p), axis=-1))

    g = _grad(lambda x: rlb.discrete_policy_entropy_loss(x)[0], logits)
    np.testing.assert_allclose(g, _grad(direct, logits), rtol=1e-5, atol=1e-7)


def _a2c_inputs():
    # T=2, B=1, A=2: pi_0 = [0.5, 0.5], pi_1 = [0.75, 0.25].
    return dict(
        policy_logits=LOGITS[:, None, :],
        baseline_values=jnp.array([[1.0], [2.0]]),
        actions=jnp.array([[0], [1]]),
        rewards=jnp.array([[1.0], [0.0]]),
        pcontinues=jnp.array([[0.5], [0.5]]),
        bootstrap_value=jnp.array([6.0]),
    )


def test_sequence_a2c_hand_values(variant):
    fn = variant(
        lambda x: rlb.sequence_advantage_actor_critic_loss(
            **x, entropy_cost=0.1, baseline_cost=0.5
        )
    )
    loss, extra = fn(_a2c_inputs())
    # Returns (lambda = 1): G1 = 0 + 0.5 * 6 = 3; G0 = 1 + 0.5 * 3 = 2.5.
    np.testing.assert_allclose(extra.discounted_returns, [[2.5], [3.0]])
    # Advantages G - V = [1.5, 1.0].
    np.testing.assert_allclose(extra.advantages, [[1.5], [1.0]])
    np.testing.assert_array_equal(extra.td_error, extra.advantages)
    np.testing.assert_array_equal(extra.target, extra.discounted_returns)
    # pg = -(ln 0.5 * 1.5 + ln 0.25 * 1.0) = 1.039721 + 1.386294 = 2.426015
    np.testing.assert_allclose(extra.policy_gradient_loss, [2.426015], rtol=1e-5)
    # baseline = 0.5 * 0.5 * (1.5^2 + 1^2) = 0.25 * 3.25 = 0.8125
    np.testing.assert_allclose(extra.baseline_loss, [0.8125], rtol=1e-6)
    # entropy (positive) = 0.693147 + 0.562335 = 1.255482; entropy_loss = -0.125548
    np.testing.assert_allclose(extra.entropy, [1.255482], rtol=1e-5)
    np.testing.assert_allclose(extra.entropy_loss, [-0.1255482], rtol=1e-5)
    # total = 2.426015 + 0.8125 - 0.125548 = 3.112967
    np.testing.assert_allclose(loss, 3.112967, rtol=1e-5)


def test_sequence_a2c_lambda_and_no_entropy(variant):
    fn = variant(lambda x: rlb.sequence_advantage_actor_critic_loss(**x, lambda_=0.5))
    loss, extra = fn(_a2c_inputs())
    # G1 = 0 + 0.5 * 6 = 3 (after the last step only the bootstrap is left);
    # G0 = 1 + 0.5 * (0.5 * V1 + 0.5 * G1) = 1 + 0.5 * (1 + 1.5) = 2.25.
    np.testing.assert_allclose(extra.discounted_returns, [[2.25], [3.0]])
    np.testing.assert_allclose(extra.entropy_loss, [0.0])
    assert float(extra.entropy[0]) > 0  # reported even without an entropy cost
    # pg = -(ln 0.5 * 1.25 + ln 0.25 * 1) = 0.866434 + 1.386294 = 2.252728;
    # baseline = 0.5 * (1.25^2 + 1^2) = 1.28125; total 3.533978.
    np.testing.assert_allclose(loss, 3.533978, rtol=1e-5)


def test_sequence_a2c_gradients():
    inputs = _a2c_inputs()

    def loss_of(logits, values, rewards, pcont, boot):
        x = dict(inputs, policy_logits=logits, baseline_values=values)
        x.update(rewards=rewards, pcontinues=pcont, bootstrap_value=boot)
        return rlb.sequence_advantage_actor_critic_loss(
            **x, entropy_cost=0.1, baseline_cost=0.5
        )[0]

    args = (
        inputs["policy_logits"],
        inputs["baseline_values"],
        inputs["rewards"],
        inputs["pcontinues"],
        inputs["bootstrap_value"],
    )
    grads = jax.jit(jax.grad(loss_of, argnums=(0, 1, 2, 3, 4)))(*args)
    # dL/dV_t = -baseline_cost * (G_t - V_t) = -0.5 * [1.5, 1.0].
    np.testing.assert_allclose(grads[1], [[-0.75], [-0.5]], rtol=1e-6)
    # No gradient reaches rewards, discounts or the bootstrap value.
    for g in grads[2:]:
        np.testing.assert_array_equal(g, np.zeros_like(g))

    adv = jnp.array([1.5, 1.0])

    def direct(logits):  # -sum_t adv_t log pi(a_t) - 0.1 sum_t H_t, written out
        logp = jax.nn.log_softmax(logits[:, 0])
        ent = -jnp.sum(jnp.exp(logp) * logp, -1)
        return -(logp[0, 0] * adv[0] + logp[1, 1] * adv[1]) - 0.1 * jnp.sum(ent)

    np.testing.assert_allclose(grads[0], _grad(direct, args[0]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("lam", [1.0, 0.7, "array"])
def test_sequence_a2c_matches_reference(lam):
    t_len, batch, num_actions = 5, 3, 4
    rng = _rng(5)
    inputs = dict(
        policy_logits=_f32(rng.normal(size=(t_len, batch, num_actions))),
        baseline_values=_f32(rng.normal(size=(t_len, batch))),
        actions=jnp.asarray(rng.integers(0, num_actions, size=(t_len, batch))),
        rewards=_f32(rng.normal(size=(t_len, batch))),
        pcontinues=_f32(0.9 * (rng.uniform(size=(t_len, batch)) > 0.2)),
        bootstrap_value=_f32(rng.normal(size=batch)),
    )
    if lam == "array":
        lam = _f32(rng.uniform(size=(t_len, batch)))
    loss, extra = jax.jit(
        lambda x, lam: rlb.sequence_advantage_actor_critic_loss(
            **x,
            lambda_=lam,
            entropy_cost=0.01,
            baseline_cost=0.5,
            normalise_entropy=True,
        )
    )(inputs, lam)
    ref = reference.np_sequence_a2c(
        *(np.asarray(inputs[k], np.float64) for k in inputs),
        np.asarray(lam, np.float64),
        0.01,
        0.5,
        True,
    )
    np.testing.assert_allclose(extra.discounted_returns, ref["returns"], rtol=1e-5)
    np.testing.assert_allclose(
        extra.advantages, ref["advantages"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(extra.policy_gradient_loss, ref["pg"], rtol=1e-5)
    np.testing.assert_allclose(extra.baseline_loss, ref["baseline"], rtol=1e-5)
    np.testing.assert_allclose(extra.entropy, ref["entropy"], rtol=1e-5)
    np.testing.assert_allclose(extra.entropy_loss, ref["entropy_loss"], rtol=1e-5)
    total = ref["pg"] + ref["baseline"] + ref["entropy_loss"]
    np.testing.assert_allclose(loss, total.mean(), rtol=1e-5)


def test_sequence_a2c_batch_equals_loop_over_sequences():
    # The loss of a batch is the mean of the losses of its sequences run one by one.
    rng = _rng(7)
    t_len, batch = 4, 3
    inputs = dict(
        policy_logits=_f32(rng.normal(size=(t_len, batch, 2))),
        baseline_values=_f32(rng.normal(size=(t_len, batch))),
        actions=jnp.asarray(rng.integers(0, 2, size=(t_len, batch))),
        rewards=_f32(rng.normal(size=(t_len, batch))),
        pcontinues=_f32(np.full((t_len, batch), 0.9)),
        bootstrap_value=_f32(rng.normal(size=batch)),
    )
    fn = jax.jit(
        lambda x: rlb.sequence_advantage_actor_critic_loss(**x, entropy_cost=0.01)
    )
    loss, extra = fn(inputs)
    singles = []
    for b in range(batch):
        one = {
            k: v[..., b : b + 1, :] if v.ndim == 3 else v[..., b : b + 1]
            for k, v in inputs.items()
        }
        loss_b, extra_b = fn(one)
        np.testing.assert_allclose(
            extra_b.advantages[:, 0], extra.advantages[:, b], rtol=1e-6
        )
        singles.append(float(loss_b))
    np.testing.assert_allclose(loss, np.mean(singles), rtol=1e-6)


def test_sequence_a2c_accepts_integer_rewards_and_discounts():
    # Rewards and discounts may be any number (house convention).
    x = _a2c_inputs()
    as_int = dict(x, rewards=jnp.array([[1], [0]]), pcontinues=jnp.array([[1], [1]]))
    _, extra = rlb.sequence_advantage_actor_critic_loss(**as_int)
    # G1 = 0 + 1 * 6 = 6; G0 = 1 + 1 * 6 = 7.
    np.testing.assert_allclose(extra.discounted_returns, [[7.0], [6.0]])


def test_sequence_a2c_bad_inputs():
    x = _a2c_inputs()
    with pytest.raises(ValueError, match=r"bootstrap_value must have shape \[B\]"):
        rlb.sequence_advantage_actor_critic_loss(**dict(x, bootstrap_value=jnp.ones(2)))
    with pytest.raises(ValueError, match=r"rewards must have shape \[T, B\] with T=2"):
        rlb.sequence_advantage_actor_critic_loss(**dict(x, rewards=jnp.ones((3, 1))))
    with pytest.raises(ValueError, match="actions must have an integer dtype"):
        rlb.sequence_advantage_actor_critic_loss(**dict(x, actions=jnp.zeros((2, 1))))
    with pytest.raises(ValueError, match="lambda_ must be a scalar or have shape"):
        rlb.sequence_advantage_actor_critic_loss(**x, lambda_=jnp.ones(2))
    with pytest.raises(ValueError, match="lambda_ must lie in"):
        rlb.sequence_advantage_actor_critic_loss(**x, lambda_=1.5)
    with pytest.raises(ValueError, match="entropy_cost must lie in"):
        rlb.sequence_advantage_actor_critic_loss(**x, entropy_cost=-1.0)


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
@pytest.mark.parametrize("use_stop_gradient", [True, False])
def test_same_values_and_gradients_as_rlax(use_stop_gradient):
    rlax = _import_rlax()
    rng = _rng(6)
    logits, q = _f32(rng.normal(size=(6, 4))), _f32(rng.normal(size=(6, 4)))
    a = jnp.asarray(rng.integers(0, 4, size=6))
    adv, w = _f32(rng.normal(size=6)), _f32(rng.uniform(size=6))
    ratios, dqda = _f32(np.exp(0.3 * rng.normal(size=6))), _f32(rng.normal(size=6))
    sg = use_stop_gradient
    calls = {
        "policy_gradient_loss": ((logits, a, adv, w, sg), (0, 2)),
        "entropy_loss": ((logits, w), (0,)),
        "clipped_surrogate_pg_loss": ((ratios, adv, 0.2, sg), (0, 1)),
        "qpg_loss": ((logits, q, sg), (0, 1)),
        "rm_loss": ((logits, q, sg), (0, 1)),
        "rpg_loss": ((logits, q, sg), (0, 1)),
        "dpg_loss": ((adv, dqda, 0.5, sg), (0, 1)),
    }
    for name, (args, argnums) in calls.items():
        ours, theirs = getattr(rlb, name), getattr(rlax, name)
        np.testing.assert_allclose(ours(*args), theirs(*args), rtol=1e-6, err_msg=name)

        def total(fn, *x):
            return jnp.sum(fn(*x))

        g_ours = jax.grad(total, argnums=tuple(i + 1 for i in argnums))(ours, *args)
        g_theirs = jax.grad(total, argnums=tuple(i + 1 for i in argnums))(theirs, *args)
        for go, gt in zip(g_ours, g_theirs, strict=True):
            np.testing.assert_allclose(go, gt, rtol=1e-5, atol=1e-7, err_msg=name)

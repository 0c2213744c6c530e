"""Categorical (C51) and quantile (QR-DQN) losses, unbatched and batched."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlblocks as rlb
from tests import reference as ref

LOG2 = math.log(2.0)
NEG = -1e9  # a logit whose softmax probability is exactly 0 in float32


def f32(x):  # numpy inputs: no eager device ops (and compiles) in the tests
    return np.asarray(x, dtype=np.float32)


def i32(x):
    return np.asarray(x, dtype=np.int32)


# --- categorical_l2_project ---------------------------------------------------


def test_l2_project_hand_values(variant):
    # support [0, 1, 2]; atom 0.5 (p .2) -> .1 to 0, .1 to 1; atom -3 clips to 0
    # (p .3) -> .3 to 0; atom 1.75 (p .5) -> .25*.5 = .125 to 1, .75*.5 = .375 to 2.
    out = variant(rlb.categorical_l2_project)(
        f32([0.5, -3.0, 1.75]), f32([0.2, 0.3, 0.5]), f32([0.0, 1.0, 2.0])
    )
    np.testing.assert_allclose(out, [0.4, 0.225, 0.375], atol=1e-6)


@pytest.mark.parametrize(("num_atoms", "num_src"), [(2, 1), (11, 15)])
def test_l2_project_matches_c51_algorithm_1(num_atoms, num_src):
    # 16 random uniform supports at once (vmap): random v_min, v_max, and source
    # atoms r + γz spread well beyond both ends of the support
    rng = np.random.default_rng(num_atoms)
    v_min = rng.uniform(-10, 0, size=16)
    v_max = v_min + rng.uniform(0.5, 20, size=16)
    z_q = np.linspace(v_min, v_max, num_atoms, axis=1)
    z_p = rng.uniform(v_min - 5, v_max + 5, size=(num_src, 16)).T
    probs = rng.dirichlet(np.ones(num_src), size=16)
    out = jax.jit(jax.vmap(rlb.categorical_l2_project))(f32(z_p), f32(probs), f32(z_q))
    for i in range(16):
        want = ref.c51_project(z_p[i], probs[i], v_min[i], v_max[i], num_atoms)
        np.testing.assert_allclose(out[i], want, atol=2e-5)
    np.testing.assert_allclose(jnp.sum(out, axis=1), 1.0, atol=1e-5)


def test_l2_project_on_atoms_and_at_ends_keeps_all_mass():
    z_q = f32([-1.0, 0.0, 1.0])
    # every source atom is exactly on an atom or beyond an end
    project = jax.jit(rlb.categorical_l2_project)
    out = project(f32([-1.0, 0.0, 1.0, 7.0]), f32([0.1] * 4), z_q)
    np.testing.assert_allclose(out, [0.1, 0.1, 0.2], atol=1e-7)


def test_l2_project_nonuniform_support():
    rng = np.random.default_rng(10)
    z_q = np.cumsum(rng.uniform(0.1, 2.0, size=(8, 7)), axis=1) - 5.0
    z_p = rng.uniform(-8, 8, size=(8, 9))
    probs = rng.dirichlet(np.ones(9), size=8)
    inside = np.clip(z_p, z_q[:, :1], z_q[:, -1:])
    project = jax.jit(jax.vmap(rlb.categorical_l2_project))
    out, out_inside = project(f32(np.stack([z_p, inside]).reshape(16, 9)),
                              f32(np.tile(probs, (2, 1))),
                              f32(np.tile(z_q, (2, 1)))).reshape(2, 8, 7)  # fmt: skip
    for i in range(8):
        want = ref.l2_project(z_p[i], probs[i], z_q[i])
        np.testing.assert_allclose(out[i], want, atol=2e-6)
    # the mean is preserved when every source atom lies inside the support
    means = np.einsum("bq,bq->b", out_inside, z_q)
    np.testing.assert_allclose(means, np.einsum("bp,bp->b", probs, inside), atol=2e-5)


def test_l2_project_vmap_equals_loop():
    rng = np.random.default_rng(3)
    z_p, z_q = f32(rng.normal(size=(4, 6)) * 3), f32(np.linspace(-2, 2, 5))
    probs = f32(rng.dirichlet(np.ones(6), size=4))
    project = jax.jit(rlb.categorical_l2_project)
    batched = jax.jit(jax.vmap(project, (0, 0, None)))(z_p, probs, z_q)
    loop = [project(z_p[i], probs[i], z_q) for i in range(4)]
    np.testing.assert_allclose(batched, np.stack(loop), atol=1e-7)


def test_l2_project_bad_shapes():
    with pytest.raises(ValueError, match="probs"):
        rlb.categorical_l2_project(f32([0.0, 1.0]), f32([1.0]), f32([0.0, 1.0]))
    with pytest.raises(ValueError, match="z_q must have rank 1"):
        rlb.categorical_l2_project(f32([0.0]), f32([1.0]), f32([[0.0, 1.0]]))
    # A decreasing target support (v_min > v_max) would give a "distribution" of
    # mass Q: refused when concrete.
    with pytest.raises(ValueError, match="z_q must be increasing"):
        rlb.categorical_l2_project(f32([0.0, 1.0]), f32([0.5, 0.5]), f32([1.0, 0.0]))


def test_cross_entropy_hand_values(variant):
    # labels [1, 0] against uniform logits: −log ½ = log 2
    # labels [½, ½] against softmax [¼, ¾] (logits [0, log 3]):
    # −(½ log ¼ + ½ log ¾) = log 2 + ½ log(4/3)
    labels, logits = (
        f32([[1.0, 0.0], [0.5, 0.5]]),
        f32([[0.0, 0.0], [0.0, math.log(3)]]),
    )
    out = variant(rlb.categorical_cross_entropy)(labels, logits)
    np.testing.assert_allclose(out, [LOG2, LOG2 + 0.5 * math.log(4 / 3)], rtol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        rlb.categorical_cross_entropy(f32([1.0]), f32([0.0, 0.0]))


# --- categorical TD losses ------------------------------------------------------

ATOMS = f32([0.0, 1.0, 2.0])
# time-t logits: action 0 uniform (mean 1), action 1 all mass on atom 2 (mean 2)
LOGITS_T = f32([[0.0, 0.0, 0.0], [NEG, NEG, 0.0]])
# time t−1 logits of action 0: softmax [¼, ½, ¼]
LOGITS_TM1 = f32([[0.0, LOG2, 0.0], [0.0, 0.0, 0.0]])


def test_categorical_q_learning_hand_values(variant):
    # a* = 1 (mean 2); atoms 0.5 + 0.5·[0, 1, 2] = [.5, 1, 1.5] with mass on 1.5,
    # which projects to [0, ½, ½]; CE vs [¼, ½, ¼] = −(½ log ½ + ½ log ¼) = 1.5 log 2
    fn = variant(rlb.categorical_q_learning)
    out = fn(ATOMS, LOGITS_TM1, 0, f32(0.5), f32(0.5), ATOMS, LOGITS_T)
    np.testing.assert_allclose(out, 1.5 * LOG2, rtol=1e-6)


def test_categorical_double_q_learning_hand_values(variant):
    # the selector picks action 0: uniform mass on [.5, 1, 1.5] projects to
    # [⅙, ⅙ + ⅓ + ⅙, ⅙] = [⅙, ⅔, ⅙]; CE = −(⅓ log ¼ + ⅔ log ½) = (4/3) log 2
    fn = variant(rlb.categorical_double_q_learning)
    out = fn(ATOMS, LOGITS_TM1, 0, f32(0.5), f32(0.5), ATOMS, LOGITS_T, f32([1.0, 0.0]))
    np.testing.assert_allclose(out, 4 / 3 * LOG2, rtol=1e-6)


def test_categorical_td_learning_hand_values(variant):
    # same target [0, ½, ½] as the Q-learning case: CE = 1.5 log 2
    fn = variant(rlb.categorical_td_learning)
    out = fn(ATOMS, LOGITS_TM1[0], f32(0.5), f32(0.5), ATOMS, LOGITS_T[1])
    np.testing.assert_allclose(out, 1.5 * LOG2, rtol=1e-6)


def _random_categorical(rng, batch=None, n=5, m=7, a=3):
    lead = () if batch is None else (batch,)
    return dict(
        q_atoms_tm1=np.linspace(-2, 2, n),
        q_logits_tm1=rng.normal(size=(*lead, a, n)),
        a_tm1=rng.integers(0, a, size=lead),
        r_t=rng.normal(size=lead),
        discount_t=rng.uniform(0, 1, size=lead),
        q_atoms_t=np.linspace(-3, 3, m),
        q_logits_t=rng.normal(size=(*lead, a, m)),
    )


def _jax(args):
    return {k: i32(v) if k == "a_tm1" else f32(v) for k, v in args.items()}


def test_categorical_q_learning_matches_reference():
    q_learning = jax.jit(rlb.categorical_q_learning)
    double_q_learning = jax.jit(rlb.categorical_double_q_learning)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        args = _random_categorical(rng)
        selector = rng.normal(size=3)
        want = ref.categorical_q_learning(*args.values())[0]
        np.testing.assert_allclose(q_learning(**_jax(args)), want, rtol=1e-5)
        got = double_q_learning(**_jax(args), q_t_selector=f32(selector))
        want = ref.categorical_q_learning(*args.values(), selector=selector)[0]
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_categorical_gradients_stop_at_the_target():
    args = _jax(_random_categorical(np.random.default_rng(0)))

    def loss(logits_tm1, logits_t, stop):
        kw = dict(args, q_logits_tm1=logits_tm1, q_logits_t=logits_t)
        return rlb.categorical_q_learning(**kw, stop_target_gradients=stop)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    g_tm1, g_t = grad(args["q_logits_tm1"], args["q_logits_t"], True)
    assert not np.any(g_t)
    # ∂CE/∂logits = softmax − target on the taken action's row, 0 elsewhere
    _, target, _ = ref.categorical_q_learning(
        *[np.asarray(v, np.float64) for v in args.values()]
    )
    a = int(args["a_tm1"])
    want = np.zeros(g_tm1.shape)
    want[a] = ref.softmax(args["q_logits_tm1"][a]) - target
    np.testing.assert_allclose(g_tm1, want, atol=1e-5)
    _, g_t = grad(args["q_logits_tm1"], args["q_logits_t"], False)
    assert np.any(g_t)


def test_categorical_bad_shapes():
    args = _jax(_random_categorical(np.random.default_rng(0)))
    with pytest.raises(ValueError, match="q_logits_tm1"):
        rlb.categorical_q_learning(**dict(args, q_logits_tm1=f32(np.zeros((3, 4)))))
    with pytest.raises(ValueError, match="a_tm1 must have an integer dtype"):
        rlb.categorical_q_learning(**dict(args, a_tm1=f32(0.0)))
    with pytest.raises(ValueError, match="q_t_selector"):
        rlb.categorical_double_q_learning(**args, q_t_selector=f32(np.zeros(4)))
    with pytest.raises(ValueError, match="q_logits_t must have rank 2"):
        rlb.categorical_q_learning(**dict(args, q_logits_t=f32(np.zeros(7))))


# --- batched categorical losses ---------------------------------------------------


def test_categorical_q_learning_loss_matches_reference():
    rng = np.random.default_rng(5)
    args = _random_categorical(rng, batch=4)
    weights = rng.uniform(0, 2, size=4)
    loss, extra = jax.jit(rlb.categorical_q_learning_loss)(
        **_jax(args), weights=f32(weights)
    )
    per, targets, actions = [], [], []
    for b in range(4):
        row = {k: v if k.endswith("atoms_tm1") or k.endswith("atoms_t") else v[b]
               for k, v in args.items()}  # fmt: skip
        ce, target, a_star = ref.categorical_q_learning(*row.values())
        per.append(ce), targets.append(target), actions.append(a_star)
    np.testing.assert_allclose(extra.td_error, per, rtol=1e-5)
    np.testing.assert_allclose(extra.target, np.stack(targets), atol=1e-6)
    np.testing.assert_array_equal(extra.best_action, actions)
    np.testing.assert_allclose(loss, np.mean(weights * np.array(per)), rtol=1e-5)


def test_categorical_double_and_td_losses_match_reference():
    rng = np.random.default_rng(6)
    raw = _random_categorical(rng, batch=3)
    args, selector = _jax(raw), rng.normal(size=(3, 3))
    loss, extra = jax.jit(rlb.categorical_double_q_learning_loss)(
        **args, q_t_selector=f32(selector)
    )
    shared = ("q_atoms_tm1", "q_atoms_t")
    rows = [{k: v if k in shared else v[b] for k, v in raw.items()} for b in range(3)]
    want = [
        ref.categorical_q_learning(*row.values(), selector=sel)
        for row, sel in zip(rows, selector, strict=True)
    ]
    np.testing.assert_allclose(extra.td_error, [w[0] for w in want], rtol=1e-5)
    np.testing.assert_array_equal(extra.best_action, np.argmax(selector, axis=1))
    np.testing.assert_allclose(loss, np.mean([w[0] for w in want]), rtol=1e-5)
    # TD learning is Q-learning with a single action: compare on action 0 alone
    v = (args["q_atoms_tm1"], args["q_logits_tm1"][:, 0], args["r_t"],
         args["discount_t"], args["q_atoms_t"], args["q_logits_t"][:, 0])  # fmt: skip
    loss, extra = jax.jit(rlb.categorical_td_learning_loss)(*v)
    for b, row in enumerate(rows):
        single = dict(row, q_logits_tm1=row["q_logits_tm1"][:1], a_tm1=0,
                      q_logits_t=row["q_logits_t"][:1])  # fmt: skip
        ce, target, _ = ref.categorical_q_learning(*single.values())
        np.testing.assert_allclose(extra.td_error[b], ce, rtol=1e-5)
        np.testing.assert_allclose(extra.target[b], target, atol=1e-6)


def test_categorical_loss_gradient_only_reaches_online_logits():
    args = _jax(_random_categorical(np.random.default_rng(7), batch=3))

    def loss(logits_tm1, logits_t):
        kw = dict(args, q_logits_tm1=logits_tm1, q_logits_t=logits_t)
        return rlb.categorical_q_learning_loss(**kw)[0]

    grad = jax.jit(jax.grad(loss, (0, 1)))
    g_tm1, g_t = grad(args["q_logits_tm1"], args["q_logits_t"])
    assert not np.any(g_t) and np.all(np.isfinite(g_tm1)) and np.any(g_tm1)


def test_categorical_losses_bad_shapes():
    args = _jax(_random_categorical(np.random.default_rng(0), batch=4))
    with pytest.raises(ValueError, match="weights"):
        rlb.categorical_q_learning_loss(**args, weights=f32(np.ones(3)))
    with pytest.raises(ValueError, match="r_t"):
        rlb.categorical_q_learning_loss(**dict(args, r_t=f32(np.ones(5))))
    with pytest.raises(ValueError, match="q_logits_t"):
        rlb.categorical_q_learning_loss(**dict(args, q_logits_t=f32(np.ones((4, 3)))))
    with pytest.raises(ValueError, match="q_t_selector"):
        rlb.categorical_double_q_learning_loss(**args, q_t_selector=f32(np.ones(4)))


# --- quantile regression ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kappa", "expected"),
    # δ = 0.5 − 0 = 0.5 (weight τ₀ = ¼) and 0.5 − 1 = −0.5 (weight 1 − τ₁ = ¼):
    # κ = 0: ¼·½ + ¼·½ = 0.25; κ = 1: Huber(½) = ⅛, so ¼·⅛ + ¼·⅛ = 0.0625;
    # κ = 0.2: Huber = 0.2·(0.5 − 0.1) = 0.08, so 2·¼·0.08 = 0.04
    [(0.0, 0.25), (1.0, 0.0625), (0.2, 0.04)],
)
def test_quantile_regression_loss_hand_values(variant, kappa, expected):
    fn = variant(lambda s, t, y: rlb.quantile_regression_loss(s, t, y, kappa))
    out = fn(f32([0.0, 1.0]), f32([0.25, 0.75]), f32([0.5]))
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("kappa", [0.0, 0.3, 5.0])
def test_quantile_regression_loss_matches_formula(kappa):
    rng = np.random.default_rng(int(kappa * 10))
    src, tau, target = rng.normal(size=6), rng.uniform(size=6), rng.normal(size=9)
    loss = jax.jit(rlb.quantile_regression_loss, static_argnums=3)
    out = loss(f32(src), f32(tau), f32(target), kappa)
    want = ref.quantile_huber_loss(src, tau, target, kappa)
    np.testing.assert_allclose(out, want, rtol=1e-5)


@pytest.mark.parametrize("kappa", [0.0, 1.0])
def test_quantile_gradients_finite_at_ties_and_stopped(kappa):
    src = f32([0.0, 1.0, 2.0])  # two targets equal a source quantile: δ = 0
    tau, target = f32([0.2, 0.5, 0.8]), f32([1.0, 2.0, 3.5])
    grad = jax.grad(rlb.quantile_regression_loss, argnums=(0, 2))
    grads = jax.jit(grad, static_argnums=3)(src, tau, target, kappa)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert not np.any(grads[1])  # no gradient into the target samples
    # quantile 0 is below every target: ∂/∂θ₀ = −τ₀ · mean_j ℓ'(δ₀ⱼ); with κ = 0,
    # ℓ' = sign(δ) = 1 for all three targets, so −0.2
    if kappa == 0.0:
        np.testing.assert_allclose(grads[0][0], -0.2, rtol=1e-6)


def test_quantile_q_learning_hand_values(variant):
    # dist_q_tm1[:, a=0] = [0, 1], τ = [¼, ¾]; the selector's means are [0, 1], so
    # a* = 1 although the target network's action 0 is far higher (double Q);
    # target = 0.5 + 1·dist_q_t[:, 1] = [0.5, 0.5]; κ = 0 loss as above: 0.25
    dist_q_tm1 = f32([[0.0, 5.0], [1.0, 5.0]])
    selector = f32([[0.0, 1.0], [0.0, 1.0]])
    dist_q_t = f32([[9.0, 0.0], [9.0, 0.0]])
    fn = variant(rlb.quantile_q_learning)
    out = fn(dist_q_tm1, f32([0.25, 0.75]), 0, f32(0.5), f32(1.0), selector, dist_q_t)
    np.testing.assert_allclose(out, 0.25, rtol=1e-6)


def test_quantile_expected_sarsa_hand_values(variant):
    # π = [¾, ¼]; targets 0.5 + 1·[0, 0] (action 0) and 0.5 + [2, 2] (action 1);
    # action 0: 0.25 (as above); action 1: y = 2.5 is above both quantiles [0, 1]:
    # ¼·2.5 + ¾·1.5 = 1.75; total ¾·0.25 + ¼·1.75 = 0.625
    dist_q_tm1 = f32([[0.0, 5.0], [1.0, 5.0]])
    dist_q_t = f32([[0.0, 2.0], [0.0, 2.0]])
    fn = variant(rlb.quantile_expected_sarsa)
    out = fn(
        dist_q_tm1,
        f32([0.25, 0.75]),
        0,
        f32(0.5),
        f32(1.0),
        dist_q_t,
        f32([0.75, 0.25]),
    )
    np.testing.assert_allclose(out, 0.625, rtol=1e-6)


def _random_quantile(rng, batch, n=4, m=5, a=3, shared_tau=True):
    return dict(
        dist_q_tm1=f32(rng.normal(size=(batch, n, a))),
        tau_q_tm1=f32(rng.uniform(size=(n,) if shared_tau else (batch, n))),
        a_tm1=i32(rng.integers(0, a, size=batch)),
        r_t=f32(rng.normal(size=batch)),
        discount_t=f32(rng.uniform(size=batch)),
    )


@pytest.mark.parametrize("shared_tau", [True, False])
def test_quantile_q_learning_loss_matches_reference(shared_tau):
    rng = np.random.default_rng(11)
    args = _random_quantile(rng, 4, shared_tau=shared_tau)
    sel, dist_t = f32(rng.normal(size=(4, 5, 3))), f32(rng.normal(size=(4, 5, 3)))
    weights = rng.uniform(size=4)
    fn = jax.jit(lambda *x, **k: rlb.quantile_q_learning_loss(*x, 1.0, **k))
    loss, extra = fn(*args.values(), sel, dist_t, weights=f32(weights))
    per = []
    for b in range(4):
        a_star = int(np.argmax(np.mean(sel[b], axis=0)))
        target = args["r_t"][b] + args["discount_t"][b] * np.asarray(
            dist_t[b][:, a_star]
        )
        tau = args["tau_q_tm1"] if shared_tau else args["tau_q_tm1"][b]
        src = args["dist_q_tm1"][b][:, int(args["a_tm1"][b])]
        per.append(ref.quantile_huber_loss(src, tau, target, 1.0))
        np.testing.assert_allclose(extra.target[b], target, rtol=1e-6)
        assert int(extra.best_action[b]) == a_star
    np.testing.assert_allclose(extra.td_error, per, rtol=1e-5)
    np.testing.assert_allclose(loss, np.mean(weights * np.array(per)), rtol=1e-5)


@pytest.mark.parametrize("kappa", [0.0, 1.0])
def test_quantile_expected_sarsa_loss_equals_loop(kappa):
    rng = np.random.default_rng(12)
    args = _random_quantile(rng, 3, shared_tau=False)
    dist_t, probs = f32(rng.normal(size=(3, 5, 3))), f32(rng.dirichlet(np.ones(3), 3))
    weights = rng.uniform(size=3)
    fn = jax.jit(rlb.quantile_expected_sarsa_loss, static_argnums=7)
    loss, extra = fn(*args.values(), dist_t, probs, kappa, weights=f32(weights))
    sarsa = jax.jit(rlb.quantile_expected_sarsa, static_argnums=7)
    loop = [
        sarsa(*[v[b] for v in args.values()], dist_t[b], probs[b], kappa)
        for b in range(3)
    ]
    np.testing.assert_allclose(extra.td_error, loop, rtol=1e-6)
    # Numpy reference: targets y[:, a] = r + γ θ_t[:, a] for every action a; the
    # per-example loss Σₐ π(a) QR(θ_tm1[:, a_tm1], τ, y[:, a]).
    per = []
    for b in range(3):
        target = args["r_t"][b] + args["discount_t"][b] * np.asarray(dist_t[b])
        np.testing.assert_allclose(extra.target[b], target, rtol=1e-6)
        src = args["dist_q_tm1"][b][:, int(args["a_tm1"][b])]
        tau = args["tau_q_tm1"][b]
        per.append(
            sum(
                probs[b][a] * ref.quantile_huber_loss(src, tau, target[:, a], kappa)
                for a in range(3)
            )
        )
    assert extra.target.shape == (3, 5, 3)
    np.testing.assert_allclose(extra.td_error, per, rtol=1e-5)
    np.testing.assert_allclose(loss, np.mean(weights * np.array(per)), rtol=1e-5)


def test_quantile_loss_gradients_and_bad_shapes():
    rng = np.random.default_rng(13)
    args = _random_quantile(rng, 3)
    dist_t = f32(rng.normal(size=(3, 5, 3)))

    def loss(dist_tm1, dist_t):
        kw = dict(args, dist_q_tm1=dist_tm1)
        return rlb.quantile_q_learning_loss(*kw.values(), dist_t, dist_t)[0]

    g_tm1, g_t = jax.jit(jax.grad(loss, (0, 1)))(args["dist_q_tm1"], dist_t)
    assert not np.any(g_t) and np.any(g_tm1) and np.all(np.isfinite(g_tm1))
    with pytest.raises(ValueError, match="tau_q_tm1"):
        bad = dict(args, tau_q_tm1=f32(np.ones(5)))
        rlb.quantile_q_learning_loss(*bad.values(), dist_t, dist_t)
    with pytest.raises(ValueError, match="dist_q_t_selector"):
        rlb.quantile_q_learning_loss(*args.values(), dist_t[:2], dist_t)
    with pytest.raises(ValueError, match="probs_a_t"):
        rlb.quantile_expected_sarsa_loss(*args.values(), dist_t, f32(np.ones((3, 2))))
    with pytest.raises(ValueError, match="huber_param"):
        rlb.quantile_regression_loss(f32([0.0]), f32([0.5]), f32([1.0]), -1.0)

"""One-step value learning: unbatched rlax-style primitives and batched losses."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlblocks as rlb
from tests import reference

# --- the primitives under test ----------------------------------------------------
# name -> (argument names, extra hyperparameters passed positionally after them).
# The argument playing the prediction (gradients must reach it) comes first.
PRIMITIVES = {
    "td_learning": (("v_tm1", "r_t", "discount_t", "v_t"), ()),
    "q_learning": (("q_tm1", "a_tm1", "r_t", "discount_t", "q_t"), ()),
    "double_q_learning": (
        ("q_tm1", "a_tm1", "r_t", "discount_t", "q_t_value", "q_t_selector"),
        (),
    ),
    "persistent_q_learning": (("q_tm1", "a_tm1", "r_t", "discount_t", "q_t"), (0.25,)),
    "sarsa": (("q_tm1", "a_tm1", "r_t", "discount_t", "q_t", "a_t"), ()),
    "expected_sarsa": (
        ("q_tm1", "a_tm1", "r_t", "discount_t", "q_t", "probs_a_t"),
        (),
    ),
    "qv_learning": (("q_tm1", "a_tm1", "r_t", "discount_t", "v_t"), ()),
    "qv_max": (("v_tm1", "r_t", "discount_t", "q_t"), ()),
}
LOSSES = {
    "td_learning_loss": "td_learning",
    "q_learning_loss": "q_learning",
    "double_q_learning_loss": "double_q_learning",
    "persistent_q_learning_loss": "persistent_q_learning",
    "sarsa_loss": "sarsa",
    "expected_sarsa_loss": "expected_sarsa",
    "qv_learning_loss": "qv_learning",
}
A = 3
INT_ARGS = ("a_tm1", "a_t")
PREDICTIONS = ("q_tm1", "v_tm1")


def random_args(name, batch, seed=0):
    """Random float32/int32 arguments of primitive `name`, with leading `batch`."""
    rng = np.random.default_rng(seed)
    lead = () if batch is None else (batch,)
    make = {
        "A": lambda: rng.normal(size=(*lead, A)),
        "act": lambda: rng.integers(0, A, size=lead).astype(np.int32),
        "scalar": lambda: rng.normal(size=lead),
        "discount": lambda: rng.uniform(0.1, 1.0, size=lead),
        "probs": lambda: rng.dirichlet(np.ones(A), size=lead or None),
    }
    kinds = {
        "q_tm1": "A", "q_t": "A", "q_t_value": "A", "q_t_selector": "A",
        "a_tm1": "act", "a_t": "act", "r_t": "scalar", "v_tm1": "scalar",
        "v_t": "scalar", "discount_t": "discount", "probs_a_t": "probs",
    }  # fmt: skip
    out = []
    for arg in PRIMITIVES[name][0]:
        x = make[kinds[arg]]()
        out.append(jnp.asarray(x, jnp.int32 if arg in INT_ARGS else jnp.float32))
    return out


def call(name, *args, **kwargs):
    """Call primitive `name` with its hyperparameters appended."""
    return getattr(rlb, name)(*args, *PRIMITIVES[name][1], **kwargs)


def f32(*xs):
    return [jnp.asarray(x, jnp.float32) for x in xs]


# --- (a) hand-computed primitive values ---------------------------------------------
Q_TM1 = [1.0, 2.0, 0.5]
Q_T = [0.0, 3.0, 1.0]
HAND_PRIMITIVE = [
    # 0.5 + 0.9 * 2 - 1 = 1.3
    ("td_learning", (1.0, 0.5, 0.9, 2.0), 1.3),
    # terminal: 1 + 0 * 5 - 3 = -2
    ("td_learning", (3.0, 1.0, 0.0, 5.0), -2.0),
    # 1 + 0.5 * max(0, 3, 1) - q_tm1[0] = 1 + 1.5 - 1 = 1.5
    ("q_learning", (Q_TM1, 0, 1.0, 0.5, Q_T), 1.5),
    # -1 + 1 * max(-2, -1, -3) - q_tm1[2] = -1 - 1 - 0.5 = -2.5
    ("q_learning", (Q_TM1, 2, -1.0, 1.0, [-2.0, -1.0, -3.0]), -2.5),
    # selector argmax = 0, value[0] = 0: 1 + 0.5 * 0 - q_tm1[1] = 1 - 2 = -1
    ("double_q_learning", (Q_TM1, 1, 1.0, 0.5, Q_T, [5.0, 0.0, 0.0]), -1.0),
    # selector argmax = 2, value[2] = 1: 2 + 1 * 1 - q_tm1[0] = 3 - 1 = 2
    ("double_q_learning", (Q_TM1, 0, 2.0, 1.0, Q_T, [0.0, 0.0, 9.0]), 2.0),
    # alpha 0.25: 0.75 * max(q_t) + 0.25 * q_t[0] = 2.25 + 0 = 2.25;
    # 1 + 0.5 * 2.25 - q_tm1[0] = 2.125 - 1 = 1.125
    ("persistent_q_learning", (Q_TM1, 0, 1.0, 0.5, Q_T, 0.25), 1.125),
    # alpha 1: bootstrap q_t[2] = 1; 0 + 1 * 1 - q_tm1[2] = 1 - 0.5 = 0.5
    ("persistent_q_learning", (Q_TM1, 2, 0.0, 1.0, Q_T, 1.0), 0.5),
    # 1 + 0.5 * q_t[2] - q_tm1[1] = 1 + 0.5 - 2 = -0.5
    ("sarsa", (Q_TM1, 1, 1.0, 0.5, Q_T, 2), -0.5),
    # 1 + 0.5 * q_t[1] - q_tm1[1] = 1 + 1.5 - 2 = 0.5
    ("sarsa", (Q_TM1, 1, 1.0, 0.5, Q_T, 1), 0.5),
    # E[q_t] = 0.5 * 0 + 0.25 * 3 + 0.25 * 1 = 1; 1 + 0.5 * 1 - q_tm1[0] = 0.5
    ("expected_sarsa", (Q_TM1, 0, 1.0, 0.5, Q_T, [0.5, 0.25, 0.25]), 0.5),
    # E[q_t] = q_t[1] = 3; 0 + 1 * 3 - q_tm1[2] = 2.5
    ("expected_sarsa", (Q_TM1, 2, 0.0, 1.0, Q_T, [0.0, 1.0, 0.0]), 2.5),
    # 1 + 0.5 * 4 - q_tm1[1] = 3 - 2 = 1
    ("qv_learning", (Q_TM1, 1, 1.0, 0.5, 4.0), 1.0),
    # terminal: -1 + 0 * 4 - q_tm1[0] = -2
    ("qv_learning", (Q_TM1, 0, -1.0, 0.0, 4.0), -2.0),
    # 1 + 0.5 * max(q_t) - v_tm1 = 1 + 1.5 - 1 = 1.5
    ("qv_max", (1.0, 1.0, 0.5, Q_T), 1.5),
    # 0 + 0.9 * max(-1, -2, -3) - 2 = -0.9 - 2 = -2.9
    ("qv_max", (2.0, 0.0, 0.9, [-1.0, -2.0, -3.0]), -2.9),
]


def _typed(name, args):
    names = PRIMITIVES[name][0]
    return [
        jnp.asarray(x, jnp.int32 if n in INT_ARGS else jnp.float32)
        for n, x in zip(names, args, strict=False)
    ] + list(args[len(names) :])


@pytest.mark.parametrize("name,args,expected", HAND_PRIMITIVE)
def test_primitive_hand_values(variant, name, args, expected):
    fn = variant(getattr(rlb, name))
    out = fn(*_typed(name, args))
    assert out.shape == ()
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_every_primitive_has_hand_values():
    assert {case[0] for case in HAND_PRIMITIVE} == set(PRIMITIVES)


# --- (b) vmap equals a Python loop, and a float64 numpy reference --------------------


@pytest.mark.parametrize("name", PRIMITIVES)
def test_primitive_vmap_equals_loop_and_reference(variant, name):
    args = random_args(name, batch=5, seed=1)
    batched = variant(jax.vmap(lambda *a: call(name, *a)))(*args)
    looped = [call(name, *[a[i] for a in args]) for i in range(5)]
    np.testing.assert_allclose(batched, np.stack(looped), rtol=1e-6)
    ref = reference.one_step_td_errors(name, args, *PRIMITIVES[name][1])
    np.testing.assert_allclose(batched, ref, rtol=1e-5, atol=1e-6)


# --- (d) gradients ------------------------------------------------------------------


def _float_grads(name, args, **kwargs):
    """Gradient of the TD error wrt every float argument, by argument name."""
    names = PRIMITIVES[name][0]
    idx = [i for i, n in enumerate(names) if n not in INT_ARGS]

    def f(*floats):
        full = list(args)
        for i, x in zip(idx, floats, strict=True):
            full[i] = x
        return call(name, *full, **kwargs)

    grads = jax.grad(f, argnums=tuple(range(len(idx))))(*[args[i] for i in idx])
    return {names[i]: g for i, g in zip(idx, grads, strict=True)}


@pytest.mark.parametrize("name", PRIMITIVES)
def test_primitive_gradients_reach_only_the_prediction(name):
    args = random_args(name, batch=None, seed=2)
    grads = _float_grads(name, args)
    for arg, g in grads.items():
        if arg == "q_tm1":  # dδ/dq_tm1 = -onehot(a_tm1)
            np.testing.assert_array_equal(g, -np.eye(A)[int(args[1])])
        elif arg == "v_tm1":  # dδ/dv_tm1 = -1
            np.testing.assert_array_equal(g, -1.0)
        else:
            np.testing.assert_array_equal(g, np.zeros_like(g), err_msg=arg)


@pytest.mark.parametrize("name", PRIMITIVES)
def test_primitive_gradients_reach_targets_when_not_stopped(name):
    args = random_args(name, batch=None, seed=3)
    grads = _float_grads(name, args, stop_target_gradients=False)
    np.testing.assert_allclose(grads["r_t"], 1.0)  # dδ/dr_t = 1
    boots = [n for n in grads if n not in (*PREDICTIONS, "r_t", "q_t_selector")]
    for arg in boots:  # discount and the bootstrapped values all feed the target
        assert np.any(np.asarray(grads[arg]) != 0), arg


def test_stop_target_gradients_may_be_traced():
    q_tm1, a_tm1, r_t, discount_t, q_t = _typed("q_learning", HAND_PRIMITIVE[2][1])

    @jax.jit
    def grad_q_t(stop):
        return jax.grad(
            lambda q: rlb.q_learning(q_tm1, a_tm1, r_t, discount_t, q, stop)
        )(q_t)

    # δ = r + γ max(q_t) - q: dδ/dq_t = γ onehot(argmax q_t) = [0, 0.5, 0] unless stopped
    np.testing.assert_array_equal(grad_q_t(jnp.array(False)), [0.0, 0.5, 0.0])
    np.testing.assert_array_equal(grad_q_t(jnp.array(True)), [0.0, 0.0, 0.0])


# --- (e) bad inputs -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name,pos",
    [(n, i) for n, (names, _) in PRIMITIVES.items() for i in range(len(names))],
)
def test_primitive_wrong_rank_names_the_argument(name, pos):
    args = random_args(name, batch=None)
    args[pos] = args[pos][None]  # one axis too many
    arg = PRIMITIVES[name][0][pos]
    with pytest.raises(ValueError, match=rf"^{arg} must have rank"):
        call(name, *args)


@pytest.mark.parametrize(
    "name,arg",
    [(n, a) for n, (names, _) in PRIMITIVES.items() for a in names if a in INT_ARGS],
)
def test_primitive_float_actions_raise(name, arg):
    args = random_args(name, batch=None)
    pos = PRIMITIVES[name][0].index(arg)
    args[pos] = args[pos].astype(jnp.float32)
    with pytest.raises(ValueError, match=f"{arg} must have an integer dtype"):
        call(name, *args)


def test_primitive_mismatched_action_counts_raise():
    q_tm1, a_tm1, r_t, discount_t, _ = random_args("q_learning", batch=None)
    with pytest.raises(ValueError, match=r"q_t must have shape \[A\] with A=3"):
        rlb.q_learning(q_tm1, a_tm1, r_t, discount_t, jnp.zeros(4))


def test_action_gap_scale_out_of_range_raises():
    args = random_args("persistent_q_learning", batch=None)
    with pytest.raises(ValueError, match="action_gap_scale must lie in"):
        rlb.persistent_q_learning(*args, 1.5)


# --- batched losses -----------------------------------------------------------------
# TRFL's canonical example: q_tm1=[[1,1,0],[1,2,0]], q_t=[[0,1,0],[1,2,0]],
# a_tm1=[0,1], r_t=[1,1], pcont_t=[0,1]:
#   b=0: target = 1 + 0 * max(0,1,0) = 1, q_pred = q_tm1[0,0] = 1, td = 0
#   b=1: target = 1 + 1 * max(1,2,0) = 3, q_pred = q_tm1[1,1] = 2, td = 1
# Each loss gets inputs whose bootstrap equals max q_t, so all give td = [0, 1]:
# value = selector = q_t for double Q; a_t = argmax q_t = [1, 1] for SARSA;
# probs one-hot on [1, 1] for expected SARSA; v_t = max q_t = [1, 2] for QV;
# persistent: q_t[b, a_tm1] = max q_t where pcont = 1, so any alpha; td_learning:
# v_tm1 = q_pred = [1, 2], v_t = [1, 2].
CANON = dict(
    q_tm1=[[1.0, 1.0, 0.0], [1.0, 2.0, 0.0]],
    q_t=[[0.0, 1.0, 0.0], [1.0, 2.0, 0.0]],
    a_tm1=[0, 1],
    r_t=[1.0, 1.0],
    discount_t=[0.0, 1.0],
)
EXTRA = dict(
    v_tm1=[1.0, 2.0],
    v_t=[1.0, 2.0],
    q_t_value=CANON["q_t"],
    q_t_selector=CANON["q_t"],
    a_t=[1, 1],
    probs_a_t=[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
)


def canon_args(loss_name, **overrides):
    data = {**CANON, **EXTRA, **overrides}
    names = PRIMITIVES[LOSSES[loss_name]][0]
    return _typed(LOSSES[loss_name], [data[n] for n in names])


def loss_call(loss_name, *args, **kwargs):
    hyper = PRIMITIVES[LOSSES[loss_name]][1]
    return getattr(rlb, loss_name)(*args, *hyper, **kwargs)


@pytest.mark.parametrize("loss_name", LOSSES)
def test_loss_canonical_example(variant, loss_name):
    fn = variant(lambda *a: loss_call(loss_name, *a))
    loss, extras = fn(*canon_args(loss_name))
    np.testing.assert_allclose(extras.td_error, [0.0, 1.0])
    np.testing.assert_allclose(extras.target, [1.0, 3.0])
    np.testing.assert_allclose(extras[2], [1.0, 2.0])  # q_pred or v_pred
    # mean(½ [0², 1²]) = 0.25
    np.testing.assert_allclose(loss, 0.25)
    assert loss.shape == ()


def test_q_learning_loss_extras_fields():
    _, extras = rlb.q_learning_loss(*canon_args("q_learning_loss"))
    assert isinstance(extras, rlb.QExtra)
    np.testing.assert_allclose(extras.q_pred, [1.0, 2.0])
    _, extras = rlb.td_learning_loss(*canon_args("td_learning_loss"))
    assert isinstance(extras, rlb.TDExtra)
    np.testing.assert_allclose(extras.v_pred, [1.0, 2.0])


def test_double_q_learning_loss_best_action(variant):
    # selector argmax: row 0 -> 2, row 1 -> 0; value = q_t:
    # b=0: 1 + 0 * q_t[0,2] = 1, td = 1 - 1 = 0; b=1: 1 + 1 * q_t[1,0] = 2, td = 2 - 2 = 0
    args = canon_args("double_q_learning_loss", q_t_selector=[[0, 0, 1], [1, 0, 0]])
    loss, extras = variant(rlb.double_q_learning_loss)(*args)
    assert isinstance(extras, rlb.DoubleQExtra)
    np.testing.assert_array_equal(extras.best_action, [2, 0])
    np.testing.assert_allclose(extras.target, [1.0, 2.0])
    np.testing.assert_allclose(extras.td_error, [0.0, 0.0])
    np.testing.assert_allclose(loss, 0.0)


# With r_t = [3, 1] the example gives td = [3 - 1, 1] = [2, 1].
@pytest.mark.parametrize("loss_name", LOSSES)
def test_loss_weights_scale_each_example(variant, loss_name):
    fn = variant(lambda *a, w: loss_call(loss_name, *a, weights=w))
    args = canon_args(loss_name, r_t=[3.0, 1.0])
    loss, extras = fn(*args, w=jnp.array([2.0, 3.0]))
    np.testing.assert_allclose(extras.td_error, [2.0, 1.0])
    # ½ [2², 1²] = [2, 0.5]; weighted [4, 1.5]; mean = 2.75
    np.testing.assert_allclose(loss, 2.75)
    # weights of ones equal no weights: mean([2, 0.5]) = 1.25
    np.testing.assert_allclose(fn(*args, w=jnp.ones(2))[0], 1.25)


@pytest.mark.parametrize("loss_name", LOSSES)
def test_loss_huber_delta(variant, loss_name):
    fn = variant(lambda *a: loss_call(loss_name, *a, huber_delta=1.0))
    loss, _ = fn(*canon_args(loss_name, r_t=[3.0, 1.0]))
    # Huber_1(2) = 1 * (2 - 0.5) = 1.5 (linear); Huber_1(1) = ½ (quadratic); mean = 1.0
    np.testing.assert_allclose(loss, 1.0)
    w = jnp.array([2.0, 3.0])
    loss, _ = loss_call(
        loss_name, *canon_args(loss_name, r_t=[3.0, 1.0]), weights=w, huber_delta=0.5
    )
    # Huber_½(2) = 0.5 * (2 - 0.25) = 0.875, Huber_½(1) = 0.5 * 0.75 = 0.375;
    # weighted [1.75, 1.125]; mean = 1.4375
    np.testing.assert_allclose(loss, 1.4375)


@pytest.mark.parametrize("loss_name", LOSSES)
def test_loss_gradients_reach_only_the_prediction(loss_name):
    args = canon_args(loss_name, r_t=[3.0, 1.0])
    names = PRIMITIVES[LOSSES[loss_name]][0]
    idx = [i for i, n in enumerate(names) if n not in INT_ARGS]

    def f(*floats):
        full = list(args)
        for i, x in zip(idx, floats, strict=True):
            full[i] = x
        return loss_call(loss_name, *full)[0]

    grads = jax.grad(f, argnums=tuple(range(len(idx))))(*[args[i] for i in idx])
    for i, g in zip(idx, grads, strict=True):
        if names[i] == "q_tm1":
            # dL/dq_tm1[b, a_b] = -td_b / B = [-2/2, -1/2]
            np.testing.assert_allclose(g, [[-1.0, 0, 0], [0, -0.5, 0]])
        elif names[i] == "v_tm1":
            np.testing.assert_allclose(g, [-1.0, -0.5])
        else:
            np.testing.assert_array_equal(g, np.zeros_like(g), err_msg=names[i])


@pytest.mark.parametrize("loss_name", LOSSES)
def test_loss_matches_reference_and_vmaps(variant, loss_name):
    name = LOSSES[loss_name]
    runs = [random_args(name, batch=4, seed=s) for s in range(3)]
    stacked = [jnp.stack(xs) for xs in zip(*runs, strict=True)]
    w = jnp.array([0.5, 1.0, 2.0, 0.25])
    fn = variant(jax.vmap(lambda *a: loss_call(loss_name, *a, weights=w)))
    losses, extras = fn(*stacked)
    for s, args in enumerate(runs):
        td = reference.one_step_td_errors(name, args, *PRIMITIVES[name][1])
        np.testing.assert_allclose(extras.td_error[s], td, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses[s], np.mean(w * 0.5 * td**2), rtol=1e-5)
        single = loss_call(loss_name, *args, weights=w)[0]
        np.testing.assert_allclose(losses[s], single, rtol=1e-6)


@pytest.mark.parametrize(
    "loss_name,pos",
    [(n, i) for n, p in LOSSES.items() for i in range(1, len(PRIMITIVES[p][0]))],
)
def test_loss_mismatched_batch_names_the_argument(loss_name, pos):
    args = canon_args(loss_name)
    args[pos] = jnp.concatenate([args[pos], args[pos][:1]])  # B = 3 instead of 2
    arg = PRIMITIVES[LOSSES[loss_name]][0][pos]
    first = PRIMITIVES[LOSSES[loss_name]][0][0]
    with pytest.raises(ValueError, match=rf"^{arg} must have .*B=2 \(from {first}"):
        loss_call(loss_name, *args)


@pytest.mark.parametrize("loss_name", LOSSES)
def test_loss_wrong_rank_and_weights_raise(loss_name):
    args = canon_args(loss_name)
    first = PRIMITIVES[LOSSES[loss_name]][0][0]
    with pytest.raises(ValueError, match=rf"^{first} must have rank"):
        loss_call(loss_name, args[0][0], *args[1:])  # unbatched first argument
    with pytest.raises(ValueError, match=r"^weights must have shape \[B\] with B=2"):
        loss_call(loss_name, *args, weights=jnp.ones(3))
    with pytest.raises(ValueError, match=r"^weights must have rank 1"):
        jax.jit(lambda *a: loss_call(loss_name, *a, weights=jnp.ones((2, 1))))(*args)


@pytest.mark.parametrize(
    "loss_name,arg",
    [(n, a) for n, p in LOSSES.items() for a in PRIMITIVES[p][0] if a in INT_ARGS],
)
def test_loss_float_actions_raise(loss_name, arg):
    args = canon_args(loss_name)
    pos = PRIMITIVES[LOSSES[loss_name]][0].index(arg)
    args[pos] = args[pos].astype(jnp.float32)
    with pytest.raises(ValueError, match=f"^{arg} must have an integer dtype"):
        loss_call(loss_name, *args)


def test_persistent_loss_default_scale_and_partial():
    # alpha 0.5 by default, a_tm1 = [1, 0]:
    #   b=0: pcont 0, target = 1, q_pred = q_tm1[0,1] = 1, td = 0
    #   b=1: bootstrap = 0.5 * max(1,2,0) + 0.5 * q_t[1,0] = 1 + 0.5 = 1.5,
    #        target = 1 + 1.5 = 2.5, q_pred = q_tm1[1,0] = 1, td = 1.5
    # alpha 0 (Q-learning): b=1 target = 1 + 2 = 3
    args = canon_args("persistent_q_learning_loss", a_tm1=[1, 0])
    _, extras = rlb.persistent_q_learning_loss(*args)
    np.testing.assert_allclose(extras.target, [1.0, 2.5])
    np.testing.assert_allclose(extras.td_error, [0.0, 1.5])
    step = functools.partial(rlb.persistent_q_learning_loss, action_gap_scale=0.0)
    np.testing.assert_allclose(step(*args)[1].target, [1.0, 3.0])  # Q-learning

"""Schedules: exact values at begin, middle, end and beyond; traced equals eager."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rlblocks as rlb


def _eval(schedule, steps, variant):
    """Evaluate a schedule at each step, eagerly or jitted with a traced step."""
    fn = variant(schedule)
    return np.array([float(fn(jnp.asarray(s, jnp.int32))) for s in steps])


def test_linearly_decaying_epsilon_values(variant):
    # Dopamine: 1.0 for step <= warmup (10), then 1 - 0.9 (t - 10) / 100, then 0.1.
    sched = rlb.linearly_decaying_epsilon(100, 10, 0.1)
    steps = [0, 5, 10, 35, 60, 85, 110, 111, 1000]
    # t=35: 1 - 0.9*25/100 = 0.775; t=60: 1 - 0.9*0.5 = 0.55; t=85: 1 - 0.675 = 0.325
    want = [1.0, 1.0, 1.0, 0.775, 0.55, 0.325, 0.1, 0.1, 0.1]
    np.testing.assert_allclose(_eval(sched, steps, variant), want, rtol=0, atol=1e-6)


def test_linearly_decaying_epsilon_matches_dopamine_formula(variant):
    # Dopamine's formula with steps_left = D + W - t, bonus clipped to [0, 1 - eps].
    d, w, eps = 250, 40, 0.01
    steps = np.arange(0, 400, 7)
    bonus = np.clip((1.0 - eps) * (d + w - steps) / d, 0.0, 1.0 - eps)
    got = _eval(rlb.linearly_decaying_epsilon(d, w, eps), steps, variant)
    np.testing.assert_allclose(got, eps + bonus, rtol=0, atol=1e-6)


def test_linearly_decaying_epsilon_init_value_and_no_warmup(variant):
    sched = rlb.linearly_decaying_epsilon(4, 0, 0.0, init_value=0.5)
    # 0.5 - 0.5 t / 4 for t in 0..4, then 0.
    want = [0.5, 0.375, 0.25, 0.125, 0.0, 0.0]
    np.testing.assert_allclose(_eval(sched, range(6), variant), want, atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"decay_period": 0, "warmup_steps": 0, "epsilon": 0.1}, "decay_period"),
        ({"decay_period": 10, "warmup_steps": -1, "epsilon": 0.1}, "warmup_steps"),
        ({"decay_period": 10, "warmup_steps": 0, "epsilon": 1.5}, "epsilon"),
        ({"decay_period": 10, "warmup_steps": 0, "epsilon": -0.1}, "epsilon"),
        (
            {"decay_period": 10, "warmup_steps": 0, "epsilon": 0.1, "init_value": 2},
            "init_value",
        ),
    ],
)
def test_linearly_decaying_epsilon_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rlb.linearly_decaying_epsilon(**kwargs)


def test_piecewise_linear_values(variant):
    # Knots (0, 1.0), (10, 0.0), (30, 0.5): down to 0 and back up (optax's
    # scale-based piecewise_interpolate_schedule cannot pass through 0).
    sched = rlb.piecewise_linear_schedule([0, 10, 30], [1.0, 0.0, 0.5])
    steps = [-5, 0, 4, 10, 20, 30, 31, 10_000]
    # t=4: 1 - 4/10 = 0.6; t=20: 0 + 0.5 * (20 - 10) / 20 = 0.25
    want = [1.0, 1.0, 0.6, 0.0, 0.25, 0.5, 0.5, 0.5]
    np.testing.assert_allclose(_eval(sched, steps, variant), want, atol=1e-7)


def test_piecewise_linear_single_knot_is_constant(variant):
    sched = rlb.piecewise_linear_schedule([5], [0.3])
    np.testing.assert_allclose(_eval(sched, [0, 5, 9], variant), [0.3] * 3, atol=1e-7)


@pytest.mark.parametrize(
    ("boundaries", "values", "match"),
    [
        ([0, 10], [1.0], "equal length"),
        ([], [], "non-empty"),
        ([0, 10, 10], [1.0, 0.5, 0.1], "strictly increasing"),
        ([[0, 1]], [[1.0, 2.0]], "1-D"),
    ],
)
def test_piecewise_linear_bad_arguments(boundaries, values, match):
    with pytest.raises(ValueError, match=match):
        rlb.piecewise_linear_schedule(boundaries, values)


def test_optax_schedules_values(variant):
    # exponential: 1.0 * 0.5 ** (t / 10), floored at 0.2: t=10 -> 0.5, t=20 -> 0.25,
    # t=30 -> 0.125 floored to 0.2.
    expo = rlb.exponential_decay(1.0, 10, 0.5, end_value=0.2)
    np.testing.assert_allclose(
        _eval(expo, [0, 10, 20, 30], variant), [1.0, 0.5, 0.25, 0.2], rtol=1e-6
    )
    # staircase with a 5-step hold: 2 * 0.1 ** floor((t - 5) / 10).
    stair = rlb.exponential_decay(2.0, 10, 0.1, transition_begin=5, staircase=True)
    np.testing.assert_allclose(
        _eval(stair, [0, 5, 14, 15, 25], variant), [2, 2, 2, 0.2, 0.02], rtol=1e-6
    )
    const = rlb.constant_schedule(0.05)
    np.testing.assert_allclose(_eval(const, [0, 10**6], variant), [0.05, 0.05])
    # linear 0 -> 1 over steps 10..30: t=20 -> 0.5.
    lin = rlb.linear_schedule(0.0, 1.0, 20, 10)
    np.testing.assert_allclose(
        _eval(lin, [0, 10, 20, 30, 99], variant), [0, 0, 0.5, 1, 1], atol=1e-7
    )
    # piecewise constant: 1.0, x0.5 from step 10, x0.1 from step 20.
    pc = rlb.piecewise_constant_schedule(1.0, {10: 0.5, 20: 0.1})
    np.testing.assert_allclose(
        _eval(pc, [0, 9, 10, 19, 20], variant), [1.0, 1.0, 0.5, 0.5, 0.05], rtol=1e-6
    )


_SCHEDULES = {
    "linearly_decaying_epsilon": lambda: rlb.linearly_decaying_epsilon(23, 7, 0.05),
    "piecewise_linear": lambda: rlb.piecewise_linear_schedule([3, 17, 40], [1, 0.3, 0]),
    "exponential": lambda: rlb.exponential_decay(1.0, 7, 0.37, 3, end_value=0.01),
    "linear": lambda: rlb.linear_schedule(0.9, 0.013, 31, 4),
    "piecewise_constant": lambda: rlb.piecewise_constant_schedule(1.0, {9: 0.3}),
    "constant": lambda: rlb.constant_schedule(0.3),
}


@pytest.mark.parametrize("name", sorted(_SCHEDULES))
def test_traced_and_eager_are_bit_identical(name):
    # Eager, jit, vmap and scan must agree exactly, so eager and compiled training
    # loops see the same epsilon.
    sched = _SCHEDULES[name]()
    steps = jnp.arange(60)
    eager = np.asarray([np.float32(sched(int(t))) for t in steps])
    jitted = np.asarray([np.float32(jax.jit(sched)(t)) for t in steps])
    vmapped = np.asarray(jax.vmap(sched)(steps), np.float32)
    scanned = jax.lax.scan(lambda c, t: (c, jnp.float32(sched(t))), 0, steps)[1]
    np.testing.assert_array_equal(jitted, eager)
    np.testing.assert_array_equal(vmapped, eager)
    np.testing.assert_array_equal(np.asarray(scanned), eager)


def test_optax_schedules_agree_with_optax():
    steps = jnp.arange(50)
    pairs = [
        (
            rlb.exponential_decay(1.0, 7, 0.37, 3),
            optax.exponential_decay(1.0, 7, 0.37, 3),
        ),
        (rlb.linear_schedule(0.9, 0.1, 31, 4), optax.linear_schedule(0.9, 0.1, 31, 4)),
        (
            rlb.piecewise_constant_schedule(1.0, {9: 0.3}),
            optax.piecewise_constant_schedule(1.0, {9: 0.3}),
        ),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(
            jax.vmap(ours)(steps), jax.vmap(theirs)(steps), rtol=1e-6
        )

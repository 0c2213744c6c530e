"""Value transforms, 2-hot encodings and transform pairs."""

import math

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


# float32 values over [-1e4, 1e4]: a uniform grid plus log-spaced magnitudes down to
# 1e-8 (where cancellation would show), zero, and both ends.
_MAGNITUDES = np.concatenate([np.logspace(-8, 4, 400), np.linspace(0, 1e4, 2001)])
GRID = np.concatenate([-_MAGNITUDES, _MAGNITUDES]).astype(np.float32)

PAIRS = {
    "identity": rlb.IDENTITY_PAIR,
    "signed_logp1": rlb.SIGNED_LOGP1_PAIR,
    "signed_hyperbolic": rlb.SIGNED_HYPERBOLIC_PAIR,
    "hyperbolic_sin": rlb.HYPERBOLIC_SIN_PAIR,
    "power_2": rlb.TxPair(lambda x: rlb.power(x, 2.0), lambda x: rlb.power(x, 0.5)),
    "power_0.3": rlb.TxPair(
        lambda x: rlb.power(x, 0.3), lambda x: rlb.power(x, 1 / 0.3)
    ),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_pairs_round_trip_in_float32(name):
    # Tolerance: 1e-5 relative, no absolute slack, in float32 (ε ≈ 1.2e-7). Each
    # direction is written without cancellation, so the round trip stays within a
    # few ulps times the condition number (measured max ≈ 1.6e-6) even at 1e-8.
    pair = PAIRS[name]
    back = jax.jit(lambda x: pair.apply_inv(pair.apply(x)))(GRID)
    assert back.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(back, np.float64), GRID, rtol=1e-5, atol=0)


def test_lowercase_aliases_are_the_rlax_pairs():
    assert rlb.identity_pair is rlb.IDENTITY_PAIR
    assert rlb.signed_logp1_pair is rlb.SIGNED_LOGP1_PAIR
    assert rlb.signed_hyperbolic_pair is rlb.SIGNED_HYPERBOLIC_PAIR


def test_hand_values(variant):
    x = f32([3.0, -8.0, 0.0])

    def all_transforms(x):
        return (
            rlb.signed_hyperbolic(x),
            rlb.signed_parabolic(x),
            rlb.signed_logp1(x),
            rlb.signed_expm1(x),
            rlb.power(x, 2.0),
            rlb.identity(x),
        )

    hyp, par, logp1, expm1, pw, ident = variant(all_transforms)(x)
    # h(3) = √4 − 1 + 0.003 = 1.003; h(−8) = −(√9 − 1) − 0.008 = −2.008
    np.testing.assert_allclose(hyp, [1.003, -2.008, 0.0], rtol=1e-6)
    # h⁻¹(3): z = (√(1 + 0.004·4.001) − 1)/0.002 = 7.98405..., z² − 1 = 62.7450...
    z = (math.sqrt(1 + 0.004 * 4.001) - 1) / 0.002
    z8 = (math.sqrt(1 + 0.004 * 9.001) - 1) / 0.002
    np.testing.assert_allclose(par, [z * z - 1, -(z8 * z8 - 1), 0.0], rtol=1e-5)
    # log(1 + 3) = 1.386...; −log 9; exp(3) − 1 = 19.0855...; −(e⁸ − 1)
    np.testing.assert_allclose(logp1, [math.log(4), -math.log(9), 0.0], rtol=1e-6)
    np.testing.assert_allclose(expm1, [math.e**3 - 1, 1 - math.e**8, 0], rtol=1e-6)
    # power(3, 2) = ((3/√2 + 1)² − 1)/√2 = (9/2 + 6/√2)/√2 = 4.5/√2 + 3
    q = math.sqrt(2)
    want = [4.5 / q + 3, -((8 / q + 1) ** 2 - 1) / q, 0.0]
    np.testing.assert_allclose(pw, want, rtol=1e-6)
    np.testing.assert_array_equal(ident, x)


def test_signed_hyperbolic_matches_textbook_formula():
    x = np.linspace(-100.0, 100.0, 41)
    got = jax.jit(rlb.signed_hyperbolic)(f32(x))
    np.testing.assert_allclose(got, [ref.h(v) for v in x], rtol=1e-6, atol=1e-7)
    y = np.linspace(-20.0, 20.0, 41)
    got = jax.jit(rlb.signed_parabolic)(f32(y))
    np.testing.assert_allclose(got, [ref.h_inv(v) for v in y], rtol=1e-5, atol=1e-6)


def test_gradients_are_finite_at_zero():
    for fn in (rlb.signed_hyperbolic, rlb.signed_parabolic, rlb.signed_logp1):
        # (sign(x)·g(|x|) forms such as signed_logp1 give 0 at exactly 0)
        assert np.isfinite(jax.jit(jax.grad(fn))(jnp.float32(0.0)))
    # h'(0) = 1/2 + ε and (h⁻¹)'(0) = 1 / h'(0)
    grad_h = jax.jit(jax.grad(rlb.signed_hyperbolic))(jnp.float32(0.0))
    np.testing.assert_allclose(grad_h, 0.501, rtol=1e-6)
    grad_h_inv = jax.jit(jax.grad(rlb.signed_parabolic))(jnp.float32(0.0))
    np.testing.assert_allclose(grad_h_inv, 1 / 0.501, rtol=1e-5)


def test_transforms_reject_integer_input():
    with pytest.raises(ValueError, match="x must have a floating-point dtype"):
        rlb.signed_hyperbolic(jnp.arange(3))
    with pytest.raises(ValueError, match="p must be > 0"):
        rlb.power(f32([1.0]), 0.0)


# --- 2-hot -----------------------------------------------------------------------


def test_two_hot_hand_values(variant):
    # support [−1, −.5, 0, .5, 1]: 0.25 sits halfway between 0 and 0.5; 3 clips to
    # the last atom; 0.5 is an atom; −0.9 is 0.2 of the way from −1 to −0.5
    fn = variant(lambda x: rlb.transform_to_2hot(x, -1.0, 1.0, 5))
    out = fn(f32([0.25, 3.0, 0.5, -0.9]))
    want = [
        [0, 0, 0.5, 0.5, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 1, 0],
        [0.8, 0.2, 0, 0, 0],
    ]
    np.testing.assert_allclose(out, want, atol=1e-6)
    back = variant(lambda p: rlb.transform_from_2hot(p, -1.0, 1.0, 5))(out)
    np.testing.assert_allclose(back, [0.25, 1.0, 0.5, -0.9], atol=1e-6)


def test_two_hot_round_trips_and_keeps_leading_axes():
    rng = np.random.default_rng(0)
    x = rng.uniform(-7, 13, size=(4, 6)).astype(np.float32)
    x[0, :2] = [-7.0, 13.0]  # both ends
    pair = rlb.twohot_pair(-7.0, 13.0, 21)
    probs = jax.jit(pair.apply)(f32(x))
    assert probs.shape == (4, 6, 21)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    assert np.all(probs >= 0) and np.all(np.sum(probs > 0, axis=-1) <= 2)
    np.testing.assert_allclose(jax.jit(pair.apply_inv)(probs), x, atol=1e-5)


def test_two_hot_bad_arguments():
    with pytest.raises(ValueError, match="num_bins"):
        rlb.transform_to_2hot(f32([0.0]), -1.0, 1.0, 1)
    with pytest.raises(ValueError, match="min_value must be < max_value"):
        rlb.transform_to_2hot(f32([0.0]), 1.0, 1.0, 3)
    with pytest.raises(ValueError, match=r"probs must have shape \[..., 5\]"):
        rlb.transform_from_2hot(f32(np.ones((2, 4))), -1.0, 1.0, 5)


def test_muzero_pair_squashes_then_encodes():
    pair = rlb.muzero_pair(-10.0, 10.0, 41, rlb.SIGNED_HYPERBOLIC_PAIR)
    x = f32([-50.0, 0.0, 3.0, 80.0])
    probs = jax.jit(pair.apply)(x)
    # the encoding is the 2-hot of h(x) on the uniform support
    direct = jax.jit(rlb.transform_to_2hot, static_argnums=(1, 2, 3))(
        rlb.signed_hyperbolic(x), -10.0, 10.0, 41
    )
    np.testing.assert_allclose(probs, direct, atol=1e-6)
    np.testing.assert_allclose(jax.jit(pair.apply_inv)(probs), x, rtol=1e-5, atol=1e-5)


def test_unbiased_pair_places_atoms_by_the_inverse_and_keeps_the_mean():
    pair = rlb.unbiased_transform_pair(-5.0, 5.0, 11, rlb.SIGNED_HYPERBOLIC_PAIR)
    # atoms b_i = h⁻¹(−5 + i); x = h⁻¹(1.5) lies halfway between h⁻¹(1) and h⁻¹(2)
    # in value space at fraction (x − h⁻¹(1)) / (h⁻¹(2) − h⁻¹(1))
    b1, b2 = ref.h_inv(1.0), ref.h_inv(2.0)
    x = 0.5 * (b1 + b2)
    probs = jax.jit(pair.apply)(f32([x]))[0]
    want = np.zeros(11)
    want[6] = want[7] = 0.5
    np.testing.assert_allclose(probs, want, atol=1e-5)
    values = f32([-30.0, -1.0, 0.0, 0.7, 12.0, 34.0])  # atoms span ±34.6
    back = jax.jit(lambda v: pair.apply_inv(pair.apply(v)))(values)
    np.testing.assert_allclose(back, values, rtol=1e-5, atol=1e-5)


def test_compose_tx_applies_in_order_and_inverts_in_reverse():
    double = rlb.TxPair(lambda x: 2.0 * x, lambda x: x / 2.0)
    shift = rlb.TxPair(lambda x: x + 1.0, lambda x: x - 1.0)
    pair = rlb.compose_tx(double, shift)
    # apply: 2·3 + 1 = 7; apply_inv: (7 − 1) / 2 = 3
    assert float(pair.apply(3.0)) == 7.0
    assert float(pair.apply_inv(7.0)) == 3.0


def test_vmap_equals_loop():
    x = f32(np.linspace(-3, 3, 8).reshape(4, 2))
    fn = jax.jit(lambda v: rlb.transform_to_2hot(v, -2.0, 2.0, 9))
    batched = jax.vmap(fn)(x)
    np.testing.assert_allclose(batched, np.stack([fn(row) for row in x]), atol=0)


def test_one_hot_refuses_a_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1, got -1"):
        rlb.one_hot(jnp.zeros(2, jnp.int32), -1)
    # numpy ints are integers: index 1 of 3 classes.
    assert rlb.one_hot(jnp.ones(1, jnp.int32), np.int64(3)).tolist() == [[0, 1, 0]]

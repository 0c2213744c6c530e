"""Elementwise losses, gradient clipping, one-hot and batched indexing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlblocks as rlb
from rlblocks._src import losses


def test_l2_loss(variant):
    # ½ [1², (-2)², 0.5²] = [0.5, 2, 0.125]
    out = variant(rlb.l2_loss)(jnp.array([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(out, [0.5, 2.0, 0.125])
    # ½ [(3 - 1)², (1 - 1)²] = [2, 0]
    out = variant(rlb.l2_loss)(jnp.array([3.0, 1.0]), jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(out, [2.0, 0.0])


def test_l2_loss_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"^targets must have shape"):
        rlb.l2_loss(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"^targets must have rank 1"):
        rlb.l2_loss(jnp.zeros(3), jnp.zeros((3, 1)))


def test_huber_loss(variant):
    x = jnp.array([0.5, -2.0, 3.0])
    # δ=1: ½ 0.5² = 0.125; 1 (2 - ½) = 1.5; 1 (3 - ½) = 2.5
    np.testing.assert_allclose(variant(rlb.huber_loss)(x, 1.0), [0.125, 1.5, 2.5])
    # δ=2: 0.125; ½ 2² = 2 (boundary, both branches agree); 2 (3 - 1) = 4
    np.testing.assert_allclose(variant(rlb.huber_loss)(x, 2.0), [0.125, 2.0, 4.0])


def test_huber_loss_gradient_is_clipped_to_delta():
    # dL/dx = x inside [-δ, δ], δ sign(x) outside
    g = jax.grad(lambda x: rlb.huber_loss(x, 1.0).sum())(jnp.array([0.5, -2.0, 3.0]))
    np.testing.assert_allclose(g, [0.5, -1.0, 1.0])


def test_huber_loss_bad_delta_raises():
    with pytest.raises(ValueError, match="delta must be > 0"):
        rlb.huber_loss(jnp.zeros(2), 0.0)


def test_clip_gradient(variant):
    x = jnp.array([1.0, 2.0, 3.0])
    upstream = jnp.array([3.0, -0.5, -4.0])
    fn = variant(rlb.clip_gradient)
    np.testing.assert_array_equal(fn(x, -1.0, 1.0), x)  # identity forward
    # incoming gradient [3, -0.5, -4] clipped to [-1, 1]: [1, -0.5, -1]
    g = jax.grad(lambda x: jnp.sum(fn(x, -1.0, 1.0) * upstream))(x)
    np.testing.assert_allclose(g, [1.0, -0.5, -1.0])


def test_one_hot(variant):
    fn = variant(rlb.one_hot, static_argnums=1)
    np.testing.assert_array_equal(fn(jnp.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    # out-of-range index: all zeros
    np.testing.assert_array_equal(fn(jnp.array([3]), 3), [[0, 0, 0]])
    assert fn(jnp.array([[1]]), 2).shape == (1, 1, 2)


def test_one_hot_float_indices_raise():
    with pytest.raises(ValueError, match="indices must have an integer dtype"):
        rlb.one_hot(jnp.array([1.0]), 3)


def test_batched_index(variant):
    values = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    fn = variant(rlb.batched_index, static_argnums=2)
    # row 0 picks index 2 -> 3; row 1 picks index 0 -> 4
    np.testing.assert_array_equal(fn(values, jnp.array([2, 0]), False), [3.0, 4.0])
    np.testing.assert_array_equal(fn(values, jnp.array([2, 0]), True), [[3.0], [4.0]])
    # unbatched: values [N], index []
    np.testing.assert_array_equal(fn(values[1], jnp.array(1), False), 5.0)
    # two leading axes [2, 1, 3] with indices [2, 1]: [[3], [6]]
    out = fn(values[:, None], jnp.array([[2], [2]]), False)
    np.testing.assert_array_equal(out, [[3.0], [6.0]])


def test_batched_index_gradient_is_one_hot():
    values = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    g = jax.grad(lambda v: rlb.batched_index(v, jnp.array([1, 2])).sum())(values)
    np.testing.assert_array_equal(g, [[0, 1, 0], [0, 0, 1]])


def test_batched_index_bad_inputs_raise():
    values = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match="indices must have an integer dtype"):
        rlb.batched_index(values, jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"^indices must have shape \[d0\] with d0=2"):
        rlb.batched_index(values, jnp.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"^values must have rank >= 1"):
        rlb.batched_index(jnp.array(1.0), jnp.array(0))


def test_td_penalty_and_weighted_mean():
    td = jnp.array([2.0, -0.5])
    # ½ [4, 0.25] = [2, 0.125]; Huber_1: [1 (2 - ½), 0.125] = [1.5, 0.125]
    np.testing.assert_allclose(losses.td_penalty(td), [2.0, 0.125])
    np.testing.assert_allclose(losses.td_penalty(td, 1.0), [1.5, 0.125])
    # (1/2)(3 * 2 + 2 * 0.125) = 3.125
    per_example = jnp.array([2.0, 0.125])
    weights = jnp.array([3.0, 2.0])
    np.testing.assert_allclose(losses.weighted_mean(per_example, weights), 3.125)
    # No weights: the plain mean (2 + 0.125) / 2 = 1.0625
    np.testing.assert_allclose(losses.weighted_mean(per_example), 1.0625)
    with pytest.raises(ValueError, match="weights must have shape"):
        losses.weighted_mean(per_example, jnp.ones(3))

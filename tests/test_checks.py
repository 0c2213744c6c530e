"""Trace-time shape checks: messages name the argument, layout and shape."""

import jax
import jax.numpy as jnp
import pytest

from rlblocks._src import checks


def test_rank_error_names_argument_and_shape():
    with pytest.raises(
        ValueError, match=r"q_t must have rank 1 \(\[A\]\), got shape \(32, 4\)"
    ):
        checks.check_shapes({"q_t": (jnp.zeros((32, 4)), "A")})


def test_dimension_mismatch_names_both_arguments():
    with pytest.raises(
        ValueError,
        match=r"a_tm1 must have shape \[B\] with B=3 \(from q_tm1 of shape \(3, 2\)\), got shape \(4,\)",
    ):
        checks.check_shapes(
            {
                "q_tm1": (jnp.zeros((3, 2)), "B A"),
                "a_tm1": (jnp.zeros(4, jnp.int32), "B"),
            }
        )


def test_returns_dims_and_checks_dtype():
    dims = checks.check_shapes(
        {"q": (jnp.zeros((3, 2)), "B A"), "a": (jnp.zeros(3, jnp.int32), "B", "int")}
    )
    assert dims == {"B": 3, "A": 2}
    with pytest.raises(ValueError, match="a must have an integer dtype, got float32"):
        checks.check_shapes({"a": (jnp.zeros(3), "B", "int")})


def test_fixed_size_and_known_dims():
    with pytest.raises(ValueError, match=r"x must have shape \[B, 2\]"):
        checks.check_shapes({"x": (jnp.zeros((3, 5)), "B 2")})
    with pytest.raises(ValueError, match=r"with A=4 \(from the caller\)"):
        checks.check_shapes({"x": (jnp.zeros(3), "A")}, dims={"A": 4})


def test_checks_run_at_trace_time_under_jit():
    f = jax.jit(lambda x: checks.check_shapes({"x": (x, "B")}) and x)
    with pytest.raises(ValueError, match="x must have rank 1"):
        f(jnp.zeros((2, 2)))


def test_check_in_range():
    checks.check_in_range(0.5, 0.0, 1.0, "epsilon")
    with pytest.raises(ValueError, match=r"epsilon must lie in \[0.0, 1.0\], got 1.5"):
        checks.check_in_range(1.5, 0.0, 1.0, "epsilon")
    with pytest.raises(ValueError, match="epsilon must lie"):
        checks.check_in_range(float("nan"), 0.0, 1.0, "epsilon")


def test_empty_batch_or_time_axis_is_refused():
    # A mean over B = 0 examples is NaN and a return over T = 0 steps has nothing
    # to bootstrap from: both are refused by name, here and in the losses using
    # these layouts; other axes (A = 0 actions here) are the caller's business.
    with pytest.raises(ValueError, match=r"q must have a non-empty batch axis B"):
        checks.check_shapes({"q": (jnp.ones((0, 3)), "B A")})
    with pytest.raises(ValueError, match=r"r_t must have a non-empty time axis T"):
        checks.check_shapes({"r_t": (jnp.ones(0), "T")})
    assert checks.check_shapes({"q": (jnp.ones((2, 0)), "B A")}) == {"B": 2, "A": 0}
    import rlblocks as rlb

    with pytest.raises(ValueError, match="q_tm1 must have a non-empty batch axis"):
        rlb.q_learning_loss(
            jnp.ones((0, 3)),
            jnp.zeros(0, int),
            jnp.ones(0),
            jnp.ones(0),
            jnp.ones((0, 3)),
        )
    with pytest.raises(ValueError, match="r_t must have a non-empty time axis"):
        jax.jit(rlb.lambda_returns)(jnp.ones(0), jnp.ones(0), jnp.ones(0))
    with pytest.raises(ValueError, match="policy_logits must have non-empty leading"):
        rlb.discrete_policy_entropy_loss(jnp.zeros((0, 3)))


def test_concrete_numpy_scalars_are_checked_like_python_numbers():
    # Hyperparameter checks see numpy scalars (np.float32(1), np.int64(5)) as the
    # numbers they are: out-of-range ones are refused, valid ones accepted.
    import numpy as np

    import rlblocks as rlb

    assert checks.is_number(np.float32(1)) and checks.is_integer(np.int64(5))
    assert not checks.is_number(True) and not checks.is_integer(jnp.int32(5))
    x = jnp.float32(0.5)
    with pytest.raises(ValueError, match="min_value must be < max_value"):
        rlb.transform_to_2hot(x, np.float32(1), np.float32(1), 5)
    # 0.5 on 5 bins over [0, 1] (spacing 0.25) is bin 2 exactly.
    two_hot = rlb.transform_to_2hot(x, 0.0, 1.0, np.int64(5))
    assert two_hot.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    trees = ({"w": jnp.ones(2)}, {"w": jnp.zeros(2)}, jnp.int32(0))
    for period in (np.int64(0), 2.5):
        with pytest.raises(ValueError, match="update_period must be an integer >= 1"):
            rlb.periodic_update(*trees, period)
    with pytest.raises(ValueError, match="huber_delta must be > 0 or None"):
        q, a, r = jnp.ones((2, 3)), jnp.zeros(2, jnp.int32), jnp.ones(2)
        rlb.q_learning_loss(q, a, r, r, q, huber_delta=np.float32(-1))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        rlb.signed_parabolic(jnp.ones(2), eps=np.float64(-0.5))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        rlb.softmax(temperature=np.float32(0))

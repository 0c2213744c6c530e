"""Target-network updates: hand values, agreement with optax, bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rlblocks as rlb


def _params(scale):
    return {
        "w": jnp.full((2, 3), scale, jnp.float32),
        "b": [jnp.asarray([scale, -scale], jnp.float32)],
    }


def test_incremental_update_hand_values(variant):
    new, old = _params(1.0), _params(3.0)
    out = variant(rlb.incremental_update)(new, old, 0.25)
    # 0.25 * 1 + 0.75 * 3 = 2.5 ; and -0.25 * 1 - 0.75 * 3 = -2.5
    np.testing.assert_allclose(out["w"], np.full((2, 3), 2.5))
    np.testing.assert_allclose(out["b"][0], [2.5, -2.5])


@pytest.mark.parametrize("tau", [0.0, 0.005, 0.5, 1.0])
def test_incremental_update_agrees_with_optax(variant, tau):
    rng = np.random.default_rng(0)
    new = {
        "a": jnp.asarray(rng.normal(size=(4, 5)), jnp.float32),
        "c": jnp.asarray(rng.normal(size=7), jnp.float32),
    }
    old = jax.tree.map(lambda x: 2.0 * x + 1.0, new)
    ours = variant(rlb.incremental_update)(new, old, tau)
    theirs = optax.incremental_update(new, old, tau)
    # Same formula; jit may fuse it into a multiply-add, hence an ulp of slack.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), ours, theirs)


def test_incremental_update_keeps_target_dtype():
    new = {"w": jnp.ones((3,), jnp.bfloat16)}
    old = {"w": jnp.zeros((3,), jnp.bfloat16)}
    out = rlb.incremental_update(new, old, jnp.float32(0.5))
    assert out["w"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(out["w"], np.float32), [0.5] * 3)


def test_periodic_update_hand_values(variant):
    new, old = _params(1.0), _params(3.0)
    fn = variant(rlb.periodic_update)
    # update_period 4: steps 0, 4, 8 copy the online params; 1, 2, 3, 5 keep target.
    for step, want in [(0, 1.0), (1, 3.0), (3, 3.0), (4, 1.0), (5, 3.0), (8, 1.0)]:
        out = fn(new, old, jnp.asarray(step), 4)
        np.testing.assert_array_equal(out["w"], np.full((2, 3), want))
        np.testing.assert_array_equal(out["b"][0], [want, -want])


def test_periodic_update_agrees_with_optax_in_scan():
    # A target updated every 3 steps inside a scan, ours against optax's.
    def run(update):
        def body(target, t):
            online = {"x": jnp.full((2,), t, jnp.float32)}
            target = update(online, target, t, 3)
            return target, target["x"][0]

        return jax.lax.scan(body, {"x": jnp.zeros((2,))}, jnp.arange(10))[1]

    ours, theirs = run(rlb.periodic_update), run(optax.periodic_update)
    np.testing.assert_array_equal(ours, theirs)
    # Copies at t = 0, 3, 6, 9.
    np.testing.assert_array_equal(ours, [0, 0, 0, 3, 3, 3, 6, 6, 6, 9])


def test_vmap_over_step_sizes_equals_loop():
    new, old = {"w": jnp.arange(3.0)}, {"w": jnp.ones(3)}
    taus = jnp.asarray([0.0, 0.1, 0.9])
    batched = jax.vmap(lambda t: rlb.incremental_update(new, old, t))(taus)
    for i, t in enumerate(taus):
        np.testing.assert_allclose(
            batched["w"][i], rlb.incremental_update(new, old, t)["w"]
        )


@pytest.mark.parametrize("fn", ["incremental", "periodic"])
def test_mismatched_trees_raise(fn):
    def call(new, old):
        if fn == "incremental":
            return rlb.incremental_update(new, old, 0.1)
        return rlb.periodic_update(new, old, jnp.asarray(0), 2)

    with pytest.raises(ValueError, match="tree structure"):
        call({"w": jnp.ones(2)}, {"v": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"\['w'\] has shape \(2,\)"):
        call({"w": jnp.ones(2)}, {"w": jnp.ones(3)})
    with pytest.raises(ValueError, match="dtype"):
        call({"w": jnp.ones(2)}, {"w": jnp.ones(2, jnp.int32)})


def test_bad_hyperparameters_raise():
    p = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="step_size"):
        rlb.incremental_update(p, p, 1.5)
    with pytest.raises(ValueError, match="step_size must have rank 0"):
        rlb.incremental_update(p, p, jnp.ones(2) * 0.1)
    with pytest.raises(ValueError, match="update_period"):
        rlb.periodic_update(p, p, jnp.asarray(0), 0)
    with pytest.raises(ValueError, match="steps must have an integer dtype"):
        rlb.periodic_update(p, p, jnp.asarray(0.0), 2)

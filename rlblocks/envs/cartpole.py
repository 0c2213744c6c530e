"""CartPole-v1 in pure JAX, step for step equal to gymnasium's numpy version.

A pole hinged on a cart moving along a frictionless track; push the cart left or
right (force ±10 N) to keep the pole upright. Explicit Euler integration with
τ = 0.02 s; reward +1 per step; the episode terminates when |x| > 2.4 or
|θ| > 12°, and is truncated after 500 steps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import checks, types
from rlblocks.envs import base

GRAVITY = 9.8
MASS_CART = 1.0
MASS_POLE = 0.1
TOTAL_MASS = MASS_CART + MASS_POLE
HALF_LENGTH = 0.5  # half the pole's length
POLEMASS_LENGTH = MASS_POLE * HALF_LENGTH  # 0.05
FORCE_MAG = 10.0
TAU = 0.02  # seconds between state updates
THETA_THRESHOLD = 12 * 2 * math.pi / 360  # 12 degrees in radians
X_THRESHOLD = 2.4
RESET_BOUND = 0.05  # every state variable starts uniform in [-0.05, 0.05)


class CartPoleState(NamedTuple):
    """CartPole state (one environment; leading axes under vmap).

    Attributes:
      x: [] cart position. x_dot: [] cart velocity.
      theta: [] pole angle from vertical (rad). theta_dot: [] angular velocity.
      time: [] int32 steps taken in the episode.
    """

    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array


def _observe(state: CartPoleState) -> jax.Array:
    return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot])


def _out_of_bounds(x: jax.Array, theta: jax.Array) -> jax.Array:
    return (jnp.abs(x) > X_THRESHOLD) | (jnp.abs(theta) > THETA_THRESHOLD)


def _reset(key: types.PRNGKey) -> tuple[CartPoleState, jax.Array]:
    v = jax.random.uniform(key, (4,), minval=-RESET_BOUND, maxval=RESET_BOUND)
    state = CartPoleState(v[0], v[1], v[2], v[3], jnp.zeros((), jnp.int32))
    return state, _observe(state)


def _dynamics(s: CartPoleState, action: jax.Array):
    force = jnp.where(action == 1, FORCE_MAG, -FORCE_MAG)
    cos, sin = jnp.cos(s.theta), jnp.sin(s.theta)
    temp = (force + POLEMASS_LENGTH * s.theta_dot**2 * sin) / TOTAL_MASS
    theta_acc = (GRAVITY * sin - cos * temp) / (
        HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * cos**2 / TOTAL_MASS)
    )
    x_acc = temp - POLEMASS_LENGTH * theta_acc * cos / TOTAL_MASS
    return (
        s.x + TAU * s.x_dot,
        s.x_dot + TAU * x_acc,
        s.theta + TAU * s.theta_dot,
        s.theta_dot + TAU * theta_acc,
    )


def cartpole(max_episode_steps: int = 500) -> base.Env:
    """CartPole-v1 (Barto, Sutton and Anderson's cart-pole) as a pure-JAX `Env`.

    ẍ, θ̈ from the cart-pole equations; xₜ₊₁ = xₜ + τ ẋₜ, ẋₜ₊₁ = ẋₜ + τ ẍₜ (same
    for θ); r = 1; terminated = |x| > 2.4 or |θ| > 12°.

    Stepping from a terminal state to a terminal state gives reward 0, like
    gymnasium after termination.

    Args:
      max_episode_steps: time limit (500 for CartPole-v1).

    Returns:
      `Env(reset, step, spec, observe)`; actions are int scalars in {0, 1}
      (0 pushes left, 1 right); observations are [4] float32
      (x, ẋ, θ, θ̇).

    References:
      Barto, Sutton and Anderson, "Neuronlike adaptive elements that can solve
      difficult learning control problems", 1983.
    """
    max_episode_steps = base.check_count(max_episode_steps, "max_episode_steps")

    def step(key, state, action):
        del key  # deterministic
        checks.check_rank(action, 0, "action", "[]")
        checks.check_dtype(action, "int", "action")
        x, x_dot, theta, theta_dot = _dynamics(state, action)
        time, truncated = base.time_limit(state.time, max_episode_steps)
        new_state = CartPoleState(x, x_dot, theta, theta_dot, time)
        terminated = _out_of_bounds(x, theta)
        stepped_past_end = terminated & _out_of_bounds(state.x, state.theta)
        reward = 1.0 - stepped_past_end.astype(jnp.float32)
        return new_state, _observe(new_state), reward, terminated, truncated

    spec = base.EnvSpec("CartPole-v1", (4,), 2, (), None, None, max_episode_steps)
    return base.Env(_reset, step, spec, _observe)

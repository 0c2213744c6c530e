"""Acrobot-v1 in pure JAX, step for step equal to gymnasium's numpy version.

Two links hinged in a chain, the joint between them actuated with torque
-1, 0 or +1. One RK4 step of dt = 0.2 s per action ("book" dynamics of Sutton and
Barto); angles wrapped to [-π, π], velocities bounded by 4π and 9π; reward -1
per step until the free end swings above the bar (-cos θ₁ - cos(θ₁ + θ₂) > 1),
truncated after 500 steps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import checks, types
from rlblocks.envs import base

DT = 0.2
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
GRAVITY = 9.8
MAX_VEL_1 = 4 * math.pi
MAX_VEL_2 = 9 * math.pi
TORQUES = (-1.0, 0.0, 1.0)
RESET_BOUND = 0.1  # every state variable starts uniform in [-0.1, 0.1)


class AcrobotState(NamedTuple):
    """Acrobot state (one environment; leading axes under vmap).

    Attributes:
      theta1: [] angle of the first link from hanging down (rad, in [-π, π]).
      theta2: [] angle of the second link relative to the first.
      dtheta1: [] angular velocity of the first link. dtheta2: [] of the second.
      time: [] int32 steps taken in the episode.
    """

    theta1: jax.Array
    theta2: jax.Array
    dtheta1: jax.Array
    dtheta2: jax.Array
    time: jax.Array


def _observe(s: AcrobotState) -> jax.Array:
    return jnp.stack(
        [
            jnp.cos(s.theta1),
            jnp.sin(s.theta1),
            jnp.cos(s.theta2),
            jnp.sin(s.theta2),
            s.dtheta1,
            s.dtheta2,
        ]
    )


def _reset(key: types.PRNGKey) -> tuple[AcrobotState, jax.Array]:
    v = jax.random.uniform(key, (4,), minval=-RESET_BOUND, maxval=RESET_BOUND)
    state = AcrobotState(v[0], v[1], v[2], v[3], jnp.zeros((), jnp.int32))
    return state, _observe(state)


def _derivatives(y: jax.Array, torque: jax.Array) -> jax.Array:
    """d/dt of [θ₁, θ₂, θ̇₁, θ̇₂] under a constant torque (the "book" equations)."""
    theta1, theta2, dtheta1, dtheta2 = y[0], y[1], y[2], y[3]
    m1, m2, l1, lc1, lc2, i1, i2 = (
        *(LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1),
        *(LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI),
    )
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(theta2)) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(theta2)) + i2
    phi2 = m2 * lc2 * GRAVITY * jnp.cos(theta1 + theta2 - math.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * jnp.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * jnp.sin(theta2)
        + (m1 * lc1 + m2 * l1) * GRAVITY * jnp.cos(theta1 - math.pi / 2)
        + phi2
    )
    ddtheta2 = (
        torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * jnp.sin(theta2) - phi2
    ) / (m2 * lc2**2 + i2 - d2**2 / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])


def _rk4(y0: jax.Array, torque: jax.Array, dt: float) -> jax.Array:
    """One classical Runge-Kutta step of size `dt`."""
    k1 = _derivatives(y0, torque)
    k2 = _derivatives(y0 + dt / 2 * k1, torque)
    k3 = _derivatives(y0 + dt / 2 * k2, torque)
    k4 = _derivatives(y0 + dt * k3, torque)
    return y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def _wrap(x: jax.Array, low: float, high: float) -> jax.Array:
    """Shift `x` by whole periods into [low, high]; values inside are unchanged."""
    period = high - low
    above = x - period * jnp.ceil((x - high) / period)
    below = x + period * jnp.ceil((low - x) / period)
    return jnp.where(x > high, above, jnp.where(x < low, below, x))


def acrobot(max_episode_steps: int = 500) -> base.Env:
    """Acrobot-v1 (Sutton's two-link underactuated swing-up) as a pure-JAX `Env`.

    yₜ₊₁ = RK4(f, [θ₁, θ₂, θ̇₁, θ̇₂], τ(aₜ), dt=0.2); r = -1 until
    -cos θ₁ - cos(θ₁ + θ₂) > 1 (terminated, r = 0).

    Args:
      max_episode_steps: time limit (500 for Acrobot-v1).

    Returns:
      `Env(reset, step, spec, observe)`; actions are int scalars in {0, 1, 2}
      (torque -1, 0, +1); observations are [6] float32
      (cos θ₁, sin θ₁, cos θ₂, sin θ₂, θ̇₁, θ̇₂).

    References:
      Sutton, "Generalization in reinforcement learning: successful examples using
      sparse coarse coding", 1996; Sutton and Barto, "Reinforcement Learning: An
      Introduction", 1998.
    """
    max_episode_steps = base.check_count(max_episode_steps, "max_episode_steps")

    def step(key, state, action):
        del key  # deterministic (gymnasium's torque noise is 0)
        checks.check_rank(action, 0, "action", "[]")
        checks.check_dtype(action, "int", "action")
        torque = jnp.asarray(TORQUES)[action]
        y0 = jnp.stack([state.theta1, state.theta2, state.dtheta1, state.dtheta2])
        y = _rk4(y0, torque, DT)
        theta1 = _wrap(y[0], -math.pi, math.pi)
        theta2 = _wrap(y[1], -math.pi, math.pi)
        dtheta1 = jnp.clip(y[2], -MAX_VEL_1, MAX_VEL_1)
        dtheta2 = jnp.clip(y[3], -MAX_VEL_2, MAX_VEL_2)
        time, truncated = base.time_limit(state.time, max_episode_steps)
        new_state = AcrobotState(theta1, theta2, dtheta1, dtheta2, time)
        terminated = -jnp.cos(theta1) - jnp.cos(theta2 + theta1) > 1.0
        reward = jnp.where(terminated, 0.0, -1.0).astype(jnp.float32)
        return new_state, _observe(new_state), reward, terminated, truncated

    spec = base.EnvSpec("Acrobot-v1", (6,), 3, (), None, None, max_episode_steps)
    return base.Env(_reset, step, spec, _observe)

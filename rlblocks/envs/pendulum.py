"""Pendulum-v1 in pure JAX, step for step equal to gymnasium's numpy version.

Swing a pendulum up and hold it upright with a torque clipped to [-2, 2];
semi-implicit Euler with dt = 0.05, angular speed clipped to [-8, 8]; reward
-(θ² + 0.1 θ̇² + 0.001 u²) with θ normalized to [-π, π); never terminates,
truncated after 200 steps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlblocks._src import checks, types
from rlblocks.envs import base

MAX_SPEED = 8.0
MAX_TORQUE = 2.0
DT = 0.05
MASS = 1.0
LENGTH = 1.0
RESET_THETA = math.pi  # θ starts uniform in [-π, π)
RESET_THETA_DOT = 1.0  # θ̇ starts uniform in [-1, 1)


class PendulumState(NamedTuple):
    """Pendulum state (one environment; leading axes under vmap).

    Attributes:
      theta: [] angle from upright (rad, not normalized).
      theta_dot: [] angular velocity.
      time: [] int32 steps taken in the episode.
    """

    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array


def _observe(s: PendulumState) -> jax.Array:
    return jnp.stack([jnp.cos(s.theta), jnp.sin(s.theta), s.theta_dot])


def _reset(key: types.PRNGKey) -> tuple[PendulumState, jax.Array]:
    high = jnp.array([RESET_THETA, RESET_THETA_DOT])
    v = jax.random.uniform(key, (2,), minval=-high, maxval=high)
    state = PendulumState(v[0], v[1], jnp.zeros((), jnp.int32))
    return state, _observe(state)


def angle_normalize(x: types.ArrayLike) -> jax.Array:
    """Map an angle to [-π, π): ((x + π) mod 2π) - π.

    Args:
      x: [...] angles in radians.

    Returns:
      [...] the same angles in [-π, π).
    """
    return jnp.mod(x + math.pi, 2 * math.pi) - math.pi


def pendulum(max_episode_steps: int = 200, g: float = 10.0) -> base.Env:
    """Pendulum-v1 (inverted pendulum swing-up) as a pure-JAX `Env`.

    u = clip(a, -2, 2); θ̇ₜ₊₁ = clip(θ̇ₜ + (3g/2l sin θₜ + 3/(ml²) u) dt, -8, 8);
    θₜ₊₁ = θₜ + θ̇ₜ₊₁ dt; r = -(norm(θₜ)² + 0.1 θ̇ₜ² + 0.001 u²).

    Args:
      max_episode_steps: time limit (200 for Pendulum-v1).
      g: gravity (gymnasium's default 10.0).

    Returns:
      `Env(reset, step, spec, observe)`; actions are [1] float torques (clipped
      to [-2, 2]); observations are [3] float32 (cos θ, sin θ, θ̇).
    """
    max_episode_steps = base.check_count(max_episode_steps, "max_episode_steps")

    def step(key, state, action):
        del key  # deterministic
        checks.check_shapes({"action": (action, "1", "float")})
        u = jnp.clip(action, -MAX_TORQUE, MAX_TORQUE)[0]
        th, thdot = state.theta, state.theta_dot
        cost = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
        accel = 3 * g / (2 * LENGTH) * jnp.sin(th) + 3.0 / (MASS * LENGTH**2) * u
        new_thdot = jnp.clip(thdot + accel * DT, -MAX_SPEED, MAX_SPEED)
        time, truncated = base.time_limit(state.time, max_episode_steps)
        new_state = PendulumState(th + new_thdot * DT, new_thdot, time)
        terminated = jnp.zeros((), bool)
        return new_state, _observe(new_state), -cost, terminated, truncated

    spec = base.EnvSpec(
        "Pendulum-v1", (3,), None, (1,), -MAX_TORQUE, MAX_TORQUE, max_episode_steps
    )
    return base.Env(_reset, step, spec, _observe)

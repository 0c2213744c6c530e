"""Schedules: `step -> value` callables (optax's `Schedule` signature).

Every schedule here is jit-safe with a traced step, and gives bit-identical values
whether called eagerly, under `jax.jit`, `jax.vmap` or inside `lax.scan`: each is
compiled with `jax.jit` once, so eager calls run the same fused arithmetic as traced
ones (optax's schedules evaluated op by op differ from their compiled form by an
ulp, which makes eager and jitted training runs drift apart).

From optax, compiled but otherwise unchanged (same arguments and values):
`constant_schedule`, `linear_schedule`, `exponential_decay`,
`piecewise_constant_schedule`. Added here, because optax lacks them:

- `linearly_decaying_epsilon`: the epsilon-greedy schedule of DQN agents (hold,
  decay linearly, hold) with Dopamine's semantics and epsilon range checks.
- `piecewise_linear_schedule`: linear interpolation between `(step, value)` knots.
  optax's `piecewise_interpolate_schedule` takes multiplicative *scales* between
  knots, so it cannot reach a value of 0 and back, nor start from 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rlblocks._src import checks
from rlblocks._src.types import Array, Numeric, Schedule


def _compiled(schedule: Schedule) -> Schedule:
    return jax.jit(schedule)


def constant_schedule(value: float) -> Schedule:
    """A schedule that always returns `value` (optax's, compiled).

    v(t) = v

    Args:
      value: the constant.

    Returns:
      A schedule `step -> value`.
    """
    return _compiled(optax.constant_schedule(value))


def linear_schedule(
    init_value: float,
    end_value: float,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """Hold, go linearly from `init_value` to `end_value`, hold (optax's, compiled).

    v(t) = v₀ + (v₁ − v₀) clip((t − b)/T, 0, 1)

    Args:
      init_value: v₀, the value up to step `transition_begin`.
      end_value: v₁, the value from step `transition_begin + transition_steps`.
      transition_steps: T; if T ≤ 0 the schedule is constant at `init_value`.
      transition_begin: b ≥ 0.

    Returns:
      A schedule `step -> v(step)`.
    """
    return _compiled(
        optax.linear_schedule(init_value, end_value, transition_steps, transition_begin)
    )


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> Schedule:
    """Exponential decay after `transition_begin`, optionally floored (optax's).

    v(t) = v₀ · r^((t − b)/T) for t ≥ b (exponent floored if `staircase`), bounded
    by `end_value`

    Args:
      init_value: v₀.
      transition_steps: T > 0, steps per factor of `decay_rate`.
      decay_rate: r.
      transition_begin: b ≥ 0, steps held at `init_value` first.
      staircase: decay in discrete steps of T.
      end_value: lower bound when decaying (upper bound when r > 1), or None.

    Returns:
      A schedule `step -> v(step)`.
    """
    return _compiled(
        optax.exponential_decay(
            init_value,
            transition_steps,
            decay_rate,
            transition_begin,
            staircase,
            end_value,
        )
    )


def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: dict[int, float] | None = None
) -> Schedule:
    """Multiply the value by a scale from each boundary step on (optax's, compiled).

    v(t) = v₀ · Π_{b ≤ t} s_b

    Args:
      init_value: v₀.
      boundaries_and_scales: maps a step b to the factor s_b applied from step b.

    Returns:
      A schedule `step -> v(step)`.
    """
    return _compiled(
        optax.piecewise_constant_schedule(init_value, boundaries_and_scales)
    )


def linearly_decaying_epsilon(
    decay_period: int,
    warmup_steps: int,
    epsilon: float,
    *,
    init_value: float = 1.0,
) -> Schedule:
    """Epsilon held during warm-up, then decayed linearly, then held at `epsilon`.

    ε(t) = ε₀ if t ≤ W;  ε₀ + (ε − ε₀)(t − W)/D if W < t < W + D;  ε if t ≥ W + D

    Dopamine's `linearly_decaying_epsilon(decay_period, step, warmup_steps,
    epsilon)` computes the same values with ε₀ = 1, but takes the step as an
    argument; here the hyperparameters build a schedule that takes the step. Built
    on `optax.linear_schedule`, which has these semantics.

    Args:
      decay_period: D > 0, number of steps over which ε goes from ε₀ to `epsilon`.
      warmup_steps: W ≥ 0, number of steps ε stays at `init_value` first.
      epsilon: final value, in [0, 1].
      init_value: ε₀, value during warm-up, in [0, 1].

    Returns:
      A schedule `step -> ε(step)` ([] float32), jit-safe with a traced step.

    References:
      Mnih et al., Human-level control through deep reinforcement learning, 2015.
      Castro et al., Dopamine: A Research Framework for Deep RL, 2018.
    """
    if int(decay_period) != decay_period or decay_period <= 0:
        raise ValueError(f"decay_period must be a positive integer, got {decay_period}")
    if int(warmup_steps) != warmup_steps or warmup_steps < 0:
        raise ValueError(
            f"warmup_steps must be a non-negative integer, got {warmup_steps}"
        )
    checks.check_in_range(epsilon, 0.0, 1.0, "epsilon")
    checks.check_in_range(init_value, 0.0, 1.0, "init_value")
    return linear_schedule(
        init_value=init_value,
        end_value=epsilon,
        transition_steps=int(decay_period),
        transition_begin=int(warmup_steps),
    )


def piecewise_linear_schedule(
    boundaries: Sequence[int], values: Sequence[float]
) -> Schedule:
    """Linear interpolation between `(boundaries[i], values[i])` knots.

    v(t) = vᵢ + (vᵢ₊₁ − vᵢ)(t − bᵢ)/(bᵢ₊₁ − bᵢ) for bᵢ ≤ t ≤ bᵢ₊₁; v₀ before b₀;
    the last value after the last boundary.

    Not in optax (its `piecewise_interpolate_schedule` multiplies by scales, so
    it cannot pass through 0).

    Args:
      boundaries: [K] strictly increasing steps, K ≥ 1.
      values: [K] values at those steps.

    Returns:
      A schedule `step -> v(step)` ([] float32), jit-safe with a traced step.
    """
    b = np.asarray(boundaries, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if b.ndim != 1 or b.size == 0 or v.shape != b.shape:
        raise ValueError(
            "boundaries and values must be non-empty 1-D sequences of equal "
            f"length, got shapes {b.shape} and {v.shape}"
        )
    if np.any(np.diff(b) <= 0):
        raise ValueError(f"boundaries must be strictly increasing, got {boundaries}")
    b32, v32 = jnp.asarray(b, jnp.float32), jnp.asarray(v, jnp.float32)

    def schedule(step: Numeric) -> Array:
        return jnp.interp(jnp.asarray(step, jnp.float32), b32, v32)

    return _compiled(schedule)

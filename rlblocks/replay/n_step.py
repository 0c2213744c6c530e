"""N-step transitions from a stream of one-step transitions of E parallel envs.

Each env keeps a window of its last (up to n) steps. After every step the window
emits, per env, the n-step transitions that are complete:

* the oldest step, once the window holds n steps:
  r = Σ_{k<n} γ^k r_{t+k}, discount = γ^n, obs_t = the newest next observation;
* every step in the window when the episode ends at this step, each with the
  rewards up to the end: discount = γ^m (truncation: bootstrap from the last
  observation) or 0 (termination), m = number of rewards summed.

The emitted block has a fixed shape [E * n] plus a mask [E * n], so it feeds any
buffer's `add(state, transitions, mask=mask)` inside `jax.jit`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks._src import checks
from rlblocks.replay import _common


class Transition(NamedTuple):
    """A (possibly n-step) transition, named as rlax's TD arguments.

    Attributes:
      obs_tm1: observation the action was taken in (pytree, [..., *obs_shape]).
      a_tm1: action taken (pytree, [..., *action_shape]).
      r_t: [...] float32 discounted reward sum Σ_{k<m} γ^k r_{t+k}.
      discount_t: [...] float32 bootstrap discount: γ^m, or 0 after termination.
      obs_t: observation to bootstrap from (same layout as obs_tm1).
    """

    obs_tm1: Any
    a_tm1: Any
    r_t: Any
    discount_t: Any
    obs_t: Any


class NStepState(NamedTuple):
    """Windows of the last steps of E envs, right-aligned (newest at index n-1).

    Attributes:
      obs: pytree of [E, n, *obs_shape] observations o_tm1 of the windowed steps.
      action: pytree of [E, n, *action_shape] actions of the windowed steps.
      reward: [E, n] float32 rewards of the windowed steps.
      length: [E] int32 number of valid steps in each window (< n between calls).
    """

    obs: Any
    action: Any
    reward: Any
    length: Any


class NStep(NamedTuple):
    """N-step accumulator: `init` and `step` functions.

    Attributes:
      init: `init(example_obs, example_action, num_envs) -> NStepState`.
      step: `step(state, obs, action, reward, terminated, truncated, next_obs, *,
        valid=None) -> (state, transitions [E*n], mask [E*n])`.
    """

    init: Callable
    step: Callable


def _reward_matrix(n: int, gamma: float) -> np.ndarray:
    """M[j, i] = γ^(i - j) for i >= j else 0, so (rewards @ M.T)[j] sums from j."""
    power = np.arange(n)[None, :] - np.arange(n)[:, None]
    return np.where(power >= 0, gamma ** np.maximum(power, 0), 0.0).astype(np.float32)


def _check_step(state, obs, action, reward, terminated, truncated, next_obs, valid):
    """Shape checks of one step of E envs against the window layout."""
    e = {"E": state.reward.shape[0]}
    specs = {"reward": (reward, "E", "number"), "terminated": (terminated, "E")}
    specs["truncated"] = (truncated, "E")
    if valid is not None:
        specs["valid"] = (valid, "E", "bool")
    checks.check_shapes(specs, e)
    window = [state.obs, state.action, state.obs]
    for name, x, w in zip(
        ["obs", "action", "next_obs"], [obs, action, next_obs], window, strict=True
    ):
        like = jax.tree.map(lambda b: b[:, 0], w)
        n = _common.check_items(like, x, name)
        if n != e["E"]:
            raise ValueError(f"{name} must have a leading [E={e['E']}] axis, got {n}")


def _advance(xp, n, sums, powers, state, obs, action, reward, term, trunc, nxt, valid):
    """One step of every env's window; xp is jax.numpy or numpy."""
    num_envs = state.reward.shape[0]
    valid = xp.ones(num_envs, bool) if valid is None else xp.asarray(valid)

    def push(win, x):
        x = xp.asarray(x).astype(win.dtype)
        moved = xp.concatenate([win[:, 1:], x[:, None]], axis=1)
        return xp.where(valid.reshape((num_envs,) + (1,) * (win.ndim - 1)), moved, win)

    win_obs = jax.tree.map(push, state.obs, obs)
    win_act = jax.tree.map(push, state.action, action)
    win_rew = push(state.reward, reward)
    length = state.length + valid.astype(np.int32)
    term = xp.asarray(term).astype(bool)
    done = valid & (term | xp.asarray(trunc).astype(bool))
    j = xp.arange(n)
    held = j[None, :] >= (n - length)[:, None]
    full = valid & (length == n)
    mask = held & (done[:, None] | ((j == 0)[None, :] & full[:, None]))
    discount = powers[None, :] * xp.where(done & term, 0.0, 1.0)[:, None]

    def flat(x):
        return x.reshape(num_envs * n, *x.shape[2:])

    def tile(x, w):
        return flat(xp.repeat(xp.asarray(x).astype(w.dtype)[:, None], n, axis=1))

    out = Transition(
        obs_tm1=jax.tree.map(flat, win_obs),
        a_tm1=jax.tree.map(flat, win_act),
        r_t=flat((win_rew @ sums.T).astype(np.float32)),
        discount_t=flat(discount.astype(np.float32)),
        obs_t=jax.tree.map(tile, nxt, state.obs),
    )
    length = xp.where(done, 0, xp.minimum(length, n - 1)).astype(np.int32)
    return NStepState(win_obs, win_act, win_rew, length), out, flat(mask)


def _make(n: int, gamma: float, xp) -> NStep:
    n = _common.check_capacity(n, "n")
    checks.check_in_range(gamma, 0.0, 1.0, "gamma")
    sums = xp.asarray(_reward_matrix(n, gamma))
    powers = xp.asarray(gamma ** (n - np.arange(n)), np.float32)  # γ^(n-j)

    def init(example_obs: Any, example_action: Any, num_envs: int) -> NStepState:
        num_envs = _common.check_capacity(num_envs, "num_envs")

        def window(example):
            flat = _common.storage_like(example, num_envs * n, xp=xp)
            return jax.tree.map(lambda x: x.reshape(num_envs, n, *x.shape[1:]), flat)

        return NStepState(
            obs=window(example_obs),
            action=window(example_action),
            reward=xp.zeros((num_envs, n), np.float32),
            length=xp.zeros((num_envs,), np.int32),
        )

    def step(
        state, obs, action, reward, terminated, truncated, next_obs, *, valid=None
    ):
        args = (obs, action, reward, terminated, truncated, next_obs)
        _check_step(state, *args, valid)
        return _advance(xp, n, sums, powers, state, *args, valid)

    return NStep(init=init, step=step)


def n_step_transitions(n: int, gamma: float) -> NStep:
    """Turn one-step transitions of E parallel envs into n-step transitions.

    G = Σ_{k<m} γ^k r_{t+k},  discount = γ^m (1 - terminated),  m = min(n, steps left)

    Pass the steps of a vector env in order; `valid` [E] bool marks which envs
    produced a real transition this step (e.g. false on gymnasium's next-step
    autoreset step); the others are left untouched. The returned `mask` marks the
    emitted transitions: feed them with `buffer.add(buffer_state, transitions,
    mask=mask)`. Works eagerly and under `jax.jit`/`lax.scan`.

    Args:
      n: number of steps to sum (>= 1; n = 1 gives one-step transitions).
      gamma: discount γ in [0, 1].

    Returns:
      `NStep(init, step)`: `init(example_obs, example_action, num_envs)`;
      `step(state, obs, action, reward, terminated, truncated, next_obs, *,
      valid=None) -> (state, Transition [E*n], mask [E*n])` with obs, action,
      next_obs pytrees with a leading [E] axis, reward [E], terminated and
      truncated [E] (bool or 0/1).

    References:
      Sutton, "Learning to predict by the methods of temporal differences", 1988;
      Hessel et al., "Rainbow: Combining Improvements in Deep RL", 2018.
    """
    return _make(n, gamma, jnp)


def host_n_step_transitions(n: int, gamma: float) -> NStep:
    """Numpy twin of `n_step_transitions` for host loops (numpy in, numpy out).

    G = Σ_{k<m} γ^k r_{t+k},  discount = γ^m (1 - terminated),  m = min(n, steps left)

    Args:
      n: number of steps to sum (>= 1).
      gamma: discount γ in [0, 1].

    Returns:
      `NStep(init, step)` over numpy `NStepState`s; feed the output to a host
      buffer's `add(state, transitions, mask=mask)`.
    """
    return _make(n, gamma, np)

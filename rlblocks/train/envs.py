"""Gymnasium vector environments with same-step autoreset, and greedy evaluation.

Same-step autoreset: when a sub-environment ends, `step` returns the first
observation of the next episode and puts the last one in `info["final_obs"]`. So
every step is a real transition `(obs, a, r, final_or_next_obs)`, and the reset is
never stored as a transition (gymnasium's default next-step mode would return a
reset step with reward 0 that is not one).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv


def make_vector_env(env_id: str, num_envs: int) -> SyncVectorEnv:
    """A picklable synchronous vector env with same-step autoreset."""
    fns = [functools.partial(gym.make, env_id)] * num_envs
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


def true_next_obs(next_obs: np.ndarray, info: dict) -> np.ndarray:
    """The observation each env reached: `final_obs` where an episode just ended.

    Args:
      next_obs: [E, *obs_shape] observations returned by `step` (resets included).
      info: the info dict returned by the same `step`.

    Returns:
      [E, *obs_shape] with the last observation of ended episodes substituted.
    """
    mask = info.get("_final_obs")
    if mask is None or not np.any(mask):
        return next_obs
    out = np.array(next_obs, copy=True)
    for i in np.flatnonzero(mask):
        out[i] = info["final_obs"][i]
    return out


def evaluate(
    env_id: str,
    policy: Callable[[np.ndarray], np.ndarray],
    episodes: int = 10,
    seed: int = 10_000,
) -> np.ndarray:
    """Run `episodes` episodes in parallel with a (greedy) policy.

    Args:
      env_id: gymnasium id.
      policy: maps observations [N, *obs_shape] to actions [N].
      episodes: N, the number of episodes (one per sub-environment).
      seed: env i is reset with seed `seed + i`, so evaluations are reproducible.

    Returns:
      [N] undiscounted episode returns.
    """
    env = make_vector_env(env_id, episodes)
    obs, _ = env.reset(seed=seed)
    returns = np.zeros(episodes)
    running = np.ones(episodes, bool)
    while running.any():
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        returns += reward * running
        running &= ~(terminated | truncated)
    env.close()
    return returns

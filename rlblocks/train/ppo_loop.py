"""PPO and A2C through the host runtime: gymnasium rollouts, single process or
data-parallel under `mpirun -n K`.

Each iteration steps the gymnasium vector env (same-step autoreset) T times on the
host, one jitted policy call per vector step, then makes ONE jitted call that computes
GAE (`rlblocks.agents.ppo._advantages`: bootstrap from the final observation on
truncation, not on termination) and runs the minibatch epochs of
`rlblocks.agents.ppo.learner`. Under MPI every rank has its own envs and seeds and
identical initial parameters; gradients are averaged inside the jitted update, so
parameters stay identical; rank 0 alone logs, evaluates and writes the plot.
Presets (A2C among them) and the evaluation policy are in `ppo_setup`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks import envs as jax_envs
from rlblocks.agents import ppo as ppo_lib
from rlblocks.train import checkpoint, envs, loop, plot, ppo_setup, records

TRAIN_FIELDS = ("env_steps", "wall_time", "recent_return", "loss", "entropy", "sps")


@dataclasses.dataclass(frozen=True)
class PPORunConfig:
    """Settings of a PPO run (the agent's, including `num_envs`, in `PPOConfig`)."""

    env_id: str = "CartPole-v1"
    """Gymnasium environment id (discrete or 1-D continuous actions)."""
    steps: int = 200_000
    """Environment steps per process; sets `PPOConfig.total_steps`."""
    seed: int = 0
    """Seeds parameters (same on every rank), envs and sampling (per rank)."""
    eval_every: int = 10_000
    """Environment steps between deterministic evaluations (rank 0)."""
    eval_episodes: int = 10
    """Episodes per evaluation."""
    log_every: int = 2_000
    """Environment steps between training log rows."""
    checkpoint_every: int = 25_000
    """Environment steps between checkpoints (0: only at the end and on signals)."""
    consistency_every: int = 10_000
    """Environment steps between cross-rank parameter consistency checks (MPI)."""
    run_dir: str = ""
    """Output directory; default runs/<agent>-<env>-s<seed>."""


class PPORunState(NamedTuple):
    """Learner state carried between iterations (checkpointed)."""

    params: Any
    opt_state: Any
    key: jax.Array  # PRNG key of sampling and minibatch shuffles (per rank)
    iterations: jax.Array  # [] int32, updates (rollout + epochs) done


class Rollout(NamedTuple):
    """T host steps of N envs, time-major [T, N, ...]; `last_obs` is [N, *O]."""

    obs: np.ndarray
    action: np.ndarray
    log_prob: np.ndarray
    value: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_obs: np.ndarray  # observation reached (the final one where an episode ended)
    last_obs: np.ndarray


def resolve(run: PPORunConfig, config: ppo_lib.PPOConfig) -> ppo_lib.PPOConfig:
    """The run's step budget becomes the agent's (it sets the step-size decay)."""
    return dataclasses.replace(config, total_steps=run.steps)


def build(run: PPORunConfig, config: ppo_lib.PPOConfig, world: loop.World):
    """The vector env, its spec, the learner and the jitted act and learn calls."""
    config = resolve(run, config)
    env = envs.make_vector_env(run.env_id, config.num_envs)
    spec = ppo_setup.env_spec(run.env_id, env)
    grad_transform = None if world.size == 1 else world.dist.average_gradients
    parts = ppo_lib.learner(config, spec, grad_transform=grad_transform)
    policy = jax.vmap(parts.policy, in_axes=(None, 0, 0))

    def act(params, key, obs):
        key, sub = jax.random.split(key)
        action, (logp, value) = policy(params, jax.random.split(sub, len(obs)), obs)
        return key, action, logp, value

    def learn(state, batch):
        update_key, key = jax.random.split(state.key)
        adv = _advantages(config, parts, state.params, batch)
        n = batch.reward.size
        flat = lambda x: x.reshape(n, *x.shape[2:])  # noqa: E731
        data = (batch.obs, batch.action, batch.log_prob, adv, adv + batch.value)
        params, opt_state, (loss, ent) = parts.update(
            state.params, state.opt_state, update_key, jax.tree.map(flat, data)
        )
        new = PPORunState(params, opt_state, key, state.iterations + 1)
        return new, {"loss": loss.mean(), "entropy": ent.mean()}

    return env, spec, parts, config, jax.jit(act), jax.jit(learn)


def _advantages(config, parts, params, batch):
    """GAE [T, N] of a host `Rollout` (bootstraps from `next_obs` on truncation)."""
    value_fn = lambda o: parts.apply(params, o)[2]  # noqa: E731
    # reward, terminated, truncated, next_obs
    traj = jax_envs.Trajectory(batch.obs, batch.action, *batch[4:8], None)
    last_value, next_values = value_fn(batch.last_obs), value_fn(batch.next_obs)
    return ppo_lib._advantages(config, traj, batch.value, last_value, next_values)


def _rollout(env, act_fn, state, lp, num_steps):
    """Step the vector env T times; returns the new key and the `Rollout`."""
    cols = {name: [] for name in Rollout._fields[:-1]}
    obs, key = lp["obs"], state.key
    for _ in range(num_steps):
        key, action, logp, value = act_fn(state.params, key, obs)
        action, logp, value = jax.device_get((action, logp, value))
        next_obs, reward, terminated, truncated, info = env.step(action)
        reward = reward.astype(np.float32)
        true_next = envs.true_next_obs(next_obs, info)
        step = (obs, action, logp, value, reward, terminated, truncated, true_next)
        for name, x in zip(cols, step, strict=True):
            cols[name].append(x)
        loop._track_episodes(lp, reward, terminated | truncated)
        obs = next_obs
    lp["obs"] = obs
    return key, Rollout(*(np.stack(c) for c in cols.values()), obs)


def _fresh(run, parts, env, world):
    params, opt_state = parts.init(jax.random.PRNGKey(run.seed))
    rank_seed = world.seed(run.seed)
    key = jax.random.fold_in(jax.random.PRNGKey(rank_seed), 1)
    obs, _ = env.reset(seed=rank_seed)
    state = PPORunState(params, opt_state, key, jnp.zeros((), jnp.int32))
    lp = {
        "obs": obs,
        "ep_return": np.zeros(env.num_envs),
        "episodes": [],
        "elapsed": 0.0,
        "best_eval": -np.inf,
    }
    return state, lp


def _crossed(steps: int, done: int, every: int) -> bool:
    """Whether the last `done` steps, ending at `steps`, crossed a multiple of every."""
    return every > 0 and steps // every > (steps - done) // every


def train(
    run: PPORunConfig,
    config: ppo_lib.PPOConfig,
    resume: bool = False,
    agent_name: str = "ppo",
) -> dict[str, Any]:
    """Train PPO (or A2C) on a gymnasium env; returns a summary (also summary.json).

    Args:
      run: run settings.
      config: agent hyperparameters (`total_steps` is replaced by `run.steps`).
      resume: continue from the newest valid checkpoint in the run directory.
      agent_name: recorded in config.json and used in the default run directory.

    Returns:
      A summary: final eval mean/std, best eval, env steps, wall time, paths.
    """
    world = loop.World()
    run_dir = run.run_dir or os.path.join(
        "runs", f"{agent_name}-{run.env_id}-s{run.seed}"
    )
    ckpt_dir = _rank_dir(os.path.join(run_dir, "checkpoints"), world)
    env, spec, parts, config, act_fn, learn_fn = build(run, config, world)
    found = checkpoint.latest(ckpt_dir) if resume else None
    if found is not None:
        start, saved = found
        state = jax.tree.map(jnp.asarray, saved["state"])
        env, lp = saved["env"], saved["loop"]
    else:
        start = 0
        state, lp = _fresh(run, parts, env, world)
        checkpoint.clear(ckpt_dir)
    rec = None  # env steps in logs count all ranks together
    if world.root:
        _write_json(os.path.join(run_dir, "config.json"), agent_name, run, config)
        rec = records.Recorder(
            run_dir, run.steps * world.size, start * world.size, resume, TRAIN_FIELDS
        )
    ctx = _Context(run, config, spec, parts, world, rec, run_dir, ckpt_dir)
    stop = loop._Stop()
    ctx.t0 = time.perf_counter() - lp["elapsed"]
    per_iteration = config.num_envs * config.num_steps
    steps, ctx.last_log = start, (time.perf_counter(), start)
    try:
        while steps + per_iteration <= run.steps and not stop.requested:
            key, batch = _rollout(env, act_fn, state, lp, config.num_steps)
            state, metrics = learn_fn(state._replace(key=key), batch)
            steps += per_iteration
            _after_iteration(ctx, state, env, lp, metrics, steps, per_iteration)
    finally:
        stop.restore()
    _checkpoint(ctx, steps, state, env, lp)
    if stop.requested:
        if rec is not None:
            rec.close()
        return {"interrupted": True, "env_steps": steps, "run_dir": run_dir}
    return _finish(ctx, state, lp, steps)


class _Context:
    """What the per-iteration bookkeeping needs besides the changing state."""

    def __init__(self, run, config, spec, parts, world, rec, run_dir, ckpt_dir):
        self.run, self.config, self.spec, self.parts = run, config, spec, parts
        self.world, self.rec, self.run_dir, self.ckpt_dir = (
            world,
            rec,
            run_dir,
            ckpt_dir,
        )
        self.t0, self.last_log = 0.0, (0.0, 0)


def _after_iteration(ctx, state, env, lp, metrics, steps, done):
    run, world = ctx.run, ctx.world
    if world.dist is not None and _crossed(steps, done, run.consistency_every):
        world.dist.check_consistent(state.params)
    if ctx.rec is not None and _crossed(steps, done, run.log_every):
        _log_train(ctx, lp, metrics, steps)
    if ctx.rec is not None and _crossed(steps, done, run.eval_every):
        _evaluate(ctx, state, lp, steps * world.size)
    if _crossed(steps, done, run.checkpoint_every):
        _checkpoint(ctx, steps, state, env, lp)


def _rank_dir(ckpt_dir, world):
    return ckpt_dir if world.size == 1 else os.path.join(ckpt_dir, f"rank{world.rank}")


def _log_train(ctx, lp, metrics, steps):
    now, size = time.perf_counter(), ctx.world.size
    recent = lp["episodes"][-20:]
    row = {
        "env_steps": steps * size,
        "wall_time": now - ctx.t0,
        "recent_return": float(np.mean(recent)) if recent else float("nan"),
        "sps": (steps - ctx.last_log[1]) * size / max(now - ctx.last_log[0], 1e-9),
    }
    row.update({k: float(v) for k, v in metrics.items()})
    ctx.rec.log_train(row)
    ctx.last_log = (now, steps)


def _evaluate(ctx, state, lp, steps):
    run = ctx.run
    policy = ppo_setup.deterministic_policy(ctx.parts, ctx.spec, state.params)
    seed = 10_000 + 1_000 * (run.seed + 1)
    returns = envs.evaluate(run.env_id, policy, run.eval_episodes, seed=seed)
    mean = float(returns.mean())
    ctx.rec.log_eval(
        {
            "env_steps": steps,
            "wall_time": time.perf_counter() - ctx.t0,
            "eval_mean": mean,
            "eval_std": float(returns.std()),
            "eval_min": float(returns.min()),
        }
    )
    lp["last_eval"] = (steps, returns)
    if mean >= lp["best_eval"]:
        lp["best_eval"] = mean
        path = os.path.join(ctx.run_dir, "best_params.pkl")
        checkpoint.save(path, jax.device_get(state.params))
    return returns


def _checkpoint(ctx, steps, state, env, lp):
    lp["elapsed"] = time.perf_counter() - ctx.t0
    saved = {"state": jax.device_get(state), "env": env, "loop": lp}
    checkpoint.save_step(ctx.ckpt_dir, steps, saved)


def _finish(ctx, state, lp, steps):
    world, run_dir = ctx.world, ctx.run_dir
    summary = {"env_steps": steps * world.size, "ranks": world.size}
    if not world.root:
        return summary
    checkpoint.save(
        os.path.join(run_dir, "final_params.pkl"), jax.device_get(state.params)
    )
    last_step, returns = lp.get("last_eval", (None, None))
    if last_step != steps * world.size:
        returns = _evaluate(ctx, state, lp, steps * world.size)
    ctx.rec.close()
    png = plot.plot([run_dir], os.path.join(run_dir, "learning_curve.png"))
    summary.update(
        {
            "env_id": ctx.run.env_id,
            "seed": ctx.run.seed,
            "final_eval_mean": float(returns.mean()),
            "final_eval_std": float(returns.std()),
            "best_eval_mean": float(lp["best_eval"]),
            "wall_time_s": round(time.perf_counter() - ctx.t0, 2),
            "updates": int(state.iterations),
            "run_dir": run_dir,
            "plot": png,
        }
    )
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _write_json(path, agent_name, run, config):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = {
        "algo": "ppo",
        "agent_name": agent_name,
        "run": dataclasses.asdict(run),
        "agent": dataclasses.asdict(config),
    }
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)


def evaluate_run(
    run_dir: str, which: str = "final", episodes: int = 10, seed: int = 123_456
) -> np.ndarray:
    """Deterministic evaluation of a finished PPO run's saved parameters.

    Args:
      run_dir: the run directory (holds config.json and `<which>_params.pkl`).
      which: "final" or "best".
      episodes: N, episodes to run.
      seed: env i is reset with `seed + i`.

    Returns:
      [N] undiscounted episode returns.
    """
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    run = PPORunConfig(**saved["run"])
    fields = saved["agent"]
    fields["hidden_sizes"] = tuple(fields["hidden_sizes"])
    config = ppo_lib.PPOConfig(**fields)
    env = envs.make_vector_env(run.env_id, 1)
    spec = ppo_setup.env_spec(run.env_id, env)
    env.close()
    parts = ppo_lib.learner(config, spec)
    params = checkpoint.load(os.path.join(run_dir, f"{which}_params.pkl"))
    policy = ppo_setup.deterministic_policy(parts, spec, params)
    return envs.evaluate(run.env_id, policy, episodes, seed=seed)

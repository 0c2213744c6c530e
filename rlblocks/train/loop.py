"""The DQN training loop: one or two jitted calls per vector-env step, single process
or data-parallel under `mpirun -n K`.

Each iteration steps the gymnasium vector env on the host, then hands the device its
work. With `stale_actions` (the default): a small jitted act call with the current
parameters, then a jitted learn call (store the transitions, update when due; state
donated) that runs asynchronously while the host steps the envs with those actions,
so env stepping overlaps the update. Without it: ONE fused jitted call (`DQN.step`)
that learns, then acts with the updated parameters. Under MPI every rank has its own
envs, replay and seeds and runs the same calls; the learn call averages each
update's gradients across ranks inside jit (`average_gradients(ordered=False)`, an
XLA FFI call into MPI), so the host never waits on the exchange; rank 0 alone logs,
evaluates and checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import signal
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks.agents import dqn as dqn_lib
from rlblocks.train import checkpoint, envs, plot, records


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Settings of a training run (the agent's are in `DQNConfig`)."""

    env_id: str = "CartPole-v1"
    """Gymnasium environment id."""
    steps: int = 100_000
    """Environment steps per process (all its envs together)."""
    seed: int = 0
    """Seeds parameters (same on every rank), envs and exploration (per rank)."""
    num_envs: int = 4
    """Sub-environments stepped together per jitted call."""
    eval_every: int = 10_000
    """Environment steps between greedy evaluations (rank 0)."""
    eval_episodes: int = 10
    """Episodes per greedy evaluation."""
    log_every: int = 2_000
    """Environment steps between training log rows."""
    checkpoint_every: int = 25_000
    """Environment steps between checkpoints (0: only at the end and on signals)."""
    stale_actions: bool = True
    """Act with the parameters from before the latest learn call (one call, i.e.
    `num_envs // train_frequency` gradient steps, stale), so the next env step runs
    while the update computes (JAX async dispatch, on another core when one is
    free); actions use their own key chain, so runs stay reproducible for a seed.
    False: one fused call per vector-env step, acting after the update."""
    consistency_every: int = 2_000
    """Environment steps between cross-rank parameter consistency checks (MPI)."""
    run_dir: str = ""
    """Output directory; default runs/dqn-<env>-s<seed>."""


def pin_to_local_share() -> list[int] | None:
    """Pin this rank's threads to its 1/K share of the CPUs if mpirun left it unbound.

    `mpirun --oversubscribe` (as `make demo` runs) and `--bind-to none` leave every
    rank free to run on every core; the ranks' threads then migrate and contend, and
    two ranks on two cores ran at 0.61x the throughput of one rank against 1.47x when
    each had its own core (benchmarks/README.md). Ranks the launcher already bound,
    more local ranks than CPUs, or `RLBLOCKS_PIN=0` leave the placement as it is.
    Returns the CPUs pinned to, or None.
    """
    local_size = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE", "1"))
    local_rank = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", "0"))
    if not hasattr(os, "sched_setaffinity"):  # not Linux
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if local_size < 2 or len(cpus) < local_size or len(cpus) < (os.cpu_count() or 0):
        return None
    n = len(cpus)
    share = cpus[local_rank * n // local_size : (local_rank + 1) * n // local_size]
    pin_threads(share)
    return share


def pin_threads(cpus) -> None:
    """Set the CPU affinity of every thread of this process (XLA's too) to `cpus`."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # the thread may have exited
            os.sched_setaffinity(int(tid), cpus)


class World:
    """The MPI world when launched under mpirun, else a single process."""

    def __init__(self):
        launched = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1
        self.dist = None
        self.rank, self.size = 0, 1
        if launched:
            # Ranks wait on each other once per update: yield the core while waiting
            # instead of spinning (several-fold faster on a busy 2-core machine).
            os.environ.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
            if os.environ.get("RLBLOCKS_PIN", "1") != "0":
                pin_to_local_share()
            from rlblocks import distributed

            self.dist = distributed
            self.rank, self.size = distributed.rank(), distributed.size()

    @property
    def root(self) -> bool:
        """Whether this process logs, evaluates and checkpoints."""
        return self.rank == 0

    def seed(self, seed: int) -> int:
        """This rank's seed for envs and exploration."""
        return seed if self.dist is None else int(self.dist.rank_seed(seed))


def default_run_dir(run: RunConfig) -> str:
    """runs/dqn-<env>-s<seed>, or `run.run_dir` when set."""
    return run.run_dir or os.path.join("runs", f"dqn-{run.env_id}-s{run.seed}")


def resolve(run: RunConfig, agent_config: dqn_lib.DQNConfig) -> dqn_lib.DQNConfig:
    """Fill run-dependent agent settings: a step-size decay of -1 spans the run."""
    if agent_config.learning_rate_decay_updates < 0:
        updates = max(run.steps - agent_config.learning_starts, 0)
        updates //= agent_config.train_frequency
        agent_config = dataclasses.replace(
            agent_config, learning_rate_decay_updates=max(updates, 1)
        )
    return agent_config


def build(run: RunConfig, agent_config: dqn_lib.DQNConfig, world: World):
    """The vector env, the agent and its device step (see `device_step`)."""
    agent_config = resolve(run, agent_config)
    env = envs.make_vector_env(run.env_id, run.num_envs)
    example = np.asarray(env.single_observation_space.sample())
    average = None  # each update's gradients, averaged in jit (data dependencies
    if world.size > 1:  # order the two exchanges of a learn call on every rank)
        average = functools.partial(world.dist.average_gradients, ordered=False)
    agent = dqn_lib.dqn(
        agent_config,
        int(env.single_action_space.n),
        example,
        run.num_envs,
        grad_transform=average,
    )
    return env, agent, device_step(agent, run.stale_actions)


def _stale_act(agent, params, key, obs, steps):
    """Actions of the stale-action key chain: `(actions, epsilon, key)`."""
    key, act_key = jax.random.split(key)
    eps = agent.epsilon(steps)
    return agent.act(params, act_key, obs, eps), eps, key


def device_step(agent: dqn_lib.DQN, stale_actions: bool):
    """The device work of one iteration, as jitted calls (the state is donated).

    Returns `fn(state, transition, obs, act_key, steps) -> (state, actions,
    metrics, act_key)`: `steps` counts env steps after `transition`; `act_key` is
    the key chain of stale actions (passed through unchanged when fused).
    """
    if not stale_actions:
        fused = jax.jit(agent.step, donate_argnums=0)

        def fused_step(state, transition, obs, act_key, steps):
            return (*fused(state, transition, obs), act_key)

        return fused_step

    act_fn = jax.jit(functools.partial(_stale_act, agent))
    learn_fn = jax.jit(agent.learn, donate_argnums=0)

    def stale_step(state, transition, obs, act_key, steps):
        # Dispatched before learn donates the state: acts with the old parameters.
        actions, eps, act_key = act_fn(state.params, act_key, obs, steps)
        state, metrics = learn_fn(state, transition)
        return state, actions, dict(metrics, epsilon=eps), act_key

    return stale_step


def greedy_policy(agent, params):
    """A host policy obs [N, ...] -> argmax actions [N] (one jitted call)."""
    q_fn = jax.jit(lambda p, o: agent.q_values(p, o).argmax(-1))
    return lambda obs: np.asarray(q_fn(params, obs))


class _Stop:
    """Turns SIGTERM/SIGINT into a flag checked once per iteration."""

    def __init__(self):
        self.requested = False
        self._old = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        self.requested = True

    def restore(self):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _fresh(run, agent, env, world):
    state = agent.init(jax.random.PRNGKey(run.seed))
    rank_seed = world.seed(run.seed)
    state = state._replace(key=jax.random.fold_in(jax.random.PRNGKey(rank_seed), 1))
    obs, _ = env.reset(seed=rank_seed)
    key, act_key = jax.random.split(state.key)
    eps = agent.epsilon(0)
    actions = np.asarray(jax.jit(agent.act)(state.params, act_key, obs, eps))
    loop = {
        "obs": obs,
        "actions": actions,
        "act_key": np.asarray(jax.random.fold_in(key, 2)),
        "ep_return": np.zeros(run.num_envs),
        "episodes": [],
        "elapsed": 0.0,
        "best_eval": -np.inf,
    }
    return state._replace(key=key), loop


def train(
    run: RunConfig, agent_config: dqn_lib.DQNConfig, resume: bool = False
) -> dict[str, Any]:
    """Train a DQN agent; returns a summary dict (also written to summary.json).

    Args:
      run: run settings.
      agent_config: agent hyperparameters.
      resume: continue from the newest valid checkpoint in the run directory.

    Returns:
      A summary: final eval mean/std, best eval, env steps, wall time, paths.
    """
    world = World()
    run_dir = default_run_dir(run)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    env, agent, step_fn = build(run, agent_config, world)
    found = _resume_point(ckpt_dir, world) if resume else None
    if found is not None:
        start, saved = found
        state = jax.tree.map(jnp.asarray, saved["state"])
        env, loop = saved["env"], saved["loop"]
    else:
        start = 0
        state, loop = _fresh(run, agent, env, world)
        checkpoint.clear(_rank_dir(ckpt_dir, world))
    if world.root:
        _write_json(
            os.path.join(run_dir, "config.json"), run, resolve(run, agent_config)
        )
    rec = None  # env steps in logs count all ranks together
    if world.root:
        scale = world.size
        rec = records.Recorder(run_dir, run.steps * scale, start * scale, resume)
    stop = _Stop()
    t0, steps = time.perf_counter() - loop["elapsed"], start
    last_log = (time.perf_counter(), steps)
    obs, actions, act_key = loop["obs"], loop["actions"], loop["act_key"]
    metrics = {}
    try:
        while steps < run.steps and not stop.requested:
            next_obs, reward, terminated, truncated, info = env.step(actions)
            transition = dqn_lib.Transition(
                obs,
                actions,
                reward.astype(np.float32),
                terminated,
                truncated,
                envs.true_next_obs(next_obs, info),
            )
            steps += run.num_envs
            state, actions, metrics, act_key = step_fn(
                state, transition, next_obs, act_key, steps
            )
            actions, obs = np.asarray(actions), next_obs
            _track_episodes(loop, reward, terminated | truncated)
            loop["obs"], loop["actions"], loop["act_key"] = obs, actions, act_key
            if world.dist is not None and steps % run.consistency_every < run.num_envs:
                world.dist.check_consistent(state.params)
            if rec is not None and steps % run.log_every < run.num_envs:
                last_log = _log_train(rec, loop, metrics, steps, t0, last_log, world)
            if rec is not None and steps % run.eval_every < run.num_envs:
                _evaluate(rec, run, agent, state, loop, steps * world.size, t0, run_dir)
            if run.checkpoint_every and steps % run.checkpoint_every < run.num_envs:
                _checkpoint(ckpt_dir, world, steps, state, env, loop, t0)
    finally:
        stop.restore()
    _checkpoint(ckpt_dir, world, steps, state, env, loop, t0)
    if stop.requested:
        if rec is not None:
            rec.close()
        return {"interrupted": True, "env_steps": steps, "run_dir": run_dir}
    return _finish(rec, run, agent, state, loop, steps, t0, run_dir, world)


def _resume_point(ckpt_dir, world):
    """The newest checkpoint `(step, saved)` that every rank holds, or None.

    Ranks meet at every update, so after a crash their newest checkpoints differ by
    at most one; each keeps two, and all resume from the oldest newest one.
    """
    directory = _rank_dir(ckpt_dir, world)
    found = checkpoint.latest(directory)
    if world.dist is None:
        return found
    mine = np.array([-1 if found is None else found[0]], np.int64)
    step = int(world.dist.allreduce(mine, op="min")[0])
    if step < 0:
        return None
    return found if step == mine[0] else (step, checkpoint.load_step(directory, step))


def _rank_dir(ckpt_dir, world):
    return ckpt_dir if world.size == 1 else os.path.join(ckpt_dir, f"rank{world.rank}")


def _track_episodes(loop, reward, done):
    loop["ep_return"] += reward
    for i in np.flatnonzero(done):
        loop["episodes"].append(float(loop["ep_return"][i]))
        loop["ep_return"][i] = 0.0
    del loop["episodes"][:-100]


def _log_train(rec, loop, metrics, steps, t0, last_log, world):
    now = time.perf_counter()
    recent = loop["episodes"][-20:]
    row = {
        "env_steps": steps * world.size,
        "wall_time": now - t0,
        "recent_return": float(np.mean(recent)) if recent else float("nan"),
        "sps": (steps - last_log[1]) * world.size / max(now - last_log[0], 1e-9),
    }
    row.update({k: float(v) for k, v in metrics.items()})
    rec.log_train(row)
    return now, steps


def _evaluate(rec, run, agent, state, loop, steps, t0, run_dir):
    returns = envs.evaluate(
        run.env_id,
        greedy_policy(agent, state.params),
        run.eval_episodes,
        seed=10_000 + 1_000 * (run.seed + 1),
    )
    mean = float(returns.mean())
    rec.log_eval(
        {
            "env_steps": steps,
            "wall_time": time.perf_counter() - t0,
            "eval_mean": mean,
            "eval_std": float(returns.std()),
            "eval_min": float(returns.min()),
        }
    )
    loop["last_eval"] = (steps, returns)
    if mean >= loop["best_eval"]:
        loop["best_eval"] = mean
        params = jax.device_get(state.params)
        checkpoint.save(os.path.join(run_dir, "best_params.pkl"), params)
    return returns


def _checkpoint(ckpt_dir, world, steps, state, env, loop, t0):
    loop["elapsed"] = time.perf_counter() - t0
    loop["act_key"] = np.asarray(loop["act_key"])
    saved = {"state": jax.device_get(state), "env": env, "loop": loop}
    checkpoint.save_step(_rank_dir(ckpt_dir, world), steps, saved)


def _finish(rec, run, agent, state, loop, steps, t0, run_dir, world):
    summary = {"env_steps": steps * world.size, "ranks": world.size}
    if world.root:
        params = jax.device_get(state.params)
        checkpoint.save(os.path.join(run_dir, "final_params.pkl"), params)
        last_step, returns = loop.get("last_eval", (None, None))
        if last_step != steps * world.size:
            total = steps * world.size
            returns = _evaluate(rec, run, agent, state, loop, total, t0, run_dir)
        rec.close()
        png = plot.plot([run_dir], os.path.join(run_dir, "learning_curve.png"))
        summary.update(
            {
                "env_id": run.env_id,
                "seed": run.seed,
                "final_eval_mean": float(returns.mean()),
                "final_eval_std": float(returns.std()),
                "best_eval_mean": float(loop["best_eval"]),
                "wall_time_s": round(time.perf_counter() - t0, 2),
                "updates": int(state.updates),
                "run_dir": run_dir,
                "plot": png,
            }
        )
        with open(os.path.join(run_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary


def _write_json(path, run, agent_config):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = {
        "run": dataclasses.asdict(run),
        "agent": dataclasses.asdict(agent_config),
    }
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)

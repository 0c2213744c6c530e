"""PPO trained entirely inside one jitted call, on the pure-JAX environments.

Each iteration collects T steps from N environments (`rlblocks.envs.rollout`),
computes GAE advantages (`truncated_generalized_advantage_estimation`, bootstrapping
from the final observation on truncation), and runs E epochs of M minibatches of
the clipped-surrogate loss + value loss − entropy bonus; iterations are a
`lax.scan`, so `train(key)` is one compiled program and `jax.vmap(train)` trains
many seeds at once. Discrete actions (softmax policy) or continuous ones (Gaussian
policy with a learned, state-independent log standard deviation).

Many seeds in one call: `train_seeds(agent.train, keys)` runs them with `lax.map`,
and seed i is bit-identical to `jax.jit(agent.train)(keys[i])` (the loop body is the
unbatched program). `jax.vmap(agent.train)` (`vectorize=True`) is not
batch-invariant: XLA lowers some per-seed reductions and element-wise ops of the
batched program differently (the first differences, 1 ulp, are in the optimizer
step: the sum of squares in `clip_by_global_norm` and Adam's update), and training
amplifies them, so vmapped seeds match separate runs only in distribution.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from rlblocks import envs
from rlblocks._src import losses, multistep, policy_gradients, types
from rlblocks.agents import _config
from rlblocks.agents._config import INF


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters (defaults: CleanRL / PureJaxRL's CartPole settings)."""

    num_envs: int = 8
    """N, environments stepped in parallel."""
    num_steps: int = 128
    """T, rollout length per iteration (an iteration uses N * T env steps)."""
    total_steps: int = 200_000
    """Env-step budget; iterations = total_steps // (N * T)."""
    update_epochs: int = 4
    """E, passes over each rollout."""
    num_minibatches: int = 4
    """M, minibatches per epoch (N * T must be divisible by M)."""
    gamma: float = 0.99
    """Discount γ."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_eps: float = 0.2
    """Clipping range ε of the probability ratio."""
    entropy_cost: float = 0.01
    """Weight of the entropy bonus."""
    value_cost: float = 0.5
    """Weight of the value loss ½(v − target)²."""
    learning_rate: float = 2.5e-4
    """Adam step size (annealed linearly to 0 if `anneal_lr`)."""
    anneal_lr: bool = True
    """Decay the step size linearly to 0 over training."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the (separate) actor and critic MLPs, tanh activations."""
    normalize_advantages: bool = True
    """Standardize advantages per minibatch."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this before GAE (e.g. 0.1 for Pendulum's [-16, 0])."""

    def __post_init__(self):
        """Raise ValueError naming the first field outside its range."""
        _config.check_fields(
            self,
            ranges={
                "gamma": (0.0, 1.0),
                "gae_lambda": (0.0, 1.0),
                "entropy_cost": (0.0, INF),
                "value_cost": (0.0, INF),
            },
            positive={
                "clip_eps": INF,
                "learning_rate": INF,
                "max_grad_norm": INF,
                "reward_scale": INF,
            },
            ints={
                "num_envs": 1,
                "num_steps": 1,
                "total_steps": 0,
                "update_epochs": 1,
                "num_minibatches": 1,
            },
            sizes=("hidden_sizes",),
        )

    @property
    def num_iterations(self) -> int:
        """Training iterations (rollout + update) in the budget."""
        return self.total_steps // (self.num_envs * self.num_steps)


class ActorCritic(nn.Module):
    """Separate tanh MLPs for the policy (logits or Gaussian mean) and the value."""

    num_outputs: int
    hidden_sizes: tuple[int, ...]
    continuous: bool

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """obs [..., O] -> (logits or mean [..., A], log_std [A], value [...])."""
        ortho = nn.initializers.orthogonal
        x, v = obs, obs
        for size in self.hidden_sizes:
            x = nn.tanh(nn.Dense(size, kernel_init=ortho(math.sqrt(2)))(x))
            v = nn.tanh(nn.Dense(size, kernel_init=ortho(math.sqrt(2)))(v))
        out = nn.Dense(self.num_outputs, kernel_init=ortho(0.01))(x)
        value = nn.Dense(1, kernel_init=ortho(1.0))(v)[..., 0]
        log_std = self.param("log_std", nn.initializers.zeros, (self.num_outputs,))
        return out, log_std, value


class PPOState(NamedTuple):
    """Training state: parameters, optimizer, environments, running returns."""

    params: Any
    opt_state: Any
    env_state: Any  # leaves [N, ...]
    episode_return: jax.Array  # [N] return of the episode in progress
    key: jax.Array


class PPOMetrics(NamedTuple):
    """Per-iteration metrics (leading axis [iterations] after `train`)."""

    episode_return: jax.Array  # [] mean return of episodes ended this iteration
    episodes: jax.Array  # [] number of episodes ended this iteration
    loss: jax.Array  # [] mean total loss over the updates
    entropy: jax.Array  # [] mean policy entropy (nats)


class PPO(NamedTuple):
    """Pure functions of a PPO agent for one environment and config."""

    init: Callable[[types.PRNGKey], PPOState]
    iteration: Callable[[PPOState], tuple[PPOState, PPOMetrics]]
    train: Callable[[types.PRNGKey], tuple[PPOState, PPOMetrics]]
    act: Callable[..., jax.Array]


def _log_prob_entropy(continuous, out, log_std, action):
    """log π(a|s) and H(π(·|s)) for a softmax or diagonal-Gaussian policy."""
    if continuous:
        z = (action - out) / jnp.exp(log_std)
        logp = jnp.sum(-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi), -1)
        ent = jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e))
        return logp, jnp.broadcast_to(ent, logp.shape)
    logp_all = jax.nn.log_softmax(out)
    logp = jnp.take_along_axis(logp_all, action[..., None], -1)[..., 0]
    return logp, -jnp.sum(jnp.exp(logp_all) * logp_all, -1)


def _sample_categorical(key, logits):
    """One draw per row of `logits` [*B, A] by inverting the softmax's CDF.

    a = #{k < A − 1 : u ≥ F_k},  F_k = Σ_{j≤k} softmax(logits)_j,  u ~ U[0, 1)

    The same distribution as `jax.random.categorical`, from one uniform per row
    instead of A Gumbel draws (fewer random bits and logarithms per env step).
    """
    u = jax.random.uniform(key, (*logits.shape[:-1], 1))
    cdf = jnp.cumsum(jax.nn.softmax(logits), axis=-1)[..., :-1]
    return jnp.sum(u >= cdf, axis=-1, dtype=jnp.int32)


def shuffled_indices(key: types.PRNGKey, size: int) -> jax.Array:
    """A random permutation of `range(size)` from sorts of packed uint32 keys.

    Each round sorts `(random high bits << b) | position` (b = bits of `size − 1`)
    as ONE uint32 array and reads the permutation from the low b bits, so every
    round is one single-operand sort. A tie (equal high bits) keeps the previous
    round's order, so rounds repeat until the expected number of pairs tied in
    every round is below 2⁻⁷. On the CPU this is ~10x faster than
    `jax.random.permutation`, which sorts key-value pairs (13 ms for 16,384
    indices here, against ~1.2 ms per round).

    Args:
      key: PRNG key.
      size: the number of indices (a Python int, < 2**31).

    Returns:
      [size] int32, a permutation of 0 .. size − 1.
    """
    low = max(size - 1, 1).bit_length()
    high = 32 - low
    if high < 8:
        return jax.random.permutation(key, size)
    # pairs tied in all r rounds: size² / 2 · 2^(−high · r) < 2^(−7)
    rounds = max(1, math.ceil((2 * math.log2(max(size, 2)) + 6) / high))
    positions = order = jnp.arange(size, dtype=jnp.uint32)
    mask = jnp.uint32((1 << low) - 1)
    for round_key in jax.random.split(key, rounds):
        bits = jax.random.bits(round_key, (size,), jnp.uint32)
        order = order[jnp.sort((bits >> low) << low | positions) & mask]
    return order.astype(jnp.int32)


def _advantages(config, traj, values, last_value, next_values):
    """GAE per environment; truncation bootstraps from the final observation."""
    discount = config.gamma * (1.0 - traj.terminated)
    # δₜ = rₜ + γₜ v(next_obsₜ) − v(obsₜ): fold the gap to v(obsₜ₊₁) into the reward
    all_values = jnp.concatenate([values, last_value[None]], 0)
    reward = config.reward_scale * traj.reward
    reward = reward + discount * (next_values - all_values[1:])
    lam = config.gae_lambda * (1.0 - traj.truncated)  # cut the trace at a reset
    gae = jax.vmap(
        multistep.truncated_generalized_advantage_estimation, in_axes=(1, 1, 1, 1)
    )(reward, discount, lam, all_values)
    return gae.T  # [T, N]


class PPOLearner(NamedTuple):
    """The environment-independent pieces of PPO, shared by `ppo` and the runtime.

    Attributes:
      init: `init(key) -> (params, opt_state)`.
      apply: `apply(params, obs [..., O]) -> (logits or mean [..., A], log_std [A],
        value [...])`.
      policy: `policy(params, key, obs [*B, O]) -> (action, (log_prob, value))`,
        samples for one observation or a batch of them from one key.
      update: `update(params, opt_state, key, data) -> (params, opt_state, (loss,
        entropy) [E, M])`, E epochs of M shuffled minibatches of `data = (obs,
        action, old_log_prob, advantage, value_target)`, each leaf [B, ...].
    """

    init: Callable[[types.PRNGKey], tuple[Any, Any]]
    apply: Callable[..., tuple[jax.Array, jax.Array, jax.Array]]
    policy: Callable[..., tuple[jax.Array, tuple[jax.Array, jax.Array]]]
    update: Callable[..., tuple[Any, Any, tuple[jax.Array, jax.Array]]]


def learner(
    config: PPOConfig,
    spec: envs.EnvSpec,
    *,
    grad_transform: Callable[[Any], Any] | None = None,
) -> PPOLearner:
    """Build PPO's network, optimizer, sampling policy and minibatch-epoch update.

    L = −min(ρA, clip(ρ, 1−ε, 1+ε)A) + c_v ½(v − G)² − c_H H(π),  ρ = π/π_old

    Args:
      config: hyperparameters (`num_iterations` sets the step-size annealing).
      spec: the environment's spec (observation shape, discrete or continuous).
      grad_transform: applied to the gradients before the optimizer, e.g.
        `rlblocks.distributed.average_gradients` for data parallelism.

    Returns:
      A `PPOLearner(init, apply, policy, update)` of pure functions.

    References:
      Schulman et al., "Proximal Policy Optimization Algorithms", 2017.
    """
    continuous = spec.num_actions is None
    num_outputs = spec.action_shape[0] if continuous else spec.num_actions
    net = ActorCritic(num_outputs, config.hidden_sizes, continuous)
    n, t, m = config.num_envs, config.num_steps, config.num_minibatches
    if (n * t) % m:
        raise ValueError(
            f"num_envs * num_steps ({n * t}) must be divisible by num_minibatches ({m})"
        )
    num_updates = config.num_iterations * config.update_epochs * m
    lr = config.learning_rate
    if config.anneal_lr:
        lr = optax.linear_schedule(lr, 0.0, max(num_updates, 1))
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5)
    )

    def init(key):
        params = net.init(key, jnp.zeros(spec.observation_shape))
        return params, optimizer.init(params)

    def policy_fn(params, key, obs):  # obs [*B, O], one key for the batch
        out, log_std, value = net.apply(params, obs)
        if continuous:
            action = out + jnp.exp(log_std) * jax.random.normal(key, out.shape)
        else:
            action = _sample_categorical(key, out)
        logp, _ = _log_prob_entropy(continuous, out, log_std, action)
        return action, (logp, value)

    def loss_fn(params, batch):
        obs, action, old_logp, adv, target = batch
        out, log_std, value = net.apply(params, obs)
        logp, entropy = _log_prob_entropy(continuous, out, log_std, action)
        if config.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg = policy_gradients.clipped_surrogate_pg_loss(
            jnp.exp(logp - old_logp), adv, config.clip_eps
        )
        v_loss = jnp.mean(losses.l2_loss(value, target))
        ent = jnp.mean(entropy)
        loss = pg + config.value_cost * v_loss - config.entropy_cost * ent
        return loss, ent

    def update_minibatch(carry, batch):
        params, opt_state = carry
        (loss, ent), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
        if grad_transform is not None:
            grads = grad_transform(grads)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, ent)

    def update_epoch(carry, key):
        params, opt_state, data = carry
        size = jax.tree.leaves(data)[0].shape[0]
        if m == 1:  # one minibatch: its loss does not depend on the order
            shuffle = lambda x: x[None]  # noqa: E731
        else:
            perm = shuffled_indices(key, size)
            shuffle = lambda x: x[perm].reshape(m, -1, *x.shape[1:])  # noqa: E731
        (params, opt_state), stats = jax.lax.scan(
            update_minibatch, (params, opt_state), jax.tree.map(shuffle, data)
        )
        return (params, opt_state, data), stats

    def update(params, opt_state, key, data):
        (params, opt_state, _), stats = jax.lax.scan(
            update_epoch,
            (params, opt_state, data),
            jax.random.split(key, config.update_epochs),
        )
        return params, opt_state, stats

    return PPOLearner(init, net.apply, policy_fn, update)


def ppo(
    config: PPOConfig,
    env: envs.Env,
    *,
    grad_transform: Callable[[Any], Any] | None = None,
    rank: int = 0,
) -> PPO:
    """Build a fully-jitted PPO agent for `env`.

    L = −min(ρA, clip(ρ, 1−ε, 1+ε)A) + c_v ½(v − G)² − c_H H(π),  ρ = π/π_old

    Args:
      config: hyperparameters.
      env: a pure-JAX environment (`rlblocks.envs`), discrete or continuous.
      grad_transform: applied to each minibatch gradient before the optimizer,
        e.g. `rlblocks.distributed.average_gradients` (then do not vmap seeds).
      rank: data-parallel rank; if not 0, the environment and sampling keys (not
        the parameter key) are folded with it, so ranks share parameters but
        collect different data.

    Returns:
      `PPO(init, iteration, train, act)`: `train(key) -> (state, metrics)` runs the
      whole budget in one `lax.scan` (jit it; `train_seeds` for many seeds);
      `act(params, key, obs)` samples an action for one observation.

    References:
      Schulman et al., "Proximal Policy Optimization Algorithms", 2017.
    """
    parts = learner(config, env.spec, grad_transform=grad_transform)
    n, t = config.num_envs, config.num_steps

    def act(params, key, obs):
        return parts.policy(params, key, obs)[0]

    def init(key):
        net_key, env_key, key = jax.random.split(key, 3)
        if rank:
            env_key, key = (jax.random.fold_in(k, rank) for k in (env_key, key))
        params, opt_state = parts.init(net_key)
        env_state, _ = envs.reset_batch(env, env_key, n)
        return PPOState(params, opt_state, env_state, jnp.zeros(n), key)

    def iteration(state):
        roll_key, epoch_key, key = jax.random.split(state.key, 3)
        env_state, traj = envs.rollout(
            roll_key,
            env,
            parts.policy,
            state.params,
            state.env_state,
            t,
            batched_policy=True,
        )
        logp, values = traj.policy_extras
        value_fn = lambda o: parts.apply(state.params, o)[2]  # noqa: E731
        last_value = value_fn(jax.vmap(env.observe)(env_state))
        adv = _advantages(config, traj, values, last_value, value_fn(traj.next_obs))
        flat = lambda x: x.reshape(n * t, *x.shape[2:])  # noqa: E731
        data = jax.tree.map(flat, (traj.obs, traj.action, logp, adv, adv + values))
        params, opt_state, (loss, ent) = parts.update(
            state.params, state.opt_state, epoch_key, data
        )
        ret, ended_sum, ended = _episode_returns(state.episode_return, traj)
        metrics = PPOMetrics(
            ended_sum / jnp.maximum(ended, 1), ended, loss.mean(), ent.mean()
        )
        return PPOState(params, opt_state, env_state, ret, key), metrics

    def train(key):
        scan_body = lambda s, _: iteration(s)  # noqa: E731
        return jax.lax.scan(scan_body, init(key), None, length=config.num_iterations)

    return PPO(init, iteration, train, act)


def train_seeds(
    train: Callable[[types.PRNGKey], Any], keys: jax.Array, *, vectorize: bool = False
) -> Any:
    """Train one seed per key in one call; outputs gain a leading axis [S].

    With `vectorize=False` the seeds run one after another in a `lax.map` whose body
    is the unbatched `train`, so seed i is bit-identical to `train(keys[i])` run
    alone under `jax.jit`; the cost is the sum of the separate runs. With
    `vectorize=True` it is `jax.vmap(train)`: it can be faster on many cores (not on
    2: 39.5 s against 37.4 s for 16 seeds, benchmarks/README), but XLA's batched
    program rounds some reductions differently (1 ulp in the optimizer step), and
    training amplifies that, so seeds agree with separate runs only in distribution.

    Args:
      train: `train(key) -> outputs`, e.g. `ppo(...).train` (jit the call).
      keys: [S] PRNG keys, one per seed.
      vectorize: vmap over seeds instead of looping.

    Returns:
      `train`'s outputs stacked over seeds, each leaf [S, ...].
    """
    if vectorize:
        return jax.vmap(train)(keys)
    return jax.lax.map(train, keys)


def _episode_returns(running, traj):
    """Carry per-env returns through the rollout; sum and count ended episodes."""

    def step(ret, x):
        reward, done = x
        ret = ret + reward
        return jnp.where(done, 0.0, ret), (jnp.where(done, ret, 0.0), done)

    done = traj.terminated | traj.truncated
    running, (ended_returns, ended) = jax.lax.scan(step, running, (traj.reward, done))
    return running, ended_returns.sum(), ended.sum()

"""DQN and its family (double, dueling, n-step, prioritized, C51, QR-DQN) from blocks.

`dqn(config, num_actions, example_obs, num_envs)` returns a `DQN` NamedTuple of pure
functions over a `DQNState`:

- `init(key)` builds the online and target parameters, optimizer and replay states.
- `act(params, key, obs, epsilon)` picks epsilon-greedy actions for a batch of envs.
- `observe(state, transition)` turns one vector-env step into (n-step) transitions
  and adds them to replay.
- `update(state)` samples replay and takes one gradient step on the TD loss; it
  is `apply(*grads(state))` (with `grad_transform` on the gradients in between):
  `grads(state) -> (state, grads, extras)` samples and differentiates, and
  `apply(state, grads, extras) -> (state, metrics)` runs the optimizer, priority
  and target updates, so a host loop can transform the gradients between the
  two calls.
- `learn(state, transition)` is observe then update when due (every
  `train_frequency` env steps once `learning_starts` are collected).
- `step(state, transition, obs)` fuses learn and act into one function, so a
  training loop makes one jitted call per vector-env step.
- `q_values(params, obs)` gives action values [B, A] (the mean of the return
  distribution for C51 and QR-DQN); `loss(params, target_params, batch, weights)`
  is the TD loss of a `Stored` batch, `(loss, (td_error, q_pred))`.

Everything is built from rlblocks primitives (`q_learning_loss`,
`double_q_learning_loss`, `categorical_q_learning_loss`,
`categorical_double_q_learning_loss`, `quantile_q_learning_loss`, `epsilon_greedy`,
`linearly_decaying_epsilon`, `periodic_update`, `incremental_update`),
`rlblocks.replay` buffers and flax networks.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import rlblocks as rlb
from rlblocks import replay as replay_lib
from rlblocks.agents import _config, networks
from rlblocks.agents._config import INF


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """Hyperparameters of a DQN-family agent (defaults solve CartPole-v1)."""

    gamma: float = 0.99
    """Discount γ per environment step."""
    double: bool = True
    """Double DQN: the online network selects the bootstrap action, the target
    network evaluates it (van Hasselt et al., 2016)."""
    dueling: bool = False
    """Dueling head v(s) + a(s, ·) − mean a(s, ·) (Wang et al., 2016)."""
    n_step: int = 3
    """Number of rewards summed before bootstrapping (truncated at episode ends)."""
    prioritized: bool = False
    """Prioritized replay with priorities |δ| (Schaul et al., 2016)."""
    priority_alpha: float = 0.6
    """Priority exponent α of prioritized replay."""
    priority_beta: float = 0.4
    """Importance-sampling exponent β of prioritized replay."""
    huber_delta: float | None = None
    """Huber loss threshold; None for the squared loss ½δ²."""
    target_update_period: int = 500
    """Updates between hard copies of the online into the target network (tau=1)."""
    target_tau: float = 0.01
    """Polyak step size applied every update when < 1 (then the period is unused)."""
    epsilon_start: float = 1.0
    """Exploration rate before and at the start of the decay."""
    epsilon_end: float = 0.02
    """Exploration rate after the decay."""
    epsilon_decay_steps: int = 20_000
    """Environment steps (all envs together) of the linear epsilon decay."""
    learning_rate: float = 1e-3
    """Adam step size at the first update."""
    learning_rate_end: float = 5e-5
    """Adam step size reached linearly after `learning_rate_decay_updates`."""
    learning_rate_decay_updates: int = -1
    """Updates of the linear step-size decay; 0 keeps `learning_rate` constant; the
    training runtime turns -1 into the number of updates of the whole run."""
    adam_eps: float = 1e-8
    """Adam epsilon."""
    max_grad_norm: float | None = 10.0
    """Global gradient-norm clip; None disables clipping."""
    batch_size: int = 128
    """Transitions per gradient step."""
    replay_capacity: int = 50_000
    """Transitions kept in replay."""
    learning_starts: int = 2_000
    """Environment steps collected before the first update (and the epsilon decay)."""
    train_frequency: int = 2
    """Environment steps (all envs together) per gradient step."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Widths of the MLP torso."""
    torso: str = "mlp"
    """"mlp" for vector observations, "nature" for images [H, W, C] uint8."""
    distributional: str = "none"
    """"none" for scalar Q-values; "c51" for a categorical return distribution on
    fixed atoms (Bellemare et al., 2017); "qr" for quantile regression on fixed
    fractions (QR-DQN, Dabney et al., 2018). Both act on the mean; `huber_delta` is
    then unused."""
    num_atoms: int = 51
    """C51: number N of atoms evenly spaced on [v_min, v_max]."""
    v_min: float = 0.0
    """C51: lowest atom (CartPole returns are >= 0)."""
    v_max: float = 200.0
    """C51: highest atom (CartPole values approach 1 / (1 − γ) = 100; a support
    ending at 100 left them on the top atom and was less stable)."""
    num_quantiles: int = 51
    """QR-DQN: number N of quantiles, at fractions τᵢ = (2i + 1) / 2N."""
    quantile_huber: float = 1.0
    """QR-DQN: threshold κ of the quantile Huber loss; 0 for the plain quantile
    loss."""

    def __post_init__(self):
        """Raise ValueError naming the first field outside its range."""
        _config.check_fields(
            self,
            ranges={
                "gamma": (0.0, 1.0),
                "priority_alpha": (0.0, INF),
                "priority_beta": (0.0, 1.0),
                "epsilon_start": (0.0, 1.0),
                "epsilon_end": (0.0, 1.0),
                "learning_rate_end": (0.0, INF),
                "quantile_huber": (0.0, INF),
                "v_min": (-INF, INF),
                "v_max": (-INF, INF),
            },
            positive={"learning_rate": INF, "adam_eps": INF, "target_tau": 1.0},
            optional_positive=("huber_delta", "max_grad_norm"),
            ints={
                "n_step": 1,
                "target_update_period": 1,
                "epsilon_decay_steps": 0,
                "learning_rate_decay_updates": -1,
                "batch_size": 1,
                "replay_capacity": 1,
                "learning_starts": 0,
                "train_frequency": 1,
                "num_atoms": 2,
                "num_quantiles": 1,
            },
            sizes=("hidden_sizes",),
        )
        if not self.v_min < self.v_max:
            raise ValueError(
                f"DQNConfig.v_min must be < v_max, got v_min={self.v_min}, "
                f"v_max={self.v_max}"
            )
        if self.batch_size > self.replay_capacity:
            raise ValueError(
                f"DQNConfig.batch_size={self.batch_size} must be <= "
                f"replay_capacity={self.replay_capacity}"
            )


class Transition(NamedTuple):
    """One vector-env step, every field with a leading env axis [E]."""

    obs_tm1: Any  # [E, *obs_shape]
    a_tm1: Any  # [E] int32
    r_t: Any  # [E] float32
    terminated: Any  # [E] bool: the MDP ended, no bootstrap
    truncated: Any  # [E] bool: time limit, bootstrap from obs_t
    obs_t: Any  # [E, *obs_shape] the true next observation (final_obs at an end)


class Stored(NamedTuple):
    """What replay holds: (s, a, R, γⁿ·(1−term), s') without the env axis."""

    obs_tm1: Any
    a_tm1: Any
    r_t: Any
    discount_t: Any
    obs_t: Any


class GradExtras(NamedTuple):
    """What `DQN.grads` hands to `DQN.apply` besides the gradients."""

    loss: Any  # float32 [] the TD loss of the batch
    q: Any  # float32 [] mean predicted Q-value of the batch
    td_error: Any  # float32 [B] per-example TD errors (new priorities |δ|)
    indices: Any  # int32 [B] replay slots of the batch


class DQNState(NamedTuple):
    """Everything that changes while training (a pytree of arrays)."""

    params: Any
    target_params: Any
    opt_state: Any
    replay: Any
    window: Any  # last n_step Transitions, leading axis [n] (None when n_step == 1)
    key: Any  # PRNG key for exploration and replay sampling
    env_steps: Any  # int32 [], environment steps over all envs
    updates: Any  # int32 [], gradient steps taken


class DQN(NamedTuple):
    """Pure functions of a DQN agent (see the module docstring)."""

    init: Callable
    act: Callable
    observe: Callable
    update: Callable
    learn: Callable
    step: Callable
    q_values: Callable
    epsilon: Callable
    loss: Callable
    grads: Callable
    apply: Callable


def dqn(
    config: DQNConfig,
    num_actions: int,
    example_obs: Any,
    num_envs: int = 1,
    *,
    grad_transform: Callable | None = None,
) -> DQN:
    """Build a DQN-family agent from blocks.

    Loss: mean_b w_b ρ(R_b + γⁿ_b q_target(s'_b, argmax_a q(s'_b, a)) − q(s_b, a_b))
    (C51: cross-entropy to the projected target distribution; QR: quantile loss).

    Args:
      config: hyperparameters.
      num_actions: A, the number of discrete actions.
      example_obs: one observation (no batch axis) fixing shapes and dtypes.
      num_envs: E, environments stepped together per `step` call.
      grad_transform: applied to gradients before the optimizer, e.g.
        `rlblocks.distributed.average_gradients` for data-parallel training.

    Returns:
      A `DQN` of pure functions.

    References:
      Mnih et al., "Human-level control through deep reinforcement learning", 2015.
      van Hasselt et al., "Deep Reinforcement Learning with Double Q-learning", 2016.
      Bellemare, Dabney and Munos, "A Distributional Perspective on Reinforcement
      Learning", 2017.
      Dabney et al., "Distributional Reinforcement Learning with Quantile
      Regression", 2018.
    """
    if config.distributional not in ("none", "c51", "qr"):
        raise ValueError(
            "distributional must be 'none', 'c51' or 'qr', "
            f"got {config.distributional!r}"
        )
    num_atoms = {"none": None, "c51": config.num_atoms, "qr": config.num_quantiles}
    net = networks.QNetwork(
        num_actions,
        config.torso,
        config.hidden_sizes,
        config.dueling,
        num_atoms[config.distributional],
    )
    atoms = jnp.linspace(config.v_min, config.v_max, config.num_atoms)
    n = config.num_quantiles
    taus = (jnp.arange(n, dtype=jnp.float32) + 0.5) / n
    example_obs = jnp.asarray(example_obs)
    clip = (
        []
        if config.max_grad_norm is None
        else [optax.clip_by_global_norm(config.max_grad_norm)]
    )
    learning_rate = config.learning_rate
    if config.learning_rate_decay_updates > 0:  # <= 0: constant
        learning_rate = optax.linear_schedule(
            config.learning_rate,
            config.learning_rate_end,
            config.learning_rate_decay_updates,
        )
    optimizer = optax.chain(*clip, optax.adam(learning_rate, eps=config.adam_eps))
    if config.prioritized:
        replay = replay_lib.prioritized_buffer(
            config.replay_capacity,
            alpha=config.priority_alpha,
            beta=config.priority_beta,
        )
    else:
        replay = replay_lib.uniform_buffer(config.replay_capacity)
    explore = rlb.epsilon_greedy()
    epsilon = rlb.linearly_decaying_epsilon(
        config.epsilon_decay_steps,
        config.learning_starts,
        config.epsilon_end,
        init_value=config.epsilon_start,
    )
    per_step = updates_per_step(config, num_envs)

    def to_q(out):
        """Action values [B, A] from the head's output: E_z (C51), mean θ (QR)."""
        if config.distributional == "c51":
            return jnp.sum(jax.nn.softmax(out, axis=-1) * atoms, axis=-1)
        return out.mean(axis=-1) if config.distributional == "qr" else out

    def q_values(params, obs):
        return to_q(net.apply(params, obs))

    def init(key):
        key, net_key = jax.random.split(key)
        params = net.init(net_key, example_obs[None])
        a = jnp.zeros((), jnp.int32)
        r = jnp.zeros((), jnp.float32)
        item = Stored(example_obs, a, r, r, example_obs)
        window = None
        if config.n_step > 1:
            row = Transition(
                *(
                    jnp.zeros((num_envs, *jnp.shape(x)), jnp.asarray(x).dtype)
                    for x in (example_obs, a, r, False, False, example_obs)
                )
            )
            window = jax.tree.map(lambda x: jnp.stack([x] * config.n_step), row)
        # Every leaf gets its own buffer (initial states may share arrays, e.g. zero
        # counters), so that the whole state can be donated to the jitted step.
        state = DQNState(
            params,
            params,
            optimizer.init(params),
            replay.init(item),
            window,
            key,
            jnp.int32(0),
            jnp.int32(0),
        )
        return jax.tree.map(jnp.copy, state)

    def act(params, key, obs, eps):
        keys = jax.random.split(key, jnp.shape(obs)[0])
        q = q_values(params, obs)
        return jax.vmap(explore.sample, in_axes=(0, 0, None))(keys, q, eps)

    def observe(state, transition):
        items, window = to_replay_items(config, state.window, transition)
        # An n-step window emits its oldest step once it holds n steps.
        ready = state.env_steps >= (config.n_step - 1) * num_envs
        new_replay = jax.lax.cond(
            ready, lambda r: replay.add(r, items), lambda r: r, state.replay
        )
        return state._replace(
            replay=new_replay, window=window, env_steps=state.env_steps + num_envs
        )

    def td_loss(out_tm1, batch, out_t, out_select, weights):
        """The loss chosen by config; `out_select` (online at s') is None unless
        double."""
        mid = (batch.a_tm1, batch.r_t, batch.discount_t)
        if config.distributional == "c51":
            args = (atoms, out_tm1, *mid, atoms, out_t)
            if out_select is None:
                return rlb.categorical_q_learning_loss(*args, weights=weights)
            selector = to_q(out_select)
            return rlb.categorical_double_q_learning_loss(
                *args, selector, weights=weights
            )
        if config.distributional == "qr":  # the loss takes quantiles [B, N, A]
            swap = functools.partial(jnp.swapaxes, axis1=1, axis2=2)
            select = out_t if out_select is None else out_select
            args = (swap(out_tm1), taus, *mid, swap(select), swap(out_t))
            return rlb.quantile_q_learning_loss(
                *args, config.quantile_huber, weights=weights
            )
        kwargs = {"weights": weights, "huber_delta": config.huber_delta}
        if out_select is None:
            return rlb.q_learning_loss(out_tm1, *mid, out_t, **kwargs)
        return rlb.double_q_learning_loss(out_tm1, *mid, out_t, out_select, **kwargs)

    def bootstrap_outputs(params, target_params, obs_t):
        """(target, online or None) outputs at s', without gradients.

        The online pass over s' (double) stays out of the gradient pass over s:
        fused with it, the backward pass would run over 2B rows instead of B
        (~40% more FLOPs).
        """
        out_t = net.apply(target_params, obs_t)
        if not config.double:
            return out_t, None
        return out_t, net.apply(jax.lax.stop_gradient(params), obs_t)

    def loss_fn(params, target_params, batch, weights):
        out_t, out_select = bootstrap_outputs(params, target_params, batch.obs_t)
        out_tm1 = net.apply(params, batch.obs_tm1)
        loss, extras = td_loss(out_tm1, batch, out_t, out_select, weights)
        q_pred = rlb.batched_index(to_q(out_tm1), batch.a_tm1)
        return loss, (extras.td_error, jax.lax.stop_gradient(q_pred))

    def grads(state):
        """Sample replay and differentiate the TD loss: `(state, grads, extras)`."""
        key, sample_key = jax.random.split(state.key)
        sample = replay.sample(state.replay, sample_key, config.batch_size)
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, (td_error, q_pred)), g = grad_fn(
            state.params, state.target_params, sample.item, sample.weights
        )
        extras = GradExtras(loss, q_pred.mean(), td_error, sample.indices)
        return state._replace(key=key), g, extras

    def apply(state, grads, extras):
        """The optimizer step with `grads`, priorities and the target update."""
        deltas, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, deltas)
        new_replay = state.replay
        if config.prioritized:
            new_replay = replay.update_priorities(
                new_replay, extras.indices, jnp.abs(extras.td_error)
            )
        updates = state.updates + 1
        if config.target_tau < 1.0:
            target = rlb.incremental_update(
                params, state.target_params, config.target_tau
            )
        else:
            target = rlb.periodic_update(
                params, state.target_params, updates, config.target_update_period
            )
        new_state = state._replace(
            params=params,
            target_params=target,
            opt_state=opt_state,
            replay=new_replay,
            updates=updates,
        )
        return new_state, {"loss": extras.loss, "q": extras.q}

    def update(state):
        state, g, extras = grads(state)
        if grad_transform is not None:
            g = grad_transform(g)
        return apply(state, g, extras)

    def maybe_update(state):
        due = update_due(config, num_envs, state.env_steps)
        skip = {"loss": jnp.float32(jnp.nan), "q": jnp.float32(jnp.nan)}

        def many(s):
            metrics = skip
            for _ in range(per_step):
                s, metrics = update(s)
            return s, metrics

        return jax.lax.cond(due, many, lambda s: (s, skip), state)

    def learn(state, transition):
        return maybe_update(observe(state, transition))

    def step(state, transition, obs):
        state, metrics = learn(state, transition)
        key, act_key = jax.random.split(state.key)
        eps = epsilon(state.env_steps)
        actions = act(state.params, act_key, obs, eps)
        metrics = dict(metrics, epsilon=eps)
        return state._replace(key=key), actions, metrics

    return DQN(
        init,
        act,
        observe,
        update,
        learn,
        step,
        q_values,
        epsilon,
        loss_fn,
        grads,
        apply,
    )


def updates_per_step(config: DQNConfig, num_envs: int) -> int:
    """Gradient steps taken by one `learn` call that updates: max(E // f, 1)."""
    return max(num_envs // config.train_frequency, 1)


def update_due(config: DQNConfig, num_envs: int, env_steps: Any) -> Any:
    """Whether `learn` updates after observing up to `env_steps` (host or traced).

    due = (k ≥ learning_starts) ∧ (⌊k / f⌋ > ⌊(k − E) / f⌋) for k env steps after
    the observation, f = `train_frequency`, E = `num_envs`: an update whenever the
    step counter crosses a multiple of f. A host loop that averages gradients
    outside jit (`rlblocks.train.loop`) uses it on its own step counter.

    Args:
      config: uses `learning_starts` and `train_frequency`.
      num_envs: E, env steps per `learn` call.
      env_steps: k, an int or an int32 [] array.

    Returns:
      A bool (for an int) or a bool [] array.
    """
    f = config.train_frequency
    return (env_steps >= config.learning_starts) & (
        env_steps // f > (env_steps - num_envs) // f
    )


def to_replay_items(
    config: DQNConfig, window: Any, transition: Transition
) -> tuple[Stored, Any]:
    """Turn a vector-env step into replay items [E]: one-step, or n-step via window.

    Rₜ = Σ_{k<L} γᵏ r_{t+k}, discount γᴸ(1 − term_{t+L−1}), L ≤ n stops at an end.

    Termination zeroes the bootstrap; truncation (a time limit) keeps it, bootstrapping
    from `obs_t`, the last observation before the reset.

    Args:
      config: uses `gamma` and `n_step`.
      window: the last `n_step` Transitions stacked [n, E, ...], or None for n = 1.
      transition: this step's `Transition` [E, ...].

    Returns:
      `(items, window)`: `Stored` items [E, ...] starting at the window's oldest step
      (the new step itself when n = 1), and the updated window.
    """
    gamma = config.gamma
    if window is None:
        discount = gamma * (1.0 - transition.terminated.astype(jnp.float32))
        items = Stored(
            transition.obs_tm1,
            transition.a_tm1,
            transition.r_t.astype(jnp.float32),
            discount,
            transition.obs_t,
        )
        return items, None
    window = jax.tree.map(
        lambda w, x: jnp.concatenate([w[1:], jnp.asarray(x, w.dtype)[None]]),
        window,
        transition,
    )
    n = config.n_step
    done = (window.terminated | window.truncated).astype(jnp.float32)  # [n, E]
    alive = jnp.cumprod(jnp.concatenate([jnp.ones_like(done[:1]), 1 - done[:-1]]), 0)
    powers = gamma ** jnp.arange(n, dtype=jnp.float32)[:, None]
    ret = jnp.sum(alive * powers * window.r_t, axis=0)
    length = jnp.sum(alive, axis=0).astype(jnp.int32)  # L in [1, n]
    last = length - 1
    pick = jax.vmap(lambda x, i: x[i], in_axes=(1, 0))
    terminated = pick(window.terminated, last).astype(jnp.float32)
    discount = gamma**length * (1.0 - terminated)
    items = Stored(
        window.obs_tm1[0], window.a_tm1[0], ret, discount, pick(window.obs_t, last)
    )
    return items, window

"""Exploration: greedy, epsilon-greedy and softmax action distributions; action noise.

A discrete distribution is a `DiscreteDistribution` NamedTuple of four pure
functions, `sample(key, preferences, ...)`, `probs(preferences, ...)`,
`logprob(sample, preferences, ...)` and `entropy(preferences, ...)`, with rlax's
argument names and order. `preferences` are action values or logits `[..., A]`;
outputs drop the last axis.

Each function also takes a keyword-only `legal_actions_mask` (`[..., A]`, same
shape as `preferences`, nonzero = legal). Illegal actions get probability 0 and are
never sampled; epsilon-greedy explores uniformly over the legal actions only.

A concrete mask with a row where no action is legal raises `ValueError`. A traced
mask cannot be inspected at trace time: on such a row the mask is ignored (the
row is treated as if every action were legal), so the outputs stay finite
probabilities rather than NaN.

Sampling uses `jax.random.categorical` on log-probabilities (Gumbel-max), so a
zero-probability action is never drawn, whatever the rounding of the others.
`probs`, `logprob` and `entropy` equal rlax's; `sample` draws from the same
distribution but not the same actions as rlax for a given key (rlax inverts a
cumulative sum, which can return a zero-probability action 0 when the uniform
draw is exactly 0).

The arithmetic is compiled once per input shape, so an eager call costs one
dispatch rather than one per array operation; under an outer `jax.jit` it is
inlined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlblocks._src import checks
from rlblocks._src.types import Array, ArrayLike


class DiscreteDistribution(NamedTuple):
    """The functions of a distribution over A discrete actions (rlax's layout).

    Attributes:
      sample: `(key, preferences, ...) -> [...]` int32 actions.
      probs: `(preferences, ...) -> [..., A]` probabilities.
      logprob: `(sample, preferences, ...) -> [...]` log-probabilities of `sample`.
      entropy: `(preferences, ...) -> [...]` entropy (≥ 0, in nats).
    """

    sample: Callable
    probs: Callable
    logprob: Callable
    entropy: Callable


def _prepare(preferences, legal_actions_mask):
    """Check shapes (and a concrete mask); return the arguments as arrays."""
    preferences = jnp.asarray(preferences)
    if preferences.ndim < 1:
        raise ValueError(
            f"preferences must have rank >= 1 ([..., A]), got shape {preferences.shape}"
        )
    if legal_actions_mask is None:
        return preferences, None
    if jnp.shape(legal_actions_mask) != preferences.shape:
        raise ValueError(
            f"legal_actions_mask must have the shape of preferences "
            f"{preferences.shape}, got shape {jnp.shape(legal_actions_mask)}"
        )
    _check_some_legal(legal_actions_mask)
    return preferences, jnp.asarray(legal_actions_mask)


def _check_some_legal(legal_actions_mask) -> None:
    try:
        concrete = np.asarray(legal_actions_mask)
    except jax.errors.TracerArrayConversionError:
        return
    empty = ~np.any(concrete != 0, axis=-1)
    if np.any(empty):
        rows = [tuple(int(i) for i in r) for r in np.argwhere(empty)]
        where = f" at index {rows}" if concrete.ndim > 1 else ""
        raise ValueError(
            f"legal_actions_mask of shape {concrete.shape} allows no action{where}; "
            "at least one action must be legal"
        )


def _check_epsilon(epsilon):
    if epsilon is None:
        raise ValueError(
            "epsilon must be given, to epsilon_greedy(epsilon) or to the call"
        )
    checks.check_rank(epsilon, 0, "epsilon", "[]")
    checks.check_in_range(epsilon, 0.0, 1.0, "epsilon")
    return epsilon


def _check_sample(sample, values) -> None:
    lead = " ".join(f"d{i}" for i in range(values.ndim - 1))
    checks.check_shapes(
        {"sample": (sample, lead, "int")},
        dict(zip(lead.split(), values.shape, strict=False)),
    )


def _legal(mask):
    """Bool mask; a row with no legal action (only possible traced) is all-legal."""
    if mask is None:
        return None
    mask = mask != 0
    return mask | ~jnp.any(mask, axis=-1, keepdims=True)


def _greedy_probs(preferences, mask):
    """Uniform over the (legal) maximisers of `preferences`."""
    if mask is None:
        mask = jnp.ones(preferences.shape, bool)
    masked = jnp.where(mask, preferences, -jnp.inf)
    best = (masked == jnp.max(masked, axis=-1, keepdims=True)) & mask
    # If every legal preference is NaN nothing equals the max: keep the legal set.
    best = jnp.where(jnp.any(best, axis=-1, keepdims=True), best, mask)
    return best / jnp.sum(best, axis=-1, keepdims=True)


@jax.jit
def _greedy_core(preferences, mask):
    return _greedy_probs(preferences, _legal(mask))


@jax.jit
def _epsilon_greedy_core(preferences, mask, epsilon):
    mask = _legal(mask)
    # A traced epsilon cannot be range-checked: clip it so probabilities stay valid.
    eps = jnp.clip(epsilon, 0.0, 1.0)
    if mask is None:
        uniform = jnp.full(preferences.shape, 1.0 / preferences.shape[-1])
    else:
        uniform = mask / jnp.sum(mask, axis=-1, keepdims=True)
    return (1.0 - eps) * _greedy_probs(preferences, mask) + eps * uniform


@jax.jit
def _softmax_core(logits, mask, temperature):
    """Log-probabilities; −inf on illegal actions."""
    mask, scaled = _legal(mask), logits / temperature
    if mask is not None:
        scaled = jnp.where(mask, scaled, -jnp.inf)
    return jax.nn.log_softmax(scaled, axis=-1)


@jax.jit
def _sample_log(key, log_probs):
    return jax.random.categorical(key, log_probs, axis=-1)


@jax.jit
def _sample_probs(key, probs):
    return jax.random.categorical(key, jnp.log(probs), axis=-1)


@jax.jit
def _pick(values, sample):
    return jnp.take_along_axis(values, sample[..., None], axis=-1)[..., 0]


@jax.jit
def _log_pick(probs, sample):
    return jnp.log(_pick(probs, sample))


@jax.jit
def _entropy_of_probs(probs):
    """−Σ p log p with 0 log 0 = 0."""
    safe = jnp.where(probs > 0, probs, 1.0)
    return -jnp.sum(jnp.where(probs > 0, probs * jnp.log(safe), 0.0), axis=-1)


@jax.jit
def _entropy_of_log_probs(log_probs):
    """−Σ p log p from log p, with finite gradients where log p = −inf."""
    finite = jnp.isfinite(log_probs)
    safe_logp = jnp.where(finite, log_probs, 0.0)
    return -jnp.sum(jnp.where(finite, jnp.exp(safe_logp), 0.0) * safe_logp, axis=-1)


def _logprob_from_probs(sample, probs) -> Array:
    _check_sample(sample, probs)
    return _log_pick(probs, jnp.asarray(sample))


def greedy() -> DiscreteDistribution:
    """The greedy distribution: uniform over the (legal) actions of highest preference.

    π(a) = 1/|argmax| if a ∈ argmax_{legal b} p(b) else 0

    Ties are broken uniformly at random, as in rlax.

    Returns:
      A `DiscreteDistribution`; each function takes `preferences` [..., A] and an
      optional keyword-only `legal_actions_mask` [..., A].
    """

    def probs(preferences: ArrayLike, *, legal_actions_mask=None) -> Array:
        return _greedy_core(*_prepare(preferences, legal_actions_mask))

    def sample(key, preferences: ArrayLike, *, legal_actions_mask=None) -> Array:
        p = probs(preferences, legal_actions_mask=legal_actions_mask)
        return _sample_probs(key, p)

    def logprob(sample, preferences: ArrayLike, *, legal_actions_mask=None) -> Array:
        p = probs(preferences, legal_actions_mask=legal_actions_mask)
        return _logprob_from_probs(sample, p)

    def entropy(preferences: ArrayLike, *, legal_actions_mask=None) -> Array:
        p = probs(preferences, legal_actions_mask=legal_actions_mask)
        return _entropy_of_probs(p)

    return DiscreteDistribution(sample, probs, logprob, entropy)


def epsilon_greedy(epsilon: float | None = None) -> DiscreteDistribution:
    """The epsilon-greedy distribution: greedy, mixed with uniform over legal actions.

    π(a) = (1 − ε) greedy(a) + ε / |legal|  for legal a;  0 for illegal a

    Args:
      epsilon: default ε in [0, 1]; each function also takes `epsilon` after
        `preferences` (rlax's order), which overrides it. It may be traced (e.g.
        a schedule's value); a traced ε cannot be range-checked and is clipped to
        [0, 1] instead, so the probabilities stay valid.

    Returns:
      A `DiscreteDistribution`: `sample(key, preferences, epsilon=None, *,
      legal_actions_mask=None)`, `probs(preferences, epsilon=None, *, ...)`,
      `logprob(sample, preferences, epsilon=None, *, ...)`,
      `entropy(preferences, epsilon=None, *, ...)`.

    References:
      Sutton and Barto, Reinforcement Learning: An Introduction, 2018.
    """
    if epsilon is not None:
        _check_epsilon(epsilon)

    def probs(preferences: ArrayLike, epsilon=epsilon, *, legal_actions_mask=None):
        eps = _check_epsilon(epsilon)
        prefs, mask = _prepare(preferences, legal_actions_mask)
        return _epsilon_greedy_core(prefs, mask, eps)

    def sample(
        key, preferences: ArrayLike, epsilon=epsilon, *, legal_actions_mask=None
    ):
        p = probs(preferences, epsilon, legal_actions_mask=legal_actions_mask)
        return _sample_probs(key, p)

    def logprob(sample, preferences, epsilon=epsilon, *, legal_actions_mask=None):
        p = probs(preferences, epsilon, legal_actions_mask=legal_actions_mask)
        return _logprob_from_probs(sample, p)

    def entropy(preferences: ArrayLike, epsilon=epsilon, *, legal_actions_mask=None):
        p = probs(preferences, epsilon, legal_actions_mask=legal_actions_mask)
        return _entropy_of_probs(p)

    return DiscreteDistribution(sample, probs, logprob, entropy)


def softmax(temperature: float = 1.0) -> DiscreteDistribution:
    """The softmax (Boltzmann) distribution over legal actions.

    π(a) = exp(p(a)/τ) / Σ_{legal b} exp(p(b)/τ)  for legal a;  0 for illegal a

    Args:
      temperature: τ > 0; small τ approaches greedy, large τ uniform.

    Returns:
      A `DiscreteDistribution`; each function takes `logits` [..., A] and an
      optional keyword-only `legal_actions_mask` [..., A]. `logprob` and `entropy`
      are computed from log-softmax, so they have finite gradients.
    """
    if checks.is_number(temperature) and not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")

    def log_probs(logits, legal_actions_mask):
        return _softmax_core(*_prepare(logits, legal_actions_mask), temperature)

    def probs(logits: ArrayLike, *, legal_actions_mask=None) -> Array:
        return jnp.exp(log_probs(logits, legal_actions_mask))

    def sample(key, logits: ArrayLike, *, legal_actions_mask=None) -> Array:
        return _sample_log(key, log_probs(logits, legal_actions_mask))

    def logprob(sample, logits: ArrayLike, *, legal_actions_mask=None) -> Array:
        logp = log_probs(logits, legal_actions_mask)
        _check_sample(sample, logp)
        return _pick(logp, jnp.asarray(sample))

    def entropy(logits: ArrayLike, *, legal_actions_mask=None) -> Array:
        return _entropy_of_log_probs(log_probs(logits, legal_actions_mask))

    return DiscreteDistribution(sample, probs, logprob, entropy)


def add_gaussian_noise(key: ArrayLike, action: ArrayLike, stddev: float) -> Array:
    """Add independent Gaussian noise to a continuous action.

    ã = a + σ ξ,  ξ ~ N(0, I)

    Args:
      key: a `jax.random` key.
      action: [...] float action (scalar or vector).
      stddev: σ ≥ 0.

    Returns:
      The noisy action, shaped like `action`.

    References:
      Fujimoto et al., Addressing Function Approximation Error in Actor-Critic
      Methods (TD3), 2018.
    """
    checks.check_dtype(action, "float", "action")
    checks.check_in_range(stddev, 0.0, np.inf, "stddev")
    action = jnp.asarray(action)
    return action + stddev * jax.random.normal(key, action.shape, action.dtype)


def add_ornstein_uhlenbeck_noise(
    key: ArrayLike,
    action: ArrayLike,
    noise_tm1: ArrayLike,
    damping: float,
    stddev: float,
) -> Array:
    """Add temporally correlated Ornstein-Uhlenbeck noise to a continuous action.

    nₜ = (1 − θ) nₜ₋₁ + σ ξ,  ã = a + nₜ,  ξ ~ N(0, I)

    As in rlax, only the noisy action is returned; the caller keeps the noise
    for the next step as `noise_t = noisy_action - action`.

    Args:
      key: a `jax.random` key.
      action: [D] float action.
      noise_tm1: [D] noise of the previous step (zeros at the episode start).
      damping: θ in [0, 1], pull of the noise towards 0.
      stddev: σ ≥ 0.

    Returns:
      [D] noisy action a + nₜ.

    References:
      Uhlenbeck and Ornstein, On the Theory of the Brownian Motion, 1930.
      Lillicrap et al., Continuous control with deep reinforcement learning, 2016.
    """
    checks.check_shapes(
        {"action": (action, "D", "float"), "noise_tm1": (noise_tm1, "D", "float")}
    )
    checks.check_in_range(damping, 0.0, 1.0, "damping")
    checks.check_in_range(stddev, 0.0, np.inf, "stddev")
    action = jnp.asarray(action)
    xi = jax.random.normal(key, action.shape, action.dtype)
    return action + (1.0 - damping) * jnp.asarray(noise_tm1) + stddev * xi


def add_dirichlet_noise(
    key: ArrayLike,
    prior: ArrayLike,
    dirichlet_alpha: float,
    dirichlet_fraction: float,
) -> Array:
    """Mix a batch of prior policies with symmetric Dirichlet noise (AlphaZero).

    π̃ = (1 − f) π + f η,  η ~ Dir(α, ..., α)

    Args:
      key: a `jax.random` key.
      prior: [B, A] prior policies (rows sum to 1).
      dirichlet_alpha: α > 0, the concentration (AlphaZero: 0.3 chess, 0.03 Go).
      dirichlet_fraction: f in [0, 1], weight of the noise.

    Returns:
      [B, A] noisy priors (rows still sum to 1 when the prior's do).

    References:
      Silver et al., Mastering the game of Go without human knowledge, 2017.
    """
    checks.check_shapes({"prior": (prior, "B A", "float")})
    if checks.is_number(dirichlet_alpha) and not dirichlet_alpha > 0:
        raise ValueError(f"dirichlet_alpha must be > 0, got {dirichlet_alpha}")
    checks.check_in_range(dirichlet_fraction, 0.0, 1.0, "dirichlet_fraction")
    prior = jnp.asarray(prior)
    alpha = jnp.full(prior.shape[-1:], dirichlet_alpha, prior.dtype)
    noise = jax.random.dirichlet(key, alpha, prior.shape[:-1], prior.dtype)
    return (1.0 - dirichlet_fraction) * prior + dirichlet_fraction * noise

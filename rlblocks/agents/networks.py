"""Flax Q-networks: an MLP torso for vector observations, the Nature-DQN conv torso
for images, and a plain or dueling head.

Every network maps observations `[B, *obs_shape]` to action values `[B, A]`, or, with
`num_atoms` set, to N outputs per action `[B, A, N]` (C51 logits or QR-DQN quantiles).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from rlblocks._src.types import Array, ArrayLike


class MLPTorso(nn.Module):
    """Fully connected ReLU layers over flattened observations.

    h = relu(W_k ... relu(W_1 x))

    Attributes:
      hidden_sizes: width of each hidden layer.
    """

    hidden_sizes: Sequence[int] = (128, 128)

    @nn.compact
    def __call__(self, x: ArrayLike) -> Array:
        """Embed `x` [B, ...] into features [B, hidden_sizes[-1]]."""
        x = jnp.asarray(x, jnp.float32).reshape((jnp.shape(x)[0], -1))
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width)(x))
        return x


class NatureTorso(nn.Module):
    """The conv torso of Nature DQN: 32×8×8/4, 64×4×4/2, 64×3×3/1, dense 512.

    Pixels `uint8` [B, H, W, C] are scaled to [0, 1] first.

    References:
      Mnih et al., "Human-level control through deep reinforcement learning", 2015.
    """

    @nn.compact
    def __call__(self, x: ArrayLike) -> Array:
        """Embed images `x` [B, H, W, C] into features [B, 512]."""
        x = jnp.asarray(x, jnp.float32) / 255.0
        for features, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            x = nn.relu(nn.Conv(features, (kernel, kernel), (stride, stride))(x))
        x = x.reshape((x.shape[0], -1))
        return nn.relu(nn.Dense(512)(x))


class QNetwork(nn.Module):
    """A torso followed by a linear Q head, or a dueling head.

    Dueling: q(s, a) = v(s) + a(s, a) − mean_a' a(s, a')

    Attributes:
      num_actions: A, the number of discrete actions.
      torso: "mlp" for vectors, "nature" for images.
      hidden_sizes: MLP widths (ignored by the conv torso).
      dueling: use separate value and advantage streams.
      num_atoms: None for action values [B, A]; N for N outputs per action
        [B, A, N] (distributional heads; dueling then acts per atom).

    References:
      Wang et al., "Dueling Network Architectures for Deep Reinforcement Learning",
      2016.
    """

    num_actions: int
    torso: str = "mlp"
    hidden_sizes: Sequence[int] = (128, 128)
    dueling: bool = False
    num_atoms: int | None = None

    @nn.compact
    def __call__(self, obs: ArrayLike) -> Array:
        """Action values [B, A] (or [B, A, N]) of observations `obs` [B, *obs_shape]."""
        if self.torso == "mlp":
            h = MLPTorso(tuple(self.hidden_sizes))(obs)
        elif self.torso == "nature":
            h = NatureTorso()(obs)
        else:
            raise ValueError(f"torso must be 'mlp' or 'nature', got {self.torso!r}")
        n = self.num_atoms or 1
        shape = (h.shape[0], self.num_actions, n)
        if not self.dueling:
            out = nn.Dense(self.num_actions * n)(h).reshape(shape)
        else:
            value = nn.Dense(n)(h).reshape((h.shape[0], 1, n))
            advantage = nn.Dense(self.num_actions * n)(h).reshape(shape)
            out = value + advantage - advantage.mean(axis=1, keepdims=True)
        return out[..., 0] if self.num_atoms is None else out

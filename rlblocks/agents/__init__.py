"""Agents composed from rlblocks primitives, replay buffers and flax networks.

Each module is one agent family: a `Config` dataclass and a factory returning a
NamedTuple of pure functions. `dqn` (DQN, double, dueling, n-step, prioritized,
C51, QR-DQN) and `ppo` (PPO/A2C) are the agents; `dqn_jit` and `ppo.ppo` train a
whole run inside one jitted call on the pure-JAX environments; `data_parallel`
builds either as one replica of an MPI rank; `networks` holds the flax modules.
The submodules load on first use (`rlblocks.agents.dqn` imports flax and optax).
"""

import importlib

__all__ = ["data_parallel", "dqn", "dqn_jit", "networks", "ppo"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"rlblocks.agents.{name}")
    raise AttributeError(f"module 'rlblocks.agents' has no attribute {name!r}")

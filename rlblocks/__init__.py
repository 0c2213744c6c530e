"""rlblocks: reinforcement-learning building blocks on JAX.

Public names are re-exported here, one per line. `rlblocks.distributed` (MPI) is
loaded on first attribute access only, so importing rlblocks never starts MPI.
"""

import importlib as _importlib

# --- value learning (rlblocks/_src/value_learning.py, losses.py, transforms.py)

# --- multistep returns (rlblocks/_src/multistep.py)

# --- policy gradients (rlblocks/_src/policy_gradients.py)

# --- exploration (rlblocks/_src/exploration.py)

# --- schedules (rlblocks/_src/schedules.py)

# --- target networks (rlblocks/_src/targets.py)

# --- distributional (rlblocks/_src/distributional.py)

# --- value transforms (rlblocks/_src/transforms.py)

_SUBPACKAGES = ("agents", "distributed", "envs", "replay", "train")


def __getattr__(name):
    """Load a subpackage (`rlblocks.replay`, `rlblocks.distributed`, ...) lazily."""
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = []

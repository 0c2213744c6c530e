"""rlblocks: reinforcement-learning building blocks on JAX.

Public names are re-exported here, one per line. `rlblocks.distributed` (MPI) is
loaded on first attribute access only, so importing rlblocks never starts MPI.
"""

import importlib as _importlib

# --- value learning (rlblocks/_src/value_learning.py, losses.py, transforms.py)
# --- multistep returns (rlblocks/_src/multistep.py)
# --- policy gradients (rlblocks/_src/policy_gradients.py)
# --- exploration (rlblocks/_src/exploration.py)
from rlblocks._src.exploration import DiscreteDistribution as DiscreteDistribution
from rlblocks._src.exploration import add_dirichlet_noise as add_dirichlet_noise
from rlblocks._src.exploration import add_gaussian_noise as add_gaussian_noise
from rlblocks._src.exploration import (
    add_ornstein_uhlenbeck_noise as add_ornstein_uhlenbeck_noise,
)
from rlblocks._src.exploration import epsilon_greedy as epsilon_greedy
from rlblocks._src.exploration import greedy as greedy
from rlblocks._src.exploration import softmax as softmax

# --- schedules (rlblocks/_src/schedules.py)
from rlblocks._src.schedules import constant_schedule as constant_schedule
from rlblocks._src.schedules import exponential_decay as exponential_decay
from rlblocks._src.schedules import linear_schedule as linear_schedule
from rlblocks._src.schedules import (
    linearly_decaying_epsilon as linearly_decaying_epsilon,
)
from rlblocks._src.schedules import (
    piecewise_constant_schedule as piecewise_constant_schedule,
)
from rlblocks._src.schedules import (
    piecewise_linear_schedule as piecewise_linear_schedule,
)

# --- target networks (rlblocks/_src/targets.py)
from rlblocks._src.targets import incremental_update as incremental_update
from rlblocks._src.targets import periodic_update as periodic_update

# --- distributional (rlblocks/_src/distributional.py)

# --- value transforms (rlblocks/_src/transforms.py)

_SUBPACKAGES = ("agents", "distributed", "replay", "train")


def __getattr__(name):
    """Load a subpackage (`rlblocks.replay`, `rlblocks.distributed`, ...) lazily."""
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "DiscreteDistribution",
    "add_dirichlet_noise",
    "add_gaussian_noise",
    "add_ornstein_uhlenbeck_noise",
    "constant_schedule",
    "epsilon_greedy",
    "exponential_decay",
    "greedy",
    "incremental_update",
    "linear_schedule",
    "linearly_decaying_epsilon",
    "periodic_update",
    "piecewise_constant_schedule",
    "piecewise_linear_schedule",
    "softmax",
]

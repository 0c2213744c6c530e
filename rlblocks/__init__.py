"""rlblocks: reinforcement-learning building blocks on JAX.

Public names are re-exported here, one per line. `rlblocks.distributed` (MPI) is
loaded on first attribute access only, so importing rlblocks never starts MPI.
"""

import importlib as _importlib

# --- value learning (rlblocks/_src/value_learning.py, losses.py, transforms.py)

# --- multistep returns (rlblocks/_src/multistep.py)

# --- policy gradients (rlblocks/_src/policy_gradients.py)
# isort: split
from rlblocks._src.policy_gradients import (
    DiscretePolicyEntropyExtra as DiscretePolicyEntropyExtra,
)
from rlblocks._src.policy_gradients import (
    SequenceAdvantageActorCriticExtra as SequenceAdvantageActorCriticExtra,
)
from rlblocks._src.policy_gradients import (
    clipped_surrogate_pg_loss as clipped_surrogate_pg_loss,
)
from rlblocks._src.policy_gradients import (
    discrete_policy_entropy_loss as discrete_policy_entropy_loss,
)
from rlblocks._src.policy_gradients import dpg_loss as dpg_loss
from rlblocks._src.policy_gradients import entropy_loss as entropy_loss
from rlblocks._src.policy_gradients import policy_gradient_loss as policy_gradient_loss
from rlblocks._src.policy_gradients import qpg_loss as qpg_loss
from rlblocks._src.policy_gradients import rm_loss as rm_loss
from rlblocks._src.policy_gradients import rpg_loss as rpg_loss
from rlblocks._src.policy_gradients import (
    sequence_advantage_actor_critic_loss as sequence_advantage_actor_critic_loss,
)

# --- exploration (rlblocks/_src/exploration.py)
# isort: split
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
# isort: split
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
# isort: split
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
    "DiscretePolicyEntropyExtra",
    "SequenceAdvantageActorCriticExtra",
    "add_dirichlet_noise",
    "add_gaussian_noise",
    "add_ornstein_uhlenbeck_noise",
    "clipped_surrogate_pg_loss",
    "constant_schedule",
    "discrete_policy_entropy_loss",
    "dpg_loss",
    "entropy_loss",
    "epsilon_greedy",
    "exponential_decay",
    "greedy",
    "incremental_update",
    "linear_schedule",
    "linearly_decaying_epsilon",
    "periodic_update",
    "piecewise_constant_schedule",
    "piecewise_linear_schedule",
    "policy_gradient_loss",
    "qpg_loss",
    "rm_loss",
    "rpg_loss",
    "sequence_advantage_actor_critic_loss",
    "softmax",
]

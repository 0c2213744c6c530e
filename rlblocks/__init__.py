"""rlblocks: reinforcement-learning building blocks on JAX.

Public names are re-exported here, one per line. `rlblocks.distributed` (MPI) is
loaded on first attribute access only, so importing rlblocks never starts MPI.
"""

import importlib as _importlib

# --- value learning (rlblocks/_src/value_learning.py, value_losses.py, losses.py,
#     transforms.py)
from rlblocks._src.losses import clip_gradient as clip_gradient
from rlblocks._src.losses import huber_loss as huber_loss
from rlblocks._src.losses import l2_loss as l2_loss
from rlblocks._src.transforms import batched_index as batched_index
from rlblocks._src.transforms import one_hot as one_hot
from rlblocks._src.value_learning import double_q_learning as double_q_learning
from rlblocks._src.value_learning import expected_sarsa as expected_sarsa
from rlblocks._src.value_learning import persistent_q_learning as persistent_q_learning
from rlblocks._src.value_learning import q_learning as q_learning
from rlblocks._src.value_learning import qv_learning as qv_learning
from rlblocks._src.value_learning import qv_max as qv_max
from rlblocks._src.value_learning import sarsa as sarsa
from rlblocks._src.value_learning import td_learning as td_learning
from rlblocks._src.value_losses import DoubleQExtra as DoubleQExtra
from rlblocks._src.value_losses import QExtra as QExtra
from rlblocks._src.value_losses import TDExtra as TDExtra
from rlblocks._src.value_losses import double_q_learning_loss as double_q_learning_loss
from rlblocks._src.value_losses import expected_sarsa_loss as expected_sarsa_loss
from rlblocks._src.value_losses import (
    persistent_q_learning_loss as persistent_q_learning_loss,
)
from rlblocks._src.value_losses import q_learning_loss as q_learning_loss
from rlblocks._src.value_losses import qv_learning_loss as qv_learning_loss
from rlblocks._src.value_losses import sarsa_loss as sarsa_loss
from rlblocks._src.value_losses import td_learning_loss as td_learning_loss

# --- multistep returns (rlblocks/_src/multistep.py)

# --- policy gradients (rlblocks/_src/policy_gradients.py)

# --- exploration (rlblocks/_src/exploration.py)

# --- schedules (rlblocks/_src/schedules.py)

# --- target networks (rlblocks/_src/targets.py)

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
    "DoubleQExtra",
    "QExtra",
    "TDExtra",
    "batched_index",
    "clip_gradient",
    "double_q_learning",
    "double_q_learning_loss",
    "expected_sarsa",
    "expected_sarsa_loss",
    "huber_loss",
    "l2_loss",
    "one_hot",
    "persistent_q_learning",
    "persistent_q_learning_loss",
    "q_learning",
    "q_learning_loss",
    "qv_learning",
    "qv_learning_loss",
    "qv_max",
    "sarsa",
    "sarsa_loss",
    "td_learning",
    "td_learning_loss",
]

"""rlblocks: reinforcement-learning building blocks on JAX.

Public names are re-exported here, one per line. `rlblocks.distributed` (MPI) is
loaded on first attribute access only, so importing rlblocks never starts MPI.
"""

import importlib as _importlib

# --- value learning (rlblocks/_src/value_learning.py, losses.py, transforms.py)
# --- multistep returns (rlblocks/_src/multistep.py, multistep_td.py, vtrace.py,
#     sequence_losses.py)
from rlblocks._src.multistep import discounted_returns as discounted_returns
from rlblocks._src.multistep import (
    general_off_policy_returns_from_action_values as general_off_policy_returns_from_action_values,  # noqa: E501
)
from rlblocks._src.multistep import (
    general_off_policy_returns_from_q_and_v as general_off_policy_returns_from_q_and_v,
)
from rlblocks._src.multistep import (
    importance_corrected_td_errors as importance_corrected_td_errors,
)
from rlblocks._src.multistep import lambda_returns as lambda_returns
from rlblocks._src.multistep import (
    n_step_bootstrapped_returns as n_step_bootstrapped_returns,
)
from rlblocks._src.multistep import (
    truncated_generalized_advantage_estimation as truncated_generalized_advantage_estimation,  # noqa: E501
)
from rlblocks._src.multistep_td import q_lambda as q_lambda
from rlblocks._src.multistep_td import retrace as retrace
from rlblocks._src.multistep_td import retrace_continuous as retrace_continuous
from rlblocks._src.multistep_td import sarsa_lambda as sarsa_lambda
from rlblocks._src.multistep_td import td_lambda as td_lambda
from rlblocks._src.sequence_losses import SequenceExtras as SequenceExtras
from rlblocks._src.sequence_losses import VTraceExtras as VTraceExtras
from rlblocks._src.sequence_losses import q_lambda_loss as q_lambda_loss
from rlblocks._src.sequence_losses import retrace_loss as retrace_loss
from rlblocks._src.sequence_losses import sarsa_lambda_loss as sarsa_lambda_loss
from rlblocks._src.sequence_losses import td_lambda_loss as td_lambda_loss
from rlblocks._src.sequence_losses import vtrace_loss as vtrace_loss
from rlblocks._src.vtrace import VTraceOutput as VTraceOutput
from rlblocks._src.vtrace import leaky_vtrace as leaky_vtrace
from rlblocks._src.vtrace import (
    leaky_vtrace_td_error_and_advantage as leaky_vtrace_td_error_and_advantage,
)
from rlblocks._src.vtrace import vtrace as vtrace
from rlblocks._src.vtrace import (
    vtrace_td_error_and_advantage as vtrace_td_error_and_advantage,
)

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
    "SequenceExtras",
    "VTraceExtras",
    "VTraceOutput",
    "discounted_returns",
    "general_off_policy_returns_from_action_values",
    "general_off_policy_returns_from_q_and_v",
    "importance_corrected_td_errors",
    "lambda_returns",
    "leaky_vtrace",
    "leaky_vtrace_td_error_and_advantage",
    "n_step_bootstrapped_returns",
    "q_lambda",
    "q_lambda_loss",
    "retrace",
    "retrace_continuous",
    "retrace_loss",
    "sarsa_lambda",
    "sarsa_lambda_loss",
    "td_lambda",
    "td_lambda_loss",
    "truncated_generalized_advantage_estimation",
    "vtrace",
    "vtrace_loss",
    "vtrace_td_error_and_advantage",
]

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

# isort: split
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
from rlblocks._src.sequence_losses import SequenceExtra as SequenceExtra
from rlblocks._src.sequence_losses import VTraceExtra as VTraceExtra
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

# --- distributional (rlblocks/_src/distributional.py, quantile.py,
#     distributional_losses.py; modules for both sections imported here)
# isort: split
from rlblocks._src import distributional as _dist
from rlblocks._src import distributional_losses as _dlosses
from rlblocks._src import nonlinear_bellman as _nlb
from rlblocks._src import quantile as _quantile
from rlblocks._src import value_transforms as _vtx

categorical_cross_entropy = _dist.categorical_cross_entropy
categorical_double_q_learning = _dist.categorical_double_q_learning
categorical_l2_project = _dist.categorical_l2_project
categorical_q_learning = _dist.categorical_q_learning
categorical_td_learning = _dist.categorical_td_learning
quantile_expected_sarsa = _quantile.quantile_expected_sarsa
quantile_q_learning = _quantile.quantile_q_learning
quantile_regression_loss = _quantile.quantile_regression_loss
CategoricalExtra = _dlosses.CategoricalExtra
CategoricalQExtra = _dlosses.CategoricalQExtra
QuantileExtra = _dlosses.QuantileExtra
QuantileQExtra = _dlosses.QuantileQExtra
categorical_double_q_learning_loss = _dlosses.categorical_double_q_learning_loss
categorical_q_learning_loss = _dlosses.categorical_q_learning_loss
categorical_td_learning_loss = _dlosses.categorical_td_learning_loss
quantile_expected_sarsa_loss = _dlosses.quantile_expected_sarsa_loss
quantile_q_learning_loss = _dlosses.quantile_q_learning_loss

# --- value transforms (rlblocks/_src/value_transforms.py, nonlinear_bellman.py)
HYPERBOLIC_SIN_PAIR = _vtx.HYPERBOLIC_SIN_PAIR
IDENTITY_PAIR = _vtx.IDENTITY_PAIR
SIGNED_HYPERBOLIC_PAIR = _vtx.SIGNED_HYPERBOLIC_PAIR
SIGNED_LOGP1_PAIR = _vtx.SIGNED_LOGP1_PAIR
TxPair = _vtx.TxPair
compose_tx = _vtx.compose_tx
hyperbolic_arcsin = _vtx.hyperbolic_arcsin
hyperbolic_sin = _vtx.hyperbolic_sin
identity = _vtx.identity
identity_pair = _vtx.identity_pair
muzero_pair = _vtx.muzero_pair
power = _vtx.power
signed_expm1 = _vtx.signed_expm1
signed_hyperbolic = _vtx.signed_hyperbolic
signed_hyperbolic_pair = _vtx.signed_hyperbolic_pair
signed_logp1 = _vtx.signed_logp1
signed_logp1_pair = _vtx.signed_logp1_pair
signed_parabolic = _vtx.signed_parabolic
transform_from_2hot = _vtx.transform_from_2hot
transform_to_2hot = _vtx.transform_to_2hot
twohot_pair = _vtx.twohot_pair
unbiased_transform_pair = _vtx.unbiased_transform_pair
transformed_general_off_policy_returns_from_action_values = (
    _nlb.transformed_general_off_policy_returns_from_action_values
)
transformed_lambda_returns = _nlb.transformed_lambda_returns
transformed_n_step_q_learning = _nlb.transformed_n_step_q_learning
transformed_n_step_returns = _nlb.transformed_n_step_returns
transformed_q_lambda = _nlb.transformed_q_lambda
transformed_retrace = _nlb.transformed_retrace

_SUBPACKAGES = ("agents", "distributed", "replay", "train")


def __getattr__(name):
    """Load a subpackage (`rlblocks.replay`, `rlblocks.distributed`, ...) lazily."""
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [  # noqa: RUF022
    "CategoricalExtra",
    "CategoricalQExtra",
    "DiscreteDistribution",
    "DiscretePolicyEntropyExtra",
    "DoubleQExtra",
    "HYPERBOLIC_SIN_PAIR",
    "IDENTITY_PAIR",
    "QExtra",
    "QuantileExtra",
    "QuantileQExtra",
    "SIGNED_HYPERBOLIC_PAIR",
    "SIGNED_LOGP1_PAIR",
    "SequenceAdvantageActorCriticExtra",
    "SequenceExtra",
    "TDExtra",
    "TxPair",
    "VTraceExtra",
    "VTraceOutput",
    "add_dirichlet_noise",
    "add_gaussian_noise",
    "add_ornstein_uhlenbeck_noise",
    "batched_index",
    "categorical_cross_entropy",
    "categorical_double_q_learning",
    "categorical_double_q_learning_loss",
    "categorical_l2_project",
    "categorical_q_learning",
    "categorical_q_learning_loss",
    "categorical_td_learning",
    "categorical_td_learning_loss",
    "clip_gradient",
    "clipped_surrogate_pg_loss",
    "compose_tx",
    "constant_schedule",
    "discounted_returns",
    "discrete_policy_entropy_loss",
    "double_q_learning",
    "double_q_learning_loss",
    "dpg_loss",
    "entropy_loss",
    "epsilon_greedy",
    "expected_sarsa",
    "expected_sarsa_loss",
    "exponential_decay",
    "general_off_policy_returns_from_action_values",
    "general_off_policy_returns_from_q_and_v",
    "greedy",
    "huber_loss",
    "hyperbolic_arcsin",
    "hyperbolic_sin",
    "identity",
    "identity_pair",
    "importance_corrected_td_errors",
    "incremental_update",
    "l2_loss",
    "lambda_returns",
    "leaky_vtrace",
    "leaky_vtrace_td_error_and_advantage",
    "linear_schedule",
    "linearly_decaying_epsilon",
    "muzero_pair",
    "n_step_bootstrapped_returns",
    "one_hot",
    "periodic_update",
    "persistent_q_learning",
    "persistent_q_learning_loss",
    "piecewise_constant_schedule",
    "piecewise_linear_schedule",
    "policy_gradient_loss",
    "power",
    "q_lambda",
    "q_lambda_loss",
    "q_learning",
    "q_learning_loss",
    "qpg_loss",
    "quantile_expected_sarsa",
    "quantile_expected_sarsa_loss",
    "quantile_q_learning",
    "quantile_q_learning_loss",
    "quantile_regression_loss",
    "qv_learning",
    "qv_learning_loss",
    "qv_max",
    "retrace",
    "retrace_continuous",
    "retrace_loss",
    "rm_loss",
    "rpg_loss",
    "sarsa",
    "sarsa_lambda",
    "sarsa_lambda_loss",
    "sarsa_loss",
    "sequence_advantage_actor_critic_loss",
    "signed_expm1",
    "signed_hyperbolic",
    "signed_hyperbolic_pair",
    "signed_logp1",
    "signed_logp1_pair",
    "signed_parabolic",
    "softmax",
    "td_lambda",
    "td_lambda_loss",
    "td_learning",
    "td_learning_loss",
    "transform_from_2hot",
    "transform_to_2hot",
    "transformed_general_off_policy_returns_from_action_values",
    "transformed_lambda_returns",
    "transformed_n_step_q_learning",
    "transformed_n_step_returns",
    "transformed_q_lambda",
    "transformed_retrace",
    "truncated_generalized_advantage_estimation",
    "twohot_pair",
    "unbiased_transform_pair",
    "vtrace",
    "vtrace_loss",
    "vtrace_td_error_and_advantage",
]

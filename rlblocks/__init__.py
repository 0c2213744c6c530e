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

# Plain sorted() order (tests/test_api.py), not ruff's constants-first order.
__all__ = [  # noqa: RUF022
    "CategoricalExtra",
    "CategoricalQExtra",
    "DoubleQExtra",
    "HYPERBOLIC_SIN_PAIR",
    "IDENTITY_PAIR",
    "QExtra",
    "QuantileExtra",
    "QuantileQExtra",
    "SIGNED_HYPERBOLIC_PAIR",
    "SIGNED_LOGP1_PAIR",
    "TDExtra",
    "TxPair",
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
    "compose_tx",
    "double_q_learning",
    "double_q_learning_loss",
    "expected_sarsa",
    "expected_sarsa_loss",
    "huber_loss",
    "hyperbolic_arcsin",
    "hyperbolic_sin",
    "identity",
    "identity_pair",
    "l2_loss",
    "muzero_pair",
    "one_hot",
    "persistent_q_learning",
    "persistent_q_learning_loss",
    "power",
    "q_learning",
    "q_learning_loss",
    "quantile_expected_sarsa",
    "quantile_expected_sarsa_loss",
    "quantile_q_learning",
    "quantile_q_learning_loss",
    "quantile_regression_loss",
    "qv_learning",
    "qv_learning_loss",
    "qv_max",
    "sarsa",
    "sarsa_loss",
    "signed_expm1",
    "signed_hyperbolic",
    "signed_hyperbolic_pair",
    "signed_logp1",
    "signed_logp1_pair",
    "signed_parabolic",
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
    "twohot_pair",
    "unbiased_transform_pair",
]

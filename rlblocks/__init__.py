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
    "HYPERBOLIC_SIN_PAIR",
    "IDENTITY_PAIR",
    "QuantileExtra",
    "QuantileQExtra",
    "SIGNED_HYPERBOLIC_PAIR",
    "SIGNED_LOGP1_PAIR",
    "TxPair",
    "categorical_cross_entropy",
    "categorical_double_q_learning",
    "categorical_double_q_learning_loss",
    "categorical_l2_project",
    "categorical_q_learning",
    "categorical_q_learning_loss",
    "categorical_td_learning",
    "categorical_td_learning_loss",
    "compose_tx",
    "hyperbolic_arcsin",
    "hyperbolic_sin",
    "identity",
    "identity_pair",
    "muzero_pair",
    "power",
    "quantile_expected_sarsa",
    "quantile_expected_sarsa_loss",
    "quantile_q_learning",
    "quantile_q_learning_loss",
    "quantile_regression_loss",
    "signed_expm1",
    "signed_hyperbolic",
    "signed_hyperbolic_pair",
    "signed_logp1",
    "signed_logp1_pair",
    "signed_parabolic",
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

"""Target-network updates over parameter pytrees: periodic copy and Polyak averaging.

Both functions have optax's names, arguments and semantics and call optax to do
the update; they add what optax leaves out: a `ValueError` naming the leaf when the
two pytrees differ in structure, shape or dtype, a range check on `step_size`, and
leaves returned in the dtype of `old_tensors` (a float32 `step_size` does not
promote bfloat16 target parameters).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from rlblocks._src import checks
from rlblocks._src.types import ArrayLike

PyTree = Any  # a pytree of arrays (parameters), e.g. a dict of jax.Array


def periodic_update(
    new_tensors: PyTree, old_tensors: PyTree, steps: ArrayLike, update_period: int
) -> PyTree:
    """Copy the online parameters into the target every `update_period` steps.

    θ⁻ ← θ if steps mod K = 0 else θ⁻

    Args:
      new_tensors: pytree of online parameters θ.
      old_tensors: pytree of target parameters θ⁻, same structure, shapes, dtypes.
      steps: [] integer count of online updates (may be traced).
      update_period: K ≥ 1.

    Returns:
      The new target parameters, a pytree like `old_tensors`.

    References:
      Mnih et al., Human-level control through deep reinforcement learning, 2015.
    """
    _check_trees(new_tensors, old_tensors)
    checks.check_rank(steps, 0, "steps", "[]")
    checks.check_dtype(steps, "int", "steps")
    if checks.is_number(update_period) and not (
        checks.is_integer(update_period) and update_period >= 1
    ):
        raise ValueError(
            f"update_period must be an integer >= 1, got {update_period!r}"
        )
    return optax.periodic_update(new_tensors, old_tensors, steps, update_period)


def incremental_update(
    new_tensors: PyTree, old_tensors: PyTree, step_size: ArrayLike
) -> PyTree:
    """Polyak-average the online parameters into the target parameters.

    θ⁻ ← τ θ + (1 − τ) θ⁻

    Args:
      new_tensors: pytree of online parameters θ.
      old_tensors: pytree of target parameters θ⁻, same structure, shapes, dtypes.
      step_size: [] τ in [0, 1] (checked when concrete); 1 copies, 0 keeps.

    Returns:
      The new target parameters, a pytree like `old_tensors` (same dtypes).

    References:
      Polyak and Juditsky, Acceleration of stochastic approximation by
      averaging, 1992. Lillicrap et al., Continuous control with deep RL, 2016.
    """
    _check_trees(new_tensors, old_tensors)
    checks.check_rank(step_size, 0, "step_size", "[]")
    checks.check_in_range(step_size, 0.0, 1.0, "step_size")
    updated = optax.incremental_update(new_tensors, old_tensors, step_size)
    return jax.tree.map(lambda u, o: u.astype(jnp.result_type(o)), updated, old_tensors)


def _check_trees(new_tensors, old_tensors) -> None:
    new_def = jax.tree.structure(new_tensors)
    old_def = jax.tree.structure(old_tensors)
    if new_def != old_def:
        raise ValueError(
            "new_tensors and old_tensors must have the same tree structure, got "
            f"{new_def} and {old_def}"
        )
    paths = jax.tree_util.tree_flatten_with_path(new_tensors)[0]
    for (path, new), old in zip(paths, jax.tree.leaves(old_tensors), strict=True):
        where = jax.tree_util.keystr(path) or "(root)"
        if jnp.shape(new) != jnp.shape(old):
            raise ValueError(
                f"new_tensors{where} has shape {jnp.shape(new)} but "
                f"old_tensors{where} has shape {jnp.shape(old)}"
            )
        if jnp.result_type(new) != jnp.result_type(old):
            raise ValueError(
                f"new_tensors{where} has dtype {jnp.result_type(new)} but "
                f"old_tensors{where} has dtype {jnp.result_type(old)}"
            )

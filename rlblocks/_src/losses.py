"""Elementwise losses and the reduction shared by every batched `*_loss`.

Every batched loss in rlblocks turns per-example TD errors into a scalar the same
way: an elementwise penalty (`l2_loss`, or `huber_loss` when `huber_delta` is set),
then a mean over the batch weighted by optional importance weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlblocks._src import checks
from rlblocks._src.types import Array, ArrayLike


def l2_loss(predictions: ArrayLike, targets: ArrayLike | None = None) -> Array:
    """Half squared error, elementwise.

    L(x) = ½ (x − y)²

    Args:
      predictions: any shape.
      targets: same shape as `predictions`, or None for zero targets.

    Returns:
      The elementwise loss, shaped like `predictions`.
    """
    if targets is None:
        diff = jnp.asarray(predictions)
    else:
        checks.check_shapes(
            {
                "predictions": (predictions, _dims(predictions)),
                "targets": (targets, _dims(predictions)),
            }
        )
        diff = jnp.asarray(predictions) - jnp.asarray(targets)
    return 0.5 * jnp.square(diff)


def huber_loss(x: ArrayLike, delta: float = 1.0) -> Array:
    """Huber loss, elementwise: quadratic within `delta` of zero, linear outside.

    L(x) = ½ x² if |x| ≤ δ else δ (|x| − ½ δ)

    Args:
      x: any shape, usually a TD error.
      delta: the threshold δ > 0 where the loss turns linear.

    Returns:
      The elementwise loss, shaped like `x`.

    References:
      Huber, Robust Estimation of a Location Parameter, 1964.
    """
    if checks.is_number(delta) and not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    x = jnp.asarray(x)
    abs_x = jnp.abs(x)
    quadratic = jnp.minimum(abs_x, delta)
    linear = abs_x - quadratic
    return 0.5 * quadratic**2 + delta * linear


@jax.custom_vjp
def _clip_gradient(x, grad_min, grad_max):
    return x


def _clip_fwd(x, grad_min, grad_max):
    return x, (grad_min, grad_max)


def _clip_bwd(res, g):
    grad_min, grad_max = res
    return (jnp.clip(g, grad_min, grad_max), None, None)


_clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def clip_gradient(x: ArrayLike, gradient_min: float, gradient_max: float) -> Array:
    """Identity in the forward pass; clips the gradient in the backward pass.

    ∂L/∂x ← clip(∂L/∂x, gradient_min, gradient_max)

    Args:
      x: any shape.
      gradient_min: lower bound of the incoming gradient.
      gradient_max: upper bound of the incoming gradient.

    Returns:
      `x` unchanged.
    """
    return _clip_gradient(jnp.asarray(x), gradient_min, gradient_max)


def td_penalty(td_error: ArrayLike, huber_delta: float | None = None) -> Array:
    """Elementwise penalty of a TD error: ½ δ² or, with `huber_delta`, Huber(δ).

    Args:
      td_error: any shape.
      huber_delta: None for the squared loss, else the Huber threshold.

    Returns:
      The elementwise penalty, shaped like `td_error`.
    """
    if checks.is_number(huber_delta) and not huber_delta > 0:
        raise ValueError(f"huber_delta must be > 0 or None, got {huber_delta}")
    if huber_delta is None:
        return l2_loss(td_error)
    return huber_loss(td_error, huber_delta)


def weighted_mean(per_example: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Mean over the leading batch axis, each example scaled by its weight.

    L = (1/B) Σᵢ wᵢ ℓᵢ

    Args:
      per_example: [B] per-example losses.
      weights: optional [B] importance weights (prioritized replay); None means 1.

    Returns:
      A scalar.
    """
    if weights is None:
        return jnp.mean(per_example)
    checks.check_shapes(
        {"per-example loss": (per_example, "B"), "weights": (weights, "B")}
    )
    return jnp.mean(jnp.asarray(weights) * per_example)


def _dims(x) -> str:
    return " ".join(f"d{i}" for i in range(jnp.ndim(x)))

"""Small array transforms: one-hot encoding and batched indexing.

Value rescaling transforms (signed hyperbolic/parabolic, 2-hot, transform pairs)
live in `value_transforms.py`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlblocks._src import checks
from rlblocks._src.types import Array, ArrayLike


def one_hot(
    indices: ArrayLike, num_classes: int, dtype: jax.typing.DTypeLike = jnp.float32
) -> Array:
    """One-hot encode integer indices along a new trailing axis.

    y[..., k] = 1 if indices[...] = k else 0

    Args:
      indices: [...] integer indices in [0, num_classes).
      num_classes: size of the new trailing axis.
      dtype: output dtype.

    Returns:
      [..., num_classes] one-hot array; out-of-range indices give all zeros.
    """
    checks.check_dtype(indices, "int", "indices")
    if not checks.is_integer(num_classes) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    return jax.nn.one_hot(indices, num_classes, dtype=dtype)


def batched_index(
    values: ArrayLike, indices: ArrayLike, keepdims: bool = False
) -> Array:
    """Select one entry of the last axis of `values` per leading index.

    y[...] = values[..., indices[...]]

    Args:
      values: [..., N] values, e.g. Q-values [B, A].
      indices: [...] integer indices into the last axis, e.g. actions [B].
      keepdims: keep a trailing axis of size 1.

    Returns:
      [...] (or [..., 1] with `keepdims`) selected values.
    """
    values = jnp.asarray(values)
    if values.ndim < 1:
        raise ValueError(
            f"values must have rank >= 1 ([..., N]), got shape {values.shape}"
        )
    lead = " ".join(f"d{i}" for i in range(values.ndim - 1))
    checks.check_shapes(
        {"values": (values, lead + " N"), "indices": (indices, lead, "int")}
    )
    picked = jnp.take_along_axis(values, jnp.asarray(indices)[..., None], axis=-1)
    return picked if keepdims else picked[..., 0]

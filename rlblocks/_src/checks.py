"""Trace-time shape, rank and dtype checks that raise `ValueError`.

All checks read only static information (shapes and dtypes), so they run once at
trace time under `jax.jit` and cost nothing afterwards. Error messages name the
argument, the expected layout and the shape received, e.g.
``q_t must have rank 1 ([A]), got shape (32, 4)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

_KINDS = {
    "int": (np.integer, "an integer"),
    "float": (np.floating, "a floating-point"),
    "bool": (np.bool_, "a boolean"),
    "number": (np.number, "a numeric"),
}


# Axes a loss or a return cannot be computed over when empty (a mean over no
# examples is NaN, a return over no steps has nothing to bootstrap from).
_NON_EMPTY = {"B": "batch", "T": "time"}


def _layout(dims: list[str]) -> str:
    return "[" + ", ".join(dims) + "]"


def check_rank(x, rank: int, name: str, layout: str | None = None) -> None:
    """Raise ValueError unless `x` has the given rank."""
    shape = jnp.shape(x)
    if len(shape) != rank:
        hint = f" ({layout})" if layout else ""
        raise ValueError(f"{name} must have rank {rank}{hint}, got shape {shape}")


def check_dtype(x, kind: str, name: str) -> None:
    """Raise ValueError unless `x` has a dtype of `kind` ("int", "float", "bool")."""
    base, words = _KINDS[kind]
    dtype = jnp.result_type(x)
    if not np.issubdtype(dtype, base):
        raise ValueError(f"{name} must have {words} dtype, got {dtype}")


def check_shapes(
    specs: Mapping[str, tuple], dims: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Check several arguments against named layouts that share dimension names.

    Args:
      specs: maps argument name to ``(value, layout)`` or ``(value, layout, kind)``;
        `layout` is a space-separated string of dimension names (``"B A"``), ``""``
        for a scalar; an integer in the layout fixes that size. `kind` is one of
        "int", "float", "bool", "number".
      dims: sizes already known (e.g. ``{"A": 3}``).

    Returns:
      The size of every named dimension, e.g. ``{"B": 32, "A": 4}``.

    Raises:
      ValueError: naming the first argument whose rank, size or dtype is wrong, or
        whose batch axis "B" or time axis "T" is empty.
    """
    known: dict[str, tuple[int, str, tuple]] = {
        k: (v, "the caller", ()) for k, v in (dims or {}).items()
    }
    for name, spec in specs.items():
        value, layout = spec[0], spec[1]
        names = layout.split()
        shape = tuple(jnp.shape(value))
        check_rank(value, len(names), name, _layout(names))
        for dim, size in zip(names, shape, strict=True):
            if dim.isdigit():
                if size != int(dim):
                    raise ValueError(
                        f"{name} must have shape {_layout(names)}, got shape {shape}"
                    )
                continue
            if dim not in known:
                if size == 0 and dim in _NON_EMPTY:
                    raise ValueError(
                        f"{name} must have a non-empty {_NON_EMPTY[dim]} axis "
                        f"{dim} ({_layout(names)}), got shape {shape}"
                    )
                known[dim] = (size, name, shape)
                continue
            want, src, src_shape = known[dim]
            if size != want:
                origin = f"{src} of shape {src_shape}" if src_shape else src
                raise ValueError(
                    f"{name} must have shape {_layout(names)} with {dim}={want} "
                    f"(from {origin}), got shape {shape}"
                )
        if len(spec) > 2 and spec[2] is not None:
            check_dtype(value, spec[2], name)
    return {k: v[0] for k, v in known.items()}


def is_number(x) -> bool:
    """True for a concrete real scalar: Python or numpy, not bool, not an array."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_)


def is_integer(x) -> bool:
    """True for a concrete integer scalar: Python or numpy, not bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool | np.bool_)


def check_in_range(value, low: float, high: float, name: str) -> None:
    """Raise ValueError if a concrete (non-traced) value lies outside [low, high].

    Traced values cannot be inspected at trace time and are let through.
    """
    try:
        arr = np.asarray(value)
    except Exception:  # a tracer: nothing to check statically
        return
    if arr.dtype == object:
        return
    if np.any(np.isnan(arr)) or np.any(arr < low) or np.any(arr > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")

"""Type aliases shared across rlblocks."""

from collections.abc import Callable
from typing import Union

import jax

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
Numeric = Union[jax.Array, float, int]  # noqa: UP007 (kept readable in docs)
PRNGKey = jax.Array
Schedule = Callable[[Numeric], Numeric]  # optax.Schedule: step -> value

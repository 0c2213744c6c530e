"""Field checks shared by the agents' frozen config dataclasses.

Each config's `__post_init__` states its fields' ranges as a table and calls
`check_fields`, which raises ValueError naming the class, the field and the value.
"""

from __future__ import annotations

from collections.abc import Mapping

from rlblocks._src import checks

INF = float("inf")


def _name(config, field: str) -> str:
    return f"{type(config).__name__}.{field}"


def check_fields(
    config,
    *,
    ranges: Mapping[str, tuple[float, float]] = (),
    positive: Mapping[str, float] = (),
    optional_positive: tuple[str, ...] = (),
    ints: Mapping[str, int] = (),
    sizes: tuple[str, ...] = (),
) -> None:
    """Raise ValueError for the first field of `config` outside its range.

    Args:
      config: a dataclass instance.
      ranges: field -> (low, high): a real number in [low, high].
      positive: field -> high: a real number in (0, high].
      optional_positive: fields that are None or a real number > 0.
      ints: field -> low: an integer >= low (bools refused).
      sizes: fields holding a tuple of integers >= 1 (layer widths).
    """
    for field, (low, high) in dict(ranges).items():
        check_number(config, field, low, high)
    for field, high in dict(positive).items():
        check_number(config, field, 0.0, high)
        if getattr(config, field) == 0:
            raise ValueError(f"{_name(config, field)} must be > 0, got 0")
    for field in optional_positive:
        value = getattr(config, field)
        if value is not None:
            check_number(config, field, 0.0, INF)
            if value == 0:
                raise ValueError(f"{_name(config, field)} must be > 0 or None, got 0")
    for field, low in dict(ints).items():
        value = getattr(config, field)
        if not checks.is_integer(value):
            raise ValueError(f"{_name(config, field)} must be an int, got {value!r}")
        if value < low:
            raise ValueError(f"{_name(config, field)} must be >= {low}, got {value}")
    for field in sizes:
        value = getattr(config, field)
        if not all(checks.is_integer(h) and h >= 1 for h in value):
            raise ValueError(f"{_name(config, field)} must be ints >= 1, got {value!r}")


def check_number(config, field: str, low: float, high: float) -> None:
    """Raise ValueError unless `config.field` is a real number in [low, high]."""
    value = getattr(config, field)
    if not checks.is_number(value):
        raise ValueError(f"{_name(config, field)} must be a number, got {value!r}")
    if not low <= value <= high:  # also false for NaN
        raise ValueError(
            f"{_name(config, field)} must lie in [{low}, {high}], got {value}"
        )

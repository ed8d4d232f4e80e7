"""Checks of a component's numeric settings, done once when it is built.

A bad setting (a zero timeout, a negative queue size, ``True`` for a count) must fail where the
component is created, with the setting's name, not hours later inside a background task.
"""

from __future__ import annotations

import math

from polyinfra.errors import InvalidValueError

__all__ = ["positive_int", "positive_number"]


def positive_number(name: str, value: float) -> float:
    """``value`` as a float when it is a finite number above 0; else :class:`InvalidValueError`."""
    # bool is an int subclass: True as a timeout is a caller's mistake, not 1 second.
    if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise InvalidValueError("must be a positive number", field=name, value=value)
    return float(value)


def positive_int(name: str, value: int) -> int:
    """``value`` when it is an int of at least 1; else :class:`InvalidValueError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError("must be a positive integer", field=name, value=value)
    return value

"""Reading the query strings of the emulator's Gamma and Data API routes, bounded and typed.

Every value is checked before it is used: numbers through
:func:`~polyinfra.emulator.client_input.whole_number` (digits only, a few of them), lists as repeated
keys or comma-separated values (the venue takes both, venue notes: Gamma API), booleans as
``true``/``false``. A bad value raises :class:`QueryError`, which each host answers in its own shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from multidict import MultiMapping

from polyinfra.emulator.client_input import whole_number

__all__ = ["MAX_LIST_ITEMS", "QueryError", "flag", "number", "strings"]

MAX_LIST_ITEMS: Final = 1_000
"""Items of one list parameter read at most (the venue's own limits are far lower)."""
_MAX_DIGITS: Final = 12


class QueryError(Exception):
    """A query parameter the route refuses; ``message`` says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def number(query: Mapping[str, str], name: str, default: int, *, maximum: int | None = None) -> int:
    """A non-negative integer parameter; above ``maximum`` it is clamped (as the venue clamps limits)."""
    text = query.get(name)
    if text is None or text == "":
        return default
    value = whole_number(text, max_digits=_MAX_DIGITS)
    if value is None:
        raise QueryError(f"{name} must be a non-negative integer")
    return value if maximum is None else min(value, maximum)


def flag(query: Mapping[str, str], name: str) -> bool | None:
    """``true`` / ``false`` (any case), or None when absent."""
    text = query.get(name)
    if text is None or text == "":
        return None
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise QueryError(f"{name} must be true or false")
    return lowered == "true"


def strings(query: MultiMapping[str], *names: str) -> list[str]:
    """Every value of the parameters ``names`` (aliases), repeated or comma-separated, in order, once each."""
    values: dict[str, None] = {}
    for name in names:
        for raw in query.getall(name, []):
            for part in raw.split(","):
                item = part.strip()
                if item:
                    values[item] = None
                if len(values) > MAX_LIST_ITEMS:
                    raise QueryError(f"{name} has too many values")
    return list(values)

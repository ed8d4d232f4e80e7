"""Poisoned copies of the emulator's own messages: one hostile value planted in a valid document.

The ``poison_rate`` and ``poison_http_rate`` fault knobs (:mod:`polyinfra.emulator.faults`) send
these instead of a WebSocket data frame or a REST answer. Each :class:`PoisonClass` is one way
bytes from a venue have broken a parser: nesting past any recursion limit, numbers past Python's
4,300-digit ``int()`` limit, exponents that make exact arithmetic explode, a value of the wrong
JSON type, bytes that are not UTF-8. The value replaces one place of the document (any value, the
whole document included; a number, as a JSON number or a numeric string such as a price, for the
huge numbers; a string for invalid UTF-8), so the poison reaches the code after the first decode as
well as the decoder itself. No value planted can pass for a plausible one (no negative exponent that reads as
a size of 0, say): where one lands in opaque text (an id, an outcome name) a client cannot tell, as
it could not on the venue, and is left with a message about nothing it knows; anywhere else, a
client that accepts it has a bug.

Which class and which place are drawn by the caller's seeded dice (``pick(n)`` returns an index
below ``n``), so a run reproduces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final

import msgspec

__all__ = ["PoisonClass", "places", "poison_document", "replaced"]

NESTING_DEPTH: Final = 50_000
"""Arrays nested this deep: 100 KB, far past every recursion limit (msgspec's stops at 1,000)."""
HUGE_DIGITS: Final = 5_000
"""Digits of a huge number: past the 4,300 Python's ``int()`` converts."""
_HUGE_EXPONENTS: Final = ("1e999999", "1E+999999", "9.99e999999")
_INVALID_UTF8: Final = b"\xff\xfe\xed\xa0\x80"
# A price, a size, a timestamp as the venue writes them; token ids are decimal too, but longer, and
# an id is opaque text to a client, which a huge number in it does not test.
_NUMERIC_TEXT: Final = re.compile(r"-?[0-9]{1,19}(\.[0-9]{1,19})?")


class PoisonClass(StrEnum):
    """The hostile-input classes a poisoned message carries one of."""

    DEEP_NESTING = "deep_nesting"
    HUGE_DIGITS = "huge_digits"
    HUGE_EXPONENT = "huge_exponent"
    WRONG_TYPE = "wrong_type"
    INVALID_UTF8 = "invalid_utf8"


def poison_document(document: bytes, poison: PoisonClass, pick: Callable[[int], int]) -> bytes:
    """``document`` (JSON) with one value replaced by a hostile one of class ``poison``.

    Invalid UTF-8 lands in a string where the document has one (a WebSocket text frame cannot
    carry it: the emulator sends such a frame as binary).
    """
    decoded = msgspec.json.decode(document)
    candidates = places(decoded)
    if poison is PoisonClass.INVALID_UTF8:
        candidates = [place for place in candidates if isinstance(place[1], str)] or candidates[:1]
    elif poison is PoisonClass.HUGE_DIGITS or poison is PoisonClass.HUGE_EXPONENT:
        candidates = [place for place in candidates if _is_number(place[1])] or candidates[:1]
    path, original = candidates[pick(len(candidates))]
    return msgspec.json.encode(replaced(decoded, path, _hostile(poison, original, pick)))


def _is_number(value: Any) -> bool:
    if isinstance(value, str):
        return _NUMERIC_TEXT.fullmatch(value) is not None
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hostile(poison: PoisonClass, original: Any, pick: Callable[[int], int]) -> Any:
    """The value to plant where ``original`` was; strings stay strings where the class allows it,
    so the poison gets past a schema that checks types."""
    as_string = isinstance(original, str)
    if poison is PoisonClass.DEEP_NESTING:
        return msgspec.Raw(b"[" * NESTING_DEPTH + b"]" * NESTING_DEPTH)
    if poison is PoisonClass.HUGE_DIGITS:
        digits = "1" * HUGE_DIGITS
        return digits if as_string else msgspec.Raw(digits.encode())
    if poison is PoisonClass.HUGE_EXPONENT:
        number = _HUGE_EXPONENTS[pick(len(_HUGE_EXPONENTS))]
        return number if as_string else msgspec.Raw(number.encode())
    if poison is PoisonClass.INVALID_UTF8:
        text = original.encode() if as_string else b""
        return msgspec.Raw(b'"' + text[: len(text) // 2] + _INVALID_UTF8 + text[len(text) // 2 :] + b'"')
    return _other_type(original)


def _other_type(original: Any) -> Any:
    """A JSON value of another type than ``original``, and of none a field holding it could
    also take (a list would be a valid frame where one event was, ``null`` a valid optional)."""
    if isinstance(original, str | list):
        return {"unexpected": original}
    if isinstance(original, dict):
        return 0
    if original is None:
        return []
    return "unexpected"


def places(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every place in ``document`` with the value there, the whole document first."""
    found: list[tuple[tuple[Any, ...], Any]] = [(prefix, document)]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(places(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(places(value, (*prefix, index)))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``document`` with ``value`` at ``path`` (a path from :func:`places`)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {key: (replaced(item, rest, value) if key == head else item) for key, item in document.items()}
    return [(replaced(item, rest, value) if index == head else item) for index, item in enumerate(document)]

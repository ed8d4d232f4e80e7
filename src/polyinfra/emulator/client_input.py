"""What the emulator reads from a client as a number, bounded before it is turned into one.

A client of the emulated venue may send numbers with more digits than Python's ``int()`` accepts
(4,300) in a query string, a header or a page cursor. Every route reads such values through these
functions, so that each ends as the route's own refusal of bad input instead of an exception nobody
answers. JSON bodies and socket messages go through :mod:`polyinfra.wire.json_decoding`, bounded
in size and depth, like everything the client side decodes. Addresses a client names are compared
through :func:`same_address`, which refuses a malformed one instead of raising.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from polyinfra.core.eip712 import address_word
from polyinfra.errors import InvalidValueError

__all__ = ["TIMESTAMP_DIGITS", "cursor_offset", "same_address", "whole_number"]

TIMESTAMP_DIGITS: Final = 12
"""Digits of a unix time in seconds the emulator reads (headers, filters): past the year 30,000."""

_CURSOR_DIGITS: Final = 18
"""Digits of a page cursor's offset: any offset below ``sys.maxsize``, which slicing needs."""


def whole_number(text: str | None, *, max_digits: int) -> int | None:
    """The non-negative integer ``text`` spells in at most ``max_digits`` ASCII digits, else None."""
    if text is None or not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        return None
    return int(text)


def cursor_offset(cursor: str) -> int | None:
    """The offset a page cursor encodes (base64 of a decimal integer, ``"LTE="`` being -1), or None."""
    try:
        text = base64.b64decode(cursor, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    magnitude = whole_number(text.removeprefix("-"), max_digits=_CURSOR_DIGITS)
    if magnitude is None:
        return None
    return -magnitude if text.startswith("-") else magnitude


def same_address(first: str, second: str) -> bool:
    """Whether two addresses are the same whatever their case; False when either is malformed."""
    try:
        return address_word(first) == address_word(second)
    except InvalidValueError:
        return False

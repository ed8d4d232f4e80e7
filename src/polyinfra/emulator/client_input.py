"""What the emulator reads from a client, bounded before it is decoded or turned into a number.

A client of the emulated venue may send anything: JSON nested deeper than the decoder's recursion
limit, numbers with more digits than Python's ``int()`` accepts (4,300), header bytes that are not
UTF-8. Every route and socket handler reads client input through these functions, so that each
such input ends as the route's own refusal of bad input instead of an exception nobody answers.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final, TypeVar

import msgspec

__all__ = ["cursor_offset", "decode_json", "whole_number"]

_Decoded = TypeVar("_Decoded")

_CURSOR_DIGITS: Final = 18
"""Digits of a page cursor's offset: any offset below ``sys.maxsize``, which slicing needs."""


def decode_json(data: bytes | str, decoder: msgspec.json.Decoder[_Decoded]) -> _Decoded:
    """``decoder.decode(data)``; JSON nested past the decoder's depth limit is a
    :class:`msgspec.DecodeError` like any other malformed document, not a ``RecursionError``."""
    try:
        return decoder.decode(data)
    except RecursionError:
        raise msgspec.DecodeError("JSON nested too deeply") from None


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

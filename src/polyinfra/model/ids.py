"""Identifiers: token (asset) ids and condition (market) ids, validated once at the boundary."""

from __future__ import annotations

from typing import NewType

from polyinfra.errors import InvalidValueError

__all__ = ["ConditionId", "TokenId", "condition_id", "token_id"]

TokenId = NewType("TokenId", str)
"""An outcome token id: a uint256 in decimal, as the venue sends it."""

ConditionId = NewType("ConditionId", str)
"""A market's condition id: ``0x`` and 64 hex digits."""

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def token_id(text: str) -> TokenId:
    """Validate a token id (1 to 78 decimal digits, the range of a uint256)."""
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 78 and int(text) < 1 << 256):
        raise InvalidValueError("not a token id (a uint256 in decimal)", token_id=text)
    return TokenId(text)


def condition_id(text: str) -> ConditionId:
    """Validate a condition id (``0x`` + 64 hex digits)."""
    if not (len(text) == 66 and text.startswith("0x") and _HEX_DIGITS.issuperset(text[2:])):
        raise InvalidValueError("not a condition id (0x + 64 hex digits)", condition_id=text)
    return ConditionId(text)

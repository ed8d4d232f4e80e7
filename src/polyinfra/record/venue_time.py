"""The venue's timestamp of a recorded message, as the message gives it (never from a local clock)."""

from __future__ import annotations

from typing import Final

__all__ = ["venue_ms"]

# Nineteen digits hold any millisecond time until the year 292 million; longer is not a timestamp.
_MAX_DIGITS: Final = 19


def venue_ms(timestamp: str | None) -> int | None:
    """A message's ``timestamp`` field (milliseconds as a decimal string) as an int; None when the
    message had none or it is not one: the message is recorded either way."""
    if timestamp is None or not timestamp.isdigit() or len(timestamp) > _MAX_DIGITS:
        return None
    return int(timestamp)

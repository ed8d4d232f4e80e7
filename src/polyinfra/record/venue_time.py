"""The venue's timestamp of a recorded message, read from the message itself (never from a local clock)."""

from __future__ import annotations

from typing import Final

import msgspec

from polyinfra.errors import MalformedMessageError
from polyinfra.wire.json_decoding import MAX_DEPTH, JsonDecoder

__all__ = ["first_timestamp_ms"]

# Nineteen digits hold any millisecond time until the year 292 million; longer is not a timestamp.
_MAX_DIGITS: Final = 19


class _Stamped(msgspec.Struct):
    timestamp: str | int | None = None


_decode_bounded: Final[JsonDecoder[_Stamped | list[_Stamped]]] = JsonDecoder(
    _Stamped | list[_Stamped], what="recorded message"
)
_decode_shallow: Final = msgspec.json.Decoder(_Stamped | list[_Stamped]).decode


def first_timestamp_ms(message: bytes) -> int | None:
    """The ``timestamp`` (ms) of a JSON message, or of the first element of a JSON array (a market
    channel frame's events, a ``POST /books`` answer's summaries); None when it carries none or
    cannot be read: the message is recorded either way, and replay's parsers judge it."""
    try:
        # This runs on the socket reader for every frame. A message with fewer opening brackets
        # than the bounded decoder's depth limit cannot nest deeper than it, so msgspec may parse it
        # directly (two C-speed counts instead of the bracket scan); any other goes the bounded way.
        if message.count(b"[") + message.count(b"{") < MAX_DEPTH:
            decoded = _decode_shallow(message)
        else:
            decoded = _decode_bounded.decode(message)
    except (msgspec.DecodeError, MalformedMessageError):
        return None
    first = decoded[0] if isinstance(decoded, list) and decoded else decoded
    stamp = first.timestamp if isinstance(first, _Stamped) else None
    if isinstance(stamp, int):
        return stamp
    if stamp is not None and stamp.isdigit() and len(stamp) <= _MAX_DIGITS:
        return int(stamp)
    return None

"""The one JSON decode path of the client: bounded, and failing only with a typed error.

Every frame, REST body and input line polyinfra decodes goes through :class:`JsonDecoder`, which
turns each way msgspec can fail on hostile bytes into :class:`~polyinfra.errors.MalformedMessageError`
with context:

* size: a document longer than the decoder's ``max_bytes`` is refused before it is parsed;
* nesting: the venue's documents nest a handful of levels, while ``[`` repeated 2,000 times makes
  msgspec stop at the interpreter's recursion limit with a ``RecursionError`` (in time linear in the
  depth, bounded by that limit);
* bytes that are not UTF-8, and a ``str`` holding lone surrogates, which cannot be encoded to it;
* syntax and schema errors (``msgspec.DecodeError`` and its ``ValidationError``), including integers
  too large for 64 bits.

Values within a valid document (a 5,000-digit number string, ``1e200000``) are bounded where they
are parsed, in :mod:`polyinfra.model.numbers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

import msgspec

from polyinfra.errors import MalformedMessageError

__all__ = ["MAX_BODY_BYTES", "MAX_FRAME_BYTES", "JsonDecoder", "decode_json"]

MAX_FRAME_BYTES: Final = 64 * 1024 * 1024
"""A WebSocket frame: the venue's largest, a ``book`` array for every token of a connection, is a
few MB."""

MAX_BODY_BYTES: Final = 256 * 1024 * 1024
"""A REST answer: the largest, a full page of ``/markets`` or ``POST /books`` for many tokens, is
tens of MB."""

_DETAIL_CHARS: Final = 200

_T = TypeVar("_T")


class JsonDecoder(Generic[_T]):
    """Decodes JSON documents into ``type_`` (anything msgspec takes; ``Any`` for plain JSON values).

    ``what`` names the document in errors ("market frame", "GET /book body"); ``float_hook`` is
    msgspec's, for untyped numbers with a fraction or exponent (``Decimal`` reads them exactly).
    """

    __slots__ = ("_decoder", "_max_bytes", "_what")

    def __init__(
        self,
        type_: type[_T] | Any = Any,
        *,
        what: str,
        max_bytes: int = MAX_BODY_BYTES,
        float_hook: Callable[[str], object] | None = None,
    ) -> None:
        self._decoder: msgspec.json.Decoder[_T] = msgspec.json.Decoder(type_, float_hook=float_hook)
        self._what = what
        self._max_bytes = max_bytes

    def decode(self, document: bytes | str, **context: Any) -> _T:
        """``document`` decoded, or :class:`MalformedMessageError` naming ``what``, the reason and ``context``."""
        if len(document) > self._max_bytes:
            raise MalformedMessageError(
                f"{self._what} is larger than {self._max_bytes} bytes", size=len(document), **context
            )
        try:
            return self._decoder.decode(document)
        except msgspec.ValidationError as exc:
            raise MalformedMessageError(
                f"{self._what} does not match its schema", detail=str(exc)[:_DETAIL_CHARS], **context
            ) from exc
        except msgspec.DecodeError as exc:
            raise MalformedMessageError(
                f"{self._what} is not JSON", detail=str(exc)[:_DETAIL_CHARS], **context
            ) from exc
        except RecursionError:
            # Not chained: the RecursionError's traceback is hundreds of frames of nothing.
            raise MalformedMessageError(f"{self._what} nests too deeply", **context) from None
        except UnicodeEncodeError as exc:
            raise MalformedMessageError(f"{self._what} is not valid Unicode", detail=exc.reason, **context) from None


def decode_json(document: bytes | str, type_: type[_T], *, what: str, **context: Any) -> _T:
    """One document decoded by a :class:`JsonDecoder` made for it (for types that vary per call)."""
    return JsonDecoder(type_, what=what).decode(document, **context)

"""The one JSON decode path of the client: bounded, and failing only with a typed error.

Every frame, REST body and input line polyinfra decodes goes through :class:`JsonDecoder`, which
refuses hostile documents with :class:`~polyinfra.errors.MalformedMessageError` (with context)
before msgspec parses them, and translates each way msgspec can fail:

* size: a document longer than the decoder's ``max_bytes`` is refused by its length;
* nesting: a document nested deeper than :data:`MAX_DEPTH` is refused after a scan of its
  brackets. msgspec recurses once per level, bounded only by the interpreter's recursion limit,
  and libraries raise that limit (py_ecc, which eth-account imports, sets it to 100,000): then
  50 KB of ``[`` overflow the C stack and kill the process with a segfault;
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

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "MAX_FRAME_BYTES", "JsonDecoder", "decode_json"]

MAX_DEPTH: Final = 64
"""Nesting levels of any document (32 always pass, see :func:`_nests_deeper_than`): the venue's
deepest (a ``/markets`` page, a Gamma event) have fewer than ten."""

MAX_FRAME_BYTES: Final = 64 * 1024 * 1024
"""A WebSocket frame: the venue's largest, a ``book`` array for every token of a connection, is a
few MB."""

MAX_BODY_BYTES: Final = 256 * 1024 * 1024
"""A REST answer: the largest, a full page of ``/markets`` or ``POST /books`` for many tokens, is
tens of MB."""

_DETAIL_CHARS: Final = 200
# Everything but the bytes that open or close an array, an object or a string.
_NOT_STRUCTURE: Final = bytes(byte for byte in range(256) if byte not in b'[]{}"')

# What the depth bounds count, in a text frame and in bytes: text is counted without encoding it.
_TEXT_BOUNDS: Final[tuple[Any, Any, Any]] = ("[", "{", "},{")
_BYTES_BOUNDS: Final[tuple[Any, Any, Any]] = (b"[", b"{", b"},{")

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
        if _nests_deeper_than(document, MAX_DEPTH):
            raise MalformedMessageError(f"{self._what} nests deeper than {MAX_DEPTH} levels", **context)
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
        except UnicodeEncodeError as exc:
            raise MalformedMessageError(f"{self._what} is not valid Unicode", detail=exc.reason, **context) from None


def _nests_deeper_than(document: bytes | str, limit: int) -> bool:
    """Whether ``document`` may nest deeper than ``limit``.

    Never under-counts. It may over-count up to twice the depth where arrays and objects are
    siblings at one level, so every document of up to ``limit // 2`` levels passes. C-speed passes
    only: two bounds settle the venue's documents in a few counts, and only a document they cannot
    clear is scanned (keep the bytes that delimit arrays, objects and strings, drop the strings,
    then strip innermost ``[]`` and ``{}`` pairs).
    """
    array, object_, sibling = _TEXT_BOUNDS if isinstance(document, str) else _BYTES_BOUNDS
    openings = document.count(array) + document.count(object_)
    if openings <= limit:
        return False  # most frames: a price change has a handful of brackets
    # An object opened right after ``},`` is the sibling of the one just closed, and siblings are
    # never open at once: of each run of them, at most one is among the open brackets at any point
    # (and a ``},{`` inside a string brings its own ``{`` to the count). A book's hundreds of levels
    # are one such run, so this settles book frames without the scan below.
    if openings - document.count(sibling) <= limit:
        return False
    if isinstance(document, str):
        document = document.encode("utf-8", "surrogatepass")
    if b"\\" in document:
        # Escaped backslashes first, then escaped quotes: every quote left delimits a string.
        document = document.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = document.translate(None, _NOT_STRUCTURE)
    # Strings without brackets inside are now bare pairs of quotes. A quote left after removing
    # those means a string holds brackets: then split, keeping what lies between strings.
    outside_strings = structure.replace(b'""', b"")
    if b'"' in outside_strings:
        outside_strings = b"".join(structure.split(b'"')[::2])
    levels = 0
    while levels <= limit:
        arrays = outside_strings.replace(b"[]", b"")
        objects = arrays.replace(b"{}", b"")
        if len(objects) == len(outside_strings):
            break
        levels += (len(arrays) < len(outside_strings)) + (len(objects) < len(arrays))
        outside_strings = objects
    # What is left is unbalanced; each opening bracket in it may enclose the levels stripped.
    return levels + outside_strings.count(b"[") + outside_strings.count(b"{") > limit


def decode_json(document: bytes | str, type_: type[_T], *, what: str, **context: Any) -> _T:
    """One document decoded by a :class:`JsonDecoder` made for it (for types that vary per call)."""
    return JsonDecoder(type_, what=what).decode(document, **context)

"""The Data API v2's cursors: signed, opaque, typed per route (venue notes: Data API).

A cursor carries the route it belongs to, its seek anchor (a feed's last row, or a board's offset),
the filter values it binds (boards, positions and holders bind their cohort; feeds bind none and
follow the filters re-sent with each page, so a changed filter silently re-anchors, as on the venue),
the page size of the first page and when it was issued. It is ``base64url(JSON).base64url(HMAC)``
under a per-emulator secret: a cursor edited by hand or taken to another route is refused
(400 ``INVALID_CURSOR``), an old one too (``CURSOR_EXPIRED``, the ``cursor_ttl_s`` knob).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Final

import msgspec

from polyinfra.errors import MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["MAX_CURSOR_CHARS", "CursorRefusedError", "CursorSigner", "CursorState"]

MAX_CURSOR_CHARS: Final = 2048
"""Longer cursor texts are refused unread."""
_MAC_BYTES: Final = 16


class CursorState(msgspec.Struct, frozen=True, gc=False):
    """What a cursor says: its route, anchor, bound filters, first page size and issue time."""

    route: str
    anchor: list[int]
    bound: dict[str, str]
    limit: int
    issued_ms: int


_STATE: Final[JsonDecoder[CursorState]] = JsonDecoder(CursorState, what="cursor", max_bytes=MAX_CURSOR_CHARS)


class CursorRefusedError(Exception):
    """A cursor the route refuses: ``code`` is the v2 error code, ``message`` its text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CursorSigner:
    """Issues and checks the cursors of one emulator (a fresh secret per emulator)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def issue(self, route: str, anchor: list[int], bound: Mapping[str, str], limit: int, now_ms: int) -> str:
        body = msgspec.json.encode(CursorState(route, anchor, dict(bound), limit, now_ms))
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def read(self, text: str, *, route: str, now_ms: int, ttl_s: float) -> CursorState:
        """The state of ``text``, or :class:`CursorRefusedError` (see the module docstring)."""
        body_text, dot, mac_text = text.partition(".")
        if len(text) > MAX_CURSOR_CHARS or not dot:
            raise CursorRefusedError("INVALID_CURSOR", "invalid cursor")
        try:
            body = base64.urlsafe_b64decode(body_text + "=" * (-len(body_text) % 4))
            mac = base64.urlsafe_b64decode(mac_text + "=" * (-len(mac_text) % 4))
        except (binascii.Error, ValueError):
            raise CursorRefusedError("INVALID_CURSOR", "invalid cursor") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise CursorRefusedError("INVALID_CURSOR", "invalid cursor")
        try:
            state = _STATE.decode(body)
        except MalformedMessageError:
            raise CursorRefusedError("INVALID_CURSOR", "invalid cursor") from None
        if state.route != route:
            raise CursorRefusedError("INVALID_CURSOR", "cursor belongs to another endpoint")
        if ttl_s and now_ms - state.issued_ms > ttl_s * 1000:
            raise CursorRefusedError("CURSOR_EXPIRED", "cursor expired, restart the walk")
        return state

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

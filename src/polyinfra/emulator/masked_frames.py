"""A WebSocket server socket that closes on an unmasked client frame, as RFC 6455 §5.1 requires.

aiohttp's frame reader unmasks a client frame when its mask bit is set and reads it as it is
when not, so a server built on it accepts unmasked frames. :class:`MaskedClientWebSocket` puts a
small frame-header scanner (:class:`MaskedFrameScanner`) in front of aiohttp's reader: bytes up
to the first unmasked frame reach the reader, then the socket fails with a protocol error, which
aiohttp answers with a close frame of code 1002.
"""

from __future__ import annotations

from typing import Final, Protocol

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError
from aiohttp.web_request import BaseRequest

__all__ = ["MaskedClientWebSocket", "MaskedFrameScanner"]

_MASK_BIT: Final = 0x80
_LENGTH_BITS: Final = 0x7F
_MASK_KEY_BYTES: Final = 4
# A 7-bit length of 126 or 127 announces a 2- or 8-byte length after it.
_EXTENDED_LENGTH_BYTES: Final = {126: 2, 127: 8}


class MaskedFrameScanner:
    """Follows the frame headers of a client byte stream; :meth:`first_unmasked` finds the first
    frame whose mask bit is clear. Sans-I/O: feed it the bytes in the order they arrive."""

    __slots__ = ("_header", "_payload_left")

    def __init__(self) -> None:
        self._header = bytearray()
        self._payload_left = 0

    def first_unmasked(self, data: bytes) -> int | None:
        """The offset in ``data`` where an unmasked frame starts (0 if it started in an earlier
        chunk), or None while every frame so far is masked."""
        position = 0
        while position < len(data):
            if self._payload_left:
                step = min(self._payload_left, len(data) - position)
                self._payload_left -= step
                position += step
                continue
            self._header.append(data[position])
            position += 1
            if len(self._header) < 2:
                continue
            if not self._header[1] & _MASK_BIT:
                return max(0, position - len(self._header))
            length_flag = self._header[1] & _LENGTH_BITS
            extended = _EXTENDED_LENGTH_BYTES.get(length_flag, 0)
            if len(self._header) < 2 + extended + _MASK_KEY_BYTES:
                continue
            self._payload_left = int.from_bytes(self._header[2 : 2 + extended]) if extended else length_flag
            self._header.clear()
        return None


class _FrameParser(Protocol):
    def feed_data(self, data: bytes) -> tuple[bool, bytes]: ...

    def feed_eof(self) -> None: ...


class _MaskedFramesOnly:
    """aiohttp's frame parser behind a :class:`MaskedFrameScanner`."""

    __slots__ = ("_failed", "_parser", "_scanner", "_socket")

    def __init__(self, parser: _FrameParser, socket: MaskedClientWebSocket) -> None:
        self._parser = parser
        self._socket = socket
        self._scanner = MaskedFrameScanner()
        self._failed = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        unmasked_at = self._scanner.first_unmasked(bytes(data))
        if unmasked_at is None:
            return self._parser.feed_data(data)
        self._failed = True
        if unmasked_at:
            self._parser.feed_data(data[:unmasked_at])
        self._socket.fail(WebSocketError(WSCloseCode.PROTOCOL_ERROR, "unmasked client frame"))
        return True, b""

    def feed_eof(self) -> None:
        self._parser.feed_eof()


class MaskedClientWebSocket(web.WebSocketResponse):
    """A :class:`aiohttp.web.WebSocketResponse` whose client must mask every frame.

    It hooks aiohttp's parser where the response installs it (``_post_start``, aiohttp's own
    step between the handshake and the first frame): the bytes that came with the upgrade
    request are scanned too.
    """

    def _post_start(self, request: BaseRequest, protocol: str | None, writer: object) -> None:
        handler = request.protocol
        early_bytes, handler._message_tail = handler._message_tail, b""
        super()._post_start(request, protocol, writer)  # type: ignore[arg-type]
        guarded = _MaskedFramesOnly(handler._payload_parser, self)
        handler._payload_parser = guarded
        if early_bytes:
            guarded.feed_data(early_bytes)

    def fail(self, error: WebSocketError) -> None:
        """End reading with ``error``: the next receive answers it with a close frame of its code."""
        if self._reader is not None:
            self._reader.set_exception(error)

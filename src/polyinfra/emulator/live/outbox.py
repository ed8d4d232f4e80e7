"""The outgoing side of one emulator live-data socket (RTDS, PolyBolt): frames leave in order
through a bounded queue that one sender task drains, so an answer queued after data frames goes
out after them (a test's barrier). A client that reads too slowly to keep the queue under its
limit is aborted; a close queued behind the frames (:meth:`Outbox.close_after_queued`) goes out
after them, with its code, or as an abort without a close frame for code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Final

from aiohttp import WSMsgType, web

from polyinfra.emulator.masked_frames import MaskedClientWebSocket

__all__ = ["Outbox", "close_all"]

_log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S: Final = 5.0
_SEND_QUEUE_LIMIT: Final = 4096
# Queued after a connection's last frame when it is to be closed (compared by identity: never sent).
_CLOSE_MARK: Final = b"\x00close"


class Outbox:
    """``ws``'s frames to send; ``what`` names the socket in logs. :meth:`accept` makes one."""

    @classmethod
    async def accept(cls, request: web.Request, what: str, *, max_frame_bytes: int) -> Outbox:
        """The WebSocket upgrade of ``request``: client frames over ``max_frame_bytes`` close it (1009)."""
        ws = MaskedClientWebSocket(autoping=True, timeout=_CLOSE_TIMEOUT_S, max_msg_size=max_frame_bytes)
        await ws.prepare(request)
        return cls(ws, request, what)

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, what: str) -> None:
        self.ws = ws
        self._transport = request.transport
        self._what = what
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=_SEND_QUEUE_LIMIT)
        self.closing = False
        self.close_code: int | None = None
        """The close code queued for this connection (None: none queued)."""

    def put(self, frame: bytes) -> None:
        """Queue ``frame``; a client whose queue is full reads too slowly and is aborted."""
        if self.closing:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            _log.warning("%s: aborting a client that reads too slowly", self._what)
            self.abort()

    def close_after_queued(self, code: int) -> None:
        """Close with ``code`` (0: abort without a close frame) once the frames queued so far are sent."""
        if self.close_code is None:
            self.close_code = code
            self.put(_CLOSE_MARK)

    def pending(self) -> list[bytes]:
        """The frames queued and not yet sent (emptied)."""
        frames = []
        while not self._queue.empty():
            frames.append(self._queue.get_nowait())
        return frames

    def abort(self) -> None:
        self.closing = True
        if self._transport is not None:
            self._transport.abort()

    async def serve(self, receive: Callable[[str], None], sent: Callable[[bytes], None]) -> None:
        """Hand each text frame the client sends to ``receive`` while the queued frames go out
        (``sent`` counts each), until the socket closes."""
        sender = asyncio.create_task(self._send_forever(sent), name=f"emulator {self._what} sender")
        try:
            async for message in self.ws:
                if message.type is WSMsgType.TEXT:
                    receive(message.data)
                elif message.type is WSMsgType.ERROR:
                    break
        finally:
            self.closing = True
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def _send_forever(self, sent: Callable[[bytes], None]) -> None:
        """Send the queued frames in order until the close mark or a lost connection; ``sent`` counts each."""
        with contextlib.suppress(ConnectionError):
            while True:
                frame = await self._queue.get()
                if frame is _CLOSE_MARK:
                    await self._close()
                    return
                await self.ws.send_frame(frame, WSMsgType.TEXT)
                sent(frame)

    async def _close(self) -> None:
        self.closing = True
        if not self.close_code:
            self.abort()
            return
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self.ws.close(code=self.close_code, message=f"closed by the {self._what} emulator".encode())
        except TimeoutError:
            self.abort()


async def close_all(outboxes: Iterable[Outbox]) -> None:
    """Close every socket with 1001 (going away): the emulator is shutting down."""
    for outbox in list(outboxes):
        outbox.closing = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await outbox.ws.close(code=1001, message=b"emulator shutting down")

"""One connection to the CLOB market channel (venue notes: Market channel): subscribe, keep alive, read frames.

This is the single-session building block. Reconnection, sharding across connections and the
staleness watchdog are layered on top of it by the live-book client
(:class:`~polyinfra.clob.live_books.LiveBooks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from types import TracebackType
from typing import Final, Self

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

from polyinfra.core.config_checks import WS_SCHEMES, service_url
from polyinfra.errors import TransportError
from polyinfra.net.ws_sessions import open_venue_socket
from polyinfra.obs.metrics import WS_FRAMES
from polyinfra.wire.clob_ws import PING, PONG

__all__ = ["MarketChannel"]

# The venue wants a text PING every 10 s (venue notes: WebSockets).
DEFAULT_PING_INTERVAL_S: Final = 10.0

# Data frames are counted by event type where they are decoded; PONGs end here, so they are counted here.
_PONGS_RECEIVED: Final = WS_FRAMES.labels(channel="market", event_type="pong")


class MarketChannel:
    """A subscribed market-channel socket. Use as ``async with MarketChannel(url, tokens) as channel``.

    ``frames()`` yields every data frame as received (``PONG`` replies are consumed here, their
    arrival time kept in :attr:`last_pong_s`); ``subscribe``/``unsubscribe``/``refresh`` change
    the token set without reconnecting. ``initial_dump`` asks the venue for a ``book`` snapshot of
    every token subscribed (venue notes: WebSockets; the venue's default is true). ``on_sent`` is
    called with every subscription message sent (the recorder's tap; ``PING`` is not reported).
    """

    def __init__(
        self,
        url: str,
        token_ids: Iterable[str],
        *,
        custom_features: bool = True,
        initial_dump: bool = True,
        ping_interval_s: float = DEFAULT_PING_INTERVAL_S,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 5.0,
        on_sent: Callable[[str], None] | None = None,
    ) -> None:
        self._url = service_url("url", url, WS_SCHEMES)
        self._on_sent = on_sent
        self._tokens = list(dict.fromkeys(token_ids))
        self._custom_features = custom_features
        self._initial_dump = initial_dump
        self._ping_interval_s = ping_interval_s
        self._open_timeout_s = open_timeout_s
        self._close_timeout_s = close_timeout_s
        self._socket: ClientConnection | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._encode = msgspec.json.Encoder().encode
        self.pongs_received = 0
        self.last_pong_s: float | None = None
        """``time.monotonic()`` when the last ``PONG`` arrived, None before the first."""

    @property
    def token_ids(self) -> list[str]:
        """The tokens subscribed on this socket, in subscription order."""
        return list(self._tokens)

    async def __aenter__(self) -> Self:
        self._socket = await open_venue_socket(
            self._url, what="market channel", open_timeout_s=self._open_timeout_s, close_timeout_s=self._close_timeout_s
        )
        try:
            await self._send(
                {
                    "assets_ids": self._tokens,
                    "type": "market",
                    "custom_feature_enabled": self._custom_features,
                    "initial_dump": self._initial_dump,
                }
            )
        except TransportError:
            await self.close()
            raise
        self._pinger = asyncio.create_task(self._ping_forever(), name="market-channel-ping")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop pinging and close the socket with a close handshake (bounded by ``close_timeout_s``)."""
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
            self._pinger = None
        if self._socket is not None:
            await self._socket.close()
            self._socket = None

    def abort(self) -> None:
        """Drop the connection at once, without a close handshake: for a socket found dead (a
        zombie may never answer a close frame). :meth:`frames` then raises :class:`TransportError`."""
        if self._socket is not None:
            self._socket.transport.abort()

    async def subscribe(self, token_ids: Iterable[str], *, initial_dump: bool | None = None) -> None:
        """Add tokens at run time (venue notes: WebSockets); ``initial_dump`` defaults to the channel's."""
        subscribed = set(self._tokens)
        new = [token for token in dict.fromkeys(token_ids) if token not in subscribed]
        if new:
            self._tokens.extend(new)
            await self._send(
                {
                    "operation": "subscribe",
                    "assets_ids": new,
                    "custom_feature_enabled": self._custom_features,
                    "initial_dump": self._initial_dump if initial_dump is None else initial_dump,
                }
            )

    async def unsubscribe(self, token_ids: Iterable[str]) -> None:
        """Remove tokens at run time; the socket stays open."""
        subscribed = set(self._tokens)
        gone = {token: None for token in token_ids if token in subscribed}
        if gone:
            self._tokens = [token for token in self._tokens if token not in gone]
            await self._send({"operation": "unsubscribe", "assets_ids": list(gone)})

    async def refresh(self, token_ids: Iterable[str]) -> None:
        """Unsubscribe and re-subscribe tokens with ``initial_dump``, so the venue sends a fresh
        ``book`` of each: subscribing an active asset again is refused as a duplicate (venue notes: WebSockets)."""
        subscribed = set(self._tokens)
        tokens = [token for token in dict.fromkeys(token_ids) if token in subscribed]
        if tokens:
            await self.unsubscribe(tokens)
            await self.subscribe(tokens, initial_dump=True)

    async def frames(self) -> AsyncGenerator[str | bytes, None]:
        """Data frames until the server closes the socket (then :class:`TransportError`)."""
        socket = self._require_socket()
        try:
            async for frame in socket:
                if frame == PONG:
                    self.last_pong_s = time.monotonic()
                    self.pongs_received += 1
                    _PONGS_RECEIVED.inc()
                    continue
                yield frame
        except websockets.ConnectionClosed as exc:
            raise TransportError("market channel closed", url=self._url, code=_close_code(exc)) from exc
        raise TransportError("market channel closed by the server", url=self._url)

    async def _ping_forever(self) -> None:
        socket = self._require_socket()
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.sleep(self._ping_interval_s)
                await socket.send(PING)

    async def _send(self, message: dict[str, object]) -> None:
        text = self._encode(message).decode()
        try:
            await self._require_socket().send(text)
        except websockets.ConnectionClosed as exc:
            raise TransportError("market channel closed", url=self._url, code=_close_code(exc)) from exc
        if self._on_sent is not None:
            self._on_sent(text)

    def _require_socket(self) -> ClientConnection:
        if self._socket is None:
            raise TransportError("market channel is not connected", url=self._url)
        return self._socket


def _close_code(closed: websockets.ConnectionClosed) -> int | None:
    """The close code the server sent, None when the connection dropped without a close frame."""
    return None if closed.rcvd is None else closed.rcvd.code

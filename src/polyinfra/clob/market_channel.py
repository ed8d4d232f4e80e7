"""One connection to the CLOB market channel (clob.md §7): subscribe, keep alive, read frames.

This is the single-session building block. Reconnection, sharding across connections and the
staleness watchdog are layered on top of it by the live-book client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Final, Self

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection, connect

from polyinfra.errors import TransportError
from polyinfra.obs.metrics import WS_FRAMES
from polyinfra.wire.clob_ws import PING, PONG

__all__ = ["MarketChannel"]

# The venue wants a text PING every 10 s (clob.md §7.2).
DEFAULT_PING_INTERVAL_S: Final = 10.0

# Data frames are counted by event type where they are decoded; PONGs end here, so they are counted here.
_PONGS_RECEIVED: Final = WS_FRAMES.labels(channel="market", event_type="pong")


class MarketChannel:
    """A subscribed market-channel socket. Use as ``async with MarketChannel(url, tokens) as channel``.

    ``frames()`` yields every data frame as received (``PONG`` replies are consumed here);
    ``subscribe``/``unsubscribe`` change the token set without reconnecting.
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
    ) -> None:
        self._url = url
        self._tokens = list(dict.fromkeys(token_ids))
        self._custom_features = custom_features
        self._initial_dump = initial_dump
        self._ping_interval_s = ping_interval_s
        self._open_timeout_s = open_timeout_s
        self._socket: ClientConnection | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._encode = msgspec.json.Encoder().encode
        self.pongs_received = 0

    @property
    def token_ids(self) -> list[str]:
        return list(self._tokens)

    async def __aenter__(self) -> Self:
        try:
            # Protocol-level pings are off: the venue speaks its own text PING/PONG.
            self._socket = await connect(
                self._url, open_timeout=self._open_timeout_s, ping_interval=None, max_size=None, compression=None
            )
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            raise TransportError(f"cannot connect to the market channel: {type(exc).__name__}", url=self._url) from exc
        await self._send(
            {
                "assets_ids": self._tokens,
                "type": "market",
                "custom_feature_enabled": self._custom_features,
                "initial_dump": self._initial_dump,
            }
        )
        self._pinger = asyncio.create_task(self._ping_forever(), name="market-channel-ping")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
            self._pinger = None
        if self._socket is not None:
            await self._socket.close()
            self._socket = None

    async def subscribe(self, token_ids: Iterable[str]) -> None:
        new = [token for token in dict.fromkeys(token_ids) if token not in self._tokens]
        if new:
            self._tokens.extend(new)
            await self._send(
                {"operation": "subscribe", "assets_ids": new, "custom_feature_enabled": self._custom_features}
            )

    async def unsubscribe(self, token_ids: Iterable[str]) -> None:
        gone = [token for token in dict.fromkeys(token_ids) if token in self._tokens]
        if gone:
            self._tokens = [token for token in self._tokens if token not in gone]
            await self._send({"operation": "unsubscribe", "assets_ids": gone})

    async def frames(self) -> AsyncIterator[str | bytes]:
        """Data frames until the server closes the socket (then :class:`TransportError`)."""
        socket = self._require_socket()
        try:
            async for frame in socket:
                if frame == PONG:
                    self.pongs_received += 1
                    _PONGS_RECEIVED.inc()
                    continue
                yield frame
        except websockets.ConnectionClosed as exc:
            raise TransportError("market channel closed", url=self._url, code=exc.code) from exc
        raise TransportError("market channel closed by the server", url=self._url)

    async def _ping_forever(self) -> None:
        socket = self._require_socket()
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.sleep(self._ping_interval_s)
                await socket.send(PING)

    async def _send(self, message: dict[str, object]) -> None:
        try:
            await self._require_socket().send(self._encode(message).decode())
        except websockets.ConnectionClosed as exc:
            raise TransportError("market channel closed", url=self._url, code=exc.code) from exc

    def _require_socket(self) -> ClientConnection:
        if self._socket is None:
            raise TransportError("market channel is not connected", url=self._url)
        return self._socket

"""One market-data stream of :class:`~polyinfra.us.live_books.UsLiveBooks` (a shard of its symbols),
and the subscription requests it sends.

A shard holds at most ``symbols_per_stream`` symbols for its whole life; its sessions come and go (each
a ``BiDirectionalStreamMarketData`` call), and the shard keeps what outlives them: its symbols, the
reconnect backoff, when it last sent and heard anything. The session's call and silence watch are
here while a session runs, None between sessions.
"""

from __future__ import annotations

import asyncio

import grpc

from polyinfra.core.backoff import Backoff
from polyinfra.core.us_books import SilenceWatch
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

__all__ = ["MarketDataCall", "MarketDataShard", "subscribe_request", "unsubscribe_request"]

# Responses arrive as bytes and are parsed by UsLiveBooks: the recorder stores them as received, and a
# message that does not parse is the client's to handle, not the runtime's.
MarketDataCall = grpc.aio.StreamStreamCall[md.BiDirectionalStreamMarketDataRequest, bytes]


class MarketDataShard:
    """One shard: its symbols and the current session's call, if any."""

    __slots__ = (
        "backoff",
        "call",
        "id",
        "last_heard_s",
        "last_sent_s",
        "sessions",
        "silenced",
        "symbol_of_bytes",
        "symbols",
        "task",
        "watch",
    )

    def __init__(self, stream_id: int, backoff: Backoff) -> None:
        self.id = stream_id
        self.backoff = backoff
        self.symbols: dict[str, None] = {}  # an insertion-ordered set
        # The same symbols by their UTF-8 bytes, as an update carries them: the hot path finds an update's
        # book by those bytes without decoding them.
        self.symbol_of_bytes: dict[bytes, str] = {}
        self.call: MarketDataCall | None = None
        self.watch: SilenceWatch | None = None
        self.task: asyncio.Task[None] | None = None
        self.sessions = 0
        self.silenced = False
        self.last_sent_s = 0.0
        self.last_heard_s: float | None = None

    def add(self, symbol: str) -> None:
        self.symbols[symbol] = None
        self.symbol_of_bytes[symbol.encode()] = symbol

    def remove(self, symbol: str) -> None:
        del self.symbols[symbol]
        del self.symbol_of_bytes[symbol.encode()]


def subscribe_request(symbols: list[str]) -> md.BiDirectionalStreamMarketDataRequest:
    return md.BiDirectionalStreamMarketDataRequest(subscribe=md.SubscribeCommand(symbols=symbols))


def unsubscribe_request(symbols: list[str]) -> md.BiDirectionalStreamMarketDataRequest:
    return md.BiDirectionalStreamMarketDataRequest(unsubscribe=md.UnsubscribeCommand(symbols=symbols))

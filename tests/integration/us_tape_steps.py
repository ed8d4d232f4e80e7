"""A US market-data tape to replay: a UsLiveBooks session against the emulator, recorded with every stream
dropped once in the middle, and the books live held at its end."""

from __future__ import annotations

from polyinfra.emulator.runner import Emulator
from polyinfra.model.book import OrderBook
from polyinfra.record.recorder import Recorder
from polyinfra.record.sink import Sink
from polyinfra.us.live_books import UsLiveBooks
from tests.integration.us_market_data_steps import converged, until

DEPTH = 5
FAST = {"reconnect_initial_s": 0.01, "reconnect_max_s": 0.1}
Levels = tuple[list[tuple[int, int]], list[tuple[int, int]]]


def levels(book: OrderBook) -> Levels:
    return book.bid_levels_micros(), book.ask_levels_micros()


async def record_us_session(emulator: Emulator, sink: Sink) -> dict[str, Levels]:
    """Record into ``sink`` (nothing consuming events: live decodes a book's latest update when it is read,
    replay every update): books live, the market moved, every stream dropped once (the emulator aborts it
    after 40 updates) and healed, the market moved again; returns the live books' final levels."""
    recorder = Recorder(sink)
    await recorder.start()
    symbols = [instrument.symbol for instrument in emulator.us_market.instruments]
    async with UsLiveBooks(
        emulator.urls["grpc"], insecure=True, depth=DEPTH, symbols_per_stream=5, recorder=recorder, **FAST
    ) as books:
        await books.subscribe(symbols)
        assert await books.wait_until_live(timeout_s=60)
        for _ in range(100):
            emulator.us_market.step()
        emulator.us_market_data_faults.drop_every_updates = 40
        for _ in range(300):
            emulator.us_market.step()
        await until(lambda: books.stats().reconnects >= books.stats().streams, "every stream dropped")
        emulator.us_market_data_faults.drop_every_updates = 0
        assert await books.wait_until_live(timeout_s=60)
        for _ in range(100):
            emulator.us_market.step()
        await converged(books, emulator, symbols, DEPTH)
        live = {symbol: levels(books.book(symbol)) for symbol in symbols}
    await recorder.stop()
    return live

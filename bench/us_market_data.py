"""How fast UsLiveBooks turns US exchange market-data messages into books, against bare parsing.

Run: ``python bench/us_market_data.py [--symbols N] [--updates N] [--depth N] [--repeat R]``

The stream: the emulator's US market with N generated instruments (1,000 by default) is stepped by its
seeded agents, and every book change becomes the message the emulator's MarketDataSubscriptionAPI sends,
a ``BiDirectionalStreamMarketDataResponse`` holding the symbol's whole book to the depth, serialized once.
All approaches process the same bytes:

(a) anchor: ``BiDirectionalStreamMarketDataResponse.FromString(message)``, the result dropped: any client
    must at least parse what it receives.
(a2) second anchor: parse, then read every level's ``px`` and ``qty`` into tuples, nothing checked or
    applied: the least a Python client does to get the numbers out (protobuf makes a Python object per
    level read, which the bare parse never does).
(b) core: the lean parse (:mod:`polyinfra.wire.us.market_data_lean`, levels as their entries' bytes),
    :func:`~polyinfra.core.us_books.decode_update` (every check; a level seen before is a cache lookup) and
    ``OrderBook.replace_sides``: the sans-I/O floor under (c).
(c) polyinfra: ``UsLiveBooks``'s own per-message step (the one its stream reader calls), no consumer
    attached: the symbol read off the message's first bytes, the symbol's stream and state, the counters,
    and the message kept as the symbol's latest book, parsed and decoded when the book is read (none is
    read here: a 1,000-symbol stream whose books are read now and then). Target: within 2x of (a).
(d) polyinfra: (c) and ``books.book(symbol)`` after every update, so every update is decoded and
    applied: what a consumer that reads each book as it changes pays (the same as the eager path an
    ``events()`` consumer or listener gets).
(e) replay: the same messages as the records a recorder stored of them, through
    :meth:`~polyinfra.record.us_replay.UsReplay.apply` (reading them from a sink left out: ``bench/recorder_sqlite.py``
    measures that): every update decoded and applied, with the state and events of each, as in (d).

Each repetition times the whole stream with time.perf_counter, the approaches taking turns in each round;
best and median are shown, as messages per second and as the ratio of each approach's time to the anchor's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from polyinfra.core.us_books import BookScales, decode_update
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.us.market_books import MarketBooks
from polyinfra.model.book import OrderBook
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.tap import encode_details
from polyinfra.record.us_replay import UsReplay
from polyinfra.record.us_subscription import TapeInstrument
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.wire.us.market_data_lean import LeanResponse
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

Run = Callable[[list[bytes]], object]


def build_stream(emulator: Emulator, updates: int, depth: int) -> list[bytes]:
    market = emulator.us_market
    served = MarketBooks(market)  # what the emulator's MarketDataSubscriptionAPI serves
    changed: list[str] = []
    remove = market.subscribe(changed.append)
    messages: list[bytes] = []
    while len(messages) < updates:
        changed.clear()
        market.step()
        messages.extend(
            md.BiDirectionalStreamMarketDataResponse(update=served.update(symbol, depth)).SerializeToString()
            for symbol in changed
        )
    remove()
    return messages[:updates]


def anchor() -> Run:
    parse = md.BiDirectionalStreamMarketDataResponse.FromString

    def run(messages: list[bytes]) -> object:
        response = None
        for message in messages:
            response = parse(message)
        return response

    return run


def parse_and_read() -> Run:
    parse = md.BiDirectionalStreamMarketDataResponse.FromString

    def run(messages: list[bytes]) -> object:
        levels = None
        for message in messages:
            update = parse(message).update
            levels = [(entry.px, entry.qty) for entry in update.bids], [(e.px, e.qty) for e in update.offers]
        return levels

    return run


def core(scales: dict[str, BookScales], depth: int) -> Run:
    parse = LeanResponse.FromString
    books = {symbol: OrderBook(symbol) for symbol in scales}

    def run(messages: list[bytes]) -> object:
        for message in messages:
            update = parse(message).update
            image = decode_update(update, scales[update.symbol], depth=depth)
            books[image.symbol].replace_sides(image.bid_sizes, image.bid_prices, image.ask_sizes, image.ask_prices)
        return books

    return run


def client(books: UsLiveBooks, messages: list[bytes], *, read_every_book: bool) -> Run:
    # The reader's own step, without the socket. Which stream a message came on is the socket's doing,
    # worked out here before any clock starts; runs take the stream's messages from its start.
    on_message = books._on_message
    stream_of = books._stream_of
    parse = md.BiDirectionalStreamMarketDataResponse.FromString
    routes = [(stream_of[symbol], symbol) for symbol in (parse(message).update.symbol for message in messages)]
    book = books.book

    def run(batch: list[bytes]) -> object:
        for (stream, _), message in zip(routes, batch, strict=False):
            on_message(stream, message)  # type: ignore[arg-type]
        return books

    def run_and_read(batch: list[bytes]) -> object:
        for (stream, symbol), message in zip(routes, batch, strict=False):
            on_message(stream, message)  # type: ignore[arg-type]
            book(symbol)
        return books

    return run_and_read if read_every_book else run


def replay(books: UsLiveBooks, messages: list[bytes], depth: int) -> Run:
    # The tape the recorder would hold: the subscription with its instruments, then one record per message.
    symbols = books.symbols()
    instruments = [TapeInstrument.of(books.instrument(symbol)) for symbol in symbols]
    details = {"token_ids": symbols, "depth": depth, "unaggregated": False, "instruments": instruments}
    parse = md.BiDirectionalStreamMarketDataResponse.FromString
    subscribed = Record(
        "s:us.marketdata.1:0", "s", "us", "marketdata", "", RecordKind.SUBSCRIBED, 0, 0, None, encode_details(details)
    )
    records = [
        Record(f"s:us.marketdata.1:{index}", "s", "us", "marketdata", parse(message).update.symbol,
               RecordKind.FRAME_RECEIVED, index, index, None, message)
        for index, message in enumerate(messages, start=1)
    ]  # fmt: skip

    def run(batch: list[bytes]) -> object:
        replayed = UsReplay(None)  # type: ignore[arg-type]  # apply() reads no sink
        apply = replayed.apply
        apply(subscribed)
        for record in records[: len(batch)]:
            apply(record)
        return replayed

    return run


def timed(runs: dict[str, Run], messages: list[bytes], repeat: int) -> dict[str, list[float]]:
    """Seconds of each run over the whole stream, ``repeat`` times, the runs taking turns in each round so
    that a change in the machine's load falls on all of them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            run(messages)
            seconds[name].append(time.perf_counter() - started)
    return seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=50_000)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    async with Emulator(markets=1, rate=0, us_markets=options.symbols) as emulator:
        messages = build_stream(emulator, options.updates, options.depth)
        symbols = [instrument.symbol for instrument in emulator.us_market.instruments]
        scales = {symbol: emulator.us_market.scales(symbol) for symbol in symbols}
        books = UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=options.depth)
        await books.subscribe(symbols)  # instruments from the emulator; not started, so no stream opens
        runs = {
            "(a) anchor: FromString": anchor(),
            "(a2) parse and read the levels": parse_and_read(),
            "(b) core: parse+decode+apply": core(scales, options.depth),
        }
        runs["(c) polyinfra: UsLiveBooks step"] = client(books, messages, read_every_book=False)
        runs["(d) polyinfra: step, every book read"] = client(books, messages, read_every_book=True)
        runs["(e) replay: UsReplay.apply"] = replay(books, messages, options.depth)
        for run in runs.values():
            run(messages[:1000])  # warm up
        results = timed(runs, messages, options.repeat)
        await books.stop()
    size = sum(map(len, messages)) / len(messages)
    print(
        f"{len(messages):,} updates of {len(symbols):,} symbols, depth {options.depth}, {size:.0f} bytes each, "
        f"best and median of {options.repeat}"
    )
    anchor_best = min(results["(a) anchor: FromString"])
    anchor_median = statistics.median(results["(a) anchor: FromString"])
    for name, seconds in results.items():
        best, median = min(seconds), statistics.median(seconds)
        print(
            f"{name:34} {len(messages) / best:>12,.0f} updates/s (median {len(messages) / median:>10,.0f})"
            f"   {best / anchor_best:5.2f}x the anchor (median {median / anchor_median:5.2f}x)"
        )


if __name__ == "__main__":
    asyncio.run(main())

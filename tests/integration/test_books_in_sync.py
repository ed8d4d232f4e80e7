"""End to end over real sockets: a client that applies the emulator's market channel ends with
exactly the books ``POST /books`` returns — both polyinfra's own feed and an independent client
written from the venue notes alone (json + Decimal, no polyinfra code)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal

import httpx
import websockets

from polyinfra.clob.market_channel import MarketChannel
from polyinfra.clob.rest import ClobRestClient
from polyinfra.core.market_feed import MarketFeed
from polyinfra.emulator.runner import Emulator
from tests.integration.book_comparison import levels_of_book, levels_of_summary

SETTLE_TIMEOUT_S = 20.0


async def _wait_until(condition, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.1)
    return await condition()


async def test_market_feed_ends_equal_to_rest_books() -> None:
    async with Emulator(markets=4, seed=7, rate=400.0) as emulator:
        tokens = list(emulator.exchange.tokens())
        feed = MarketFeed()
        feed.track(tokens)
        frames = 0

        async with MarketChannel(emulator.urls["ws_market"], tokens) as channel:

            async def read() -> None:
                nonlocal frames
                async for frame in channel.frames():
                    feed.apply_frame(frame)
                    frames += 1

            reader = asyncio.create_task(read())
            await asyncio.sleep(3.0)  # let the simulator trade, cancel and re-quote for a while
            emulator.pause()

            async with ClobRestClient(emulator.urls["rest"]) as rest:

                async def in_sync() -> bool:
                    books = await rest.get_books(tokens)
                    return all(
                        levels_of_book(feed.books[summary.asset_id]) == levels_of_summary(summary) for summary in books
                    )

                assert await _wait_until(in_sync), "local books never matched POST /books"
                books = await rest.get_books(tokens)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    assert frames > 100, f"too little traffic to prove anything: {frames} frames"
    assert feed.stats.hash_mismatches == 0
    assert not feed.resync_needed
    assert all(summary.bids and summary.asks for summary in books), "simulated books should be two-sided"


async def test_independent_client_rebuilds_books_from_clob_md_alone() -> None:
    """Only what is documented (venue notes: Market channel): subscribe message, `book` snapshots (best price last),
    `price_change` entries whose `size` is the new aggregate ("0" removes), arrays of events."""
    async with Emulator(markets=3, seed=11, rate=300.0) as emulator:
        tokens = list(emulator.exchange.tokens())
        books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}

        def apply(event: dict) -> None:
            if event["event_type"] == "book":
                books[event["asset_id"]] = {
                    "BUY": {Decimal(level["price"]): Decimal(level["size"]) for level in event["bids"]},
                    "SELL": {Decimal(level["price"]): Decimal(level["size"]) for level in event["asks"]},
                }
            elif event["event_type"] == "price_change":
                for change in event["price_changes"]:
                    side = books.get(change["asset_id"], {}).get(change["side"])
                    if side is None:
                        continue
                    price, size = Decimal(change["price"]), Decimal(change["size"])
                    if size == 0:
                        side.pop(price, None)
                    else:
                        side[price] = size

        async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as socket:
            await socket.send(json.dumps({"assets_ids": tokens, "type": "market"}))

            async def read() -> None:
                async for frame in socket:
                    if frame == "PONG":
                        continue
                    document = json.loads(frame)
                    for event in document if isinstance(document, list) else [document]:
                        apply(event)

            reader = asyncio.create_task(read())
            await asyncio.sleep(2.5)
            emulator.pause()
            async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as http:

                async def in_sync() -> bool:
                    response = await http.post("/books", json=[{"token_id": token} for token in tokens])
                    for summary in response.json():
                        expected = {
                            "BUY": {Decimal(level["price"]): Decimal(level["size"]) for level in summary["bids"]},
                            "SELL": {Decimal(level["price"]): Decimal(level["size"]) for level in summary["asks"]},
                        }
                        if books.get(summary["asset_id"]) != expected:
                            return False
                    return True

                assert await _wait_until(in_sync), "independent client's books never matched POST /books"
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    assert set(books) == set(tokens)

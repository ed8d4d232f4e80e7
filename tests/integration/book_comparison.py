"""Comparing local books with the emulator's ``POST /books``: the end-to-end proof of sync."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal

from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.rest import ClobRestClient
from polyinfra.emulator.runner import Emulator
from polyinfra.model.book import OrderBook
from polyinfra.model.events import SyncState
from polyinfra.model.numbers import TickSize
from polyinfra.wire.clob_rest import OrderBookSummary

CONVERGE_TIMEOUT_S = 30.0
POLL_S = 0.1


def levels_of_summary(summary: OrderBookSummary) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    return (
        {Decimal(level.price): Decimal(level.size) for level in summary.bids},
        {Decimal(level.price): Decimal(level.size) for level in summary.asks},
    )


def levels_of_book(book: OrderBook) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    return (
        {level.price: level.size for level in book.bids()},
        {level.price: level.size for level in book.asks()},
    )


async def differences_from_rest(books: LiveBooks, rest: ClobRestClient, tokens: Sequence[str]) -> list[str]:
    """What keeps the client from being provably in sync: a token not LIVE, or a book whose levels
    (each shown as ``price: local -> venue``) or tick size differ from ``POST /books``."""
    differences = [f"{token}: {books.state(token)}" for token in tokens if books.state(token) is not SyncState.LIVE]
    for summary in await rest.get_books(tokens):
        book = books.book(summary.asset_id)
        state = books.state(summary.asset_id)
        local_bids, local_asks = levels_of_book(book)
        venue_bids, venue_asks = levels_of_summary(summary)
        for side, local, venue in (("bids", local_bids, venue_bids), ("asks", local_asks, venue_asks)):
            levels = sorted(price for price in local.keys() | venue.keys() if local.get(price) != venue.get(price))
            if levels:
                changes = ", ".join(f"{price}: {local.get(price)} -> {venue.get(price)}" for price in levels)
                differences.append(f"{summary.asset_id} {side} ({state}): {changes}")
        if summary.tick_size and TickSize.parse(summary.tick_size) is not book.tick_size:
            differences.append(f"{summary.asset_id} tick size ({state}): {book.tick_size} -> {summary.tick_size}")
    return differences


async def assert_ends_equal_to_rest(books: LiveBooks, emulator: Emulator, tokens: Sequence[str]) -> None:
    """Every book equals ``POST /books`` and every token is LIVE, within a generous bound."""
    async with ClobRestClient(emulator.urls["rest"]) as rest:
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        differences = await differences_from_rest(books, rest, tokens)
        while differences and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            differences = await differences_from_rest(books, rest, tokens)
        summaries = await rest.get_books(tokens)
    assert not differences, f"not in sync {CONVERGE_TIMEOUT_S} s after the faults stopped:\n" + "\n".join(differences)
    assert set(books.tokens()) == set(tokens)
    assert all(summary.bids and summary.asks for summary in summaries), "the simulated books should be two-sided"

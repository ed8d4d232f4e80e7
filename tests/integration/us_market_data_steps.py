"""Comparing US books with the emulator's: the end-to-end proof that market data arrived whole."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from polyinfra.emulator.runner import Emulator
from polyinfra.model.events import SyncState
from polyinfra.us.live_books import UsLiveBooks

CONVERGE_TIMEOUT_S = 60.0
POLL_S = 0.05


def order_levels_micros(
    emulator: Emulator, symbol: str, depth: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The book a client of raw orders holds: the emulator's top ``depth`` orders a side, summed by price
    (in micro-units, best first), computed apart from the client's decoder."""
    scales = emulator.us_market.scales(symbol)
    sides = []
    for orders in emulator.us_market.orders(symbol, depth):
        sizes: dict[int, int] = {}
        for px, qty in orders:
            price = px * scales.price_micros
            sizes[price] = sizes.get(price, 0) + qty * scales.quantity_micros
        sides.append(list(sizes.items()))
    return sides[0], sides[1]


def differences(
    books: UsLiveBooks, emulator: Emulator, symbols: Sequence[str], depth: int, *, unaggregated: bool = False
) -> list[str]:
    """What keeps the client's books from equalling the emulator's: a symbol not LIVE or different levels."""
    found = []
    for symbol in symbols:
        if books.state(symbol) is not SyncState.LIVE:
            found.append(f"{symbol}: {books.state(symbol)}")
            continue
        book = books.book(symbol)
        expected = (
            order_levels_micros(emulator, symbol, depth)
            if unaggregated
            else emulator.us_market.levels_micros(symbol, depth)
        )
        if (book.bid_levels_micros(), book.ask_levels_micros()) != expected:
            found.append(f"{symbol}: levels differ")
    return found


async def until(condition: Callable[[], bool], what: str, timeout_s: float = CONVERGE_TIMEOUT_S) -> None:
    """Wait for ``condition``; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(POLL_S)


async def converged(
    books: UsLiveBooks, emulator: Emulator, symbols: Sequence[str], depth: int, *, unaggregated: bool = False
) -> None:
    """With the emulator paused, wait until every book equals the emulator's (the last updates may be in flight)."""
    emulator.pause()
    last: list[str] = []

    def equal() -> bool:
        nonlocal last
        last = differences(books, emulator, symbols, depth, unaggregated=unaggregated)
        return not last

    try:
        await until(equal, "books equal to the emulator's")
    except AssertionError:
        raise AssertionError(f"books differ from the emulator's: {last[:10]}") from None

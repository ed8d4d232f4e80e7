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


def differences(books: UsLiveBooks, emulator: Emulator, symbols: Sequence[str], depth: int) -> list[str]:
    """What keeps the client's books from equalling the emulator's: a symbol not LIVE or different levels."""
    found = []
    for symbol in symbols:
        if books.state(symbol) is not SyncState.LIVE:
            found.append(f"{symbol}: {books.state(symbol)}")
            continue
        book = books.book(symbol)
        if (book.bid_levels_micros(), book.ask_levels_micros()) != emulator.us_market.levels_micros(symbol, depth):
            found.append(f"{symbol}: levels differ")
    return found


async def until(condition: Callable[[], bool], what: str, timeout_s: float = CONVERGE_TIMEOUT_S) -> None:
    """Wait for ``condition``; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(POLL_S)


async def converged(books: UsLiveBooks, emulator: Emulator, symbols: Sequence[str], depth: int) -> None:
    """With the emulator paused, wait until every book equals the emulator's (the last updates may be in flight)."""
    emulator.pause()
    last: list[str] = []

    def equal() -> bool:
        nonlocal last
        last = differences(books, emulator, symbols, depth)
        return not last

    try:
        await until(equal, "books equal to the emulator's")
    except AssertionError:
        raise AssertionError(f"books differ from the emulator's: {last[:10]}") from None

"""Against the real venue, read-only: opt-in with ``POLYINFRA_LIVE=1``, skipped otherwise.

Everything else in the suite runs against the emulator; these tests are how a user (or a
maintainer after a venue change) checks that the emulator's picture of the venue still holds:
REST shapes decode, the venue's book hashes verify, and live books stay in sync on the real market
channel. Nothing here needs a key or places an order.

The hosts default to the venue's and can be pointed elsewhere with ``POLYINFRA_LIVE_REST`` and
``POLYINFRA_LIVE_WS`` (e.g. at ``polyinfra emulator``, to check the tests themselves offline).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from polyinfra.cli.options import VENUE_REST_URL, VENUE_WS_URL
from polyinfra.cli.watch import TokenChoice, choose_markets
from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.rest import ClobRestClient
from polyinfra.core.book_hash import book_hash_matches
from polyinfra.model.events import SyncState

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(os.environ.get("POLYINFRA_LIVE") != "1", reason="talks to the real venue: POLYINFRA_LIVE=1"),
]

REST_URL = os.environ.get("POLYINFRA_LIVE_REST", VENUE_REST_URL)
WS_URL = os.environ.get("POLYINFRA_LIVE_WS", VENUE_WS_URL)
MARKETS = 5
WATCH_S = 20.0


@pytest.fixture
async def rest() -> AsyncIterator[ClobRestClient]:
    async with ClobRestClient(REST_URL) as client:
        yield client


async def _token_ids(rest: ClobRestClient) -> list[str]:
    markets = await choose_markets(rest, TokenChoice(top=MARKETS))
    return [token.token_id for market in markets for token in market.tokens]


async def test_the_venue_answers_and_its_books_hash_as_polyinfra_computes(rest: ClobRestClient) -> None:
    await rest.get_ok()
    assert await rest.get_server_time() > 1_700_000_000
    token_ids = await _token_ids(rest)
    assert token_ids
    books = await rest.get_books(token_ids)
    assert {book.asset_id for book in books} == set(token_ids)
    unhashed = [book.asset_id for book in books if not book.hash]
    assert [book.asset_id for book in books if book.hash and not book_hash_matches(book)] == []
    assert len(unhashed) < len(books), "the venue sent no book hash at all: nothing was checked"
    tick = await rest.get_tick_size(token_ids[0])
    assert books[0].tick_size in ("", tick.text)


async def test_live_books_stay_in_sync_on_the_real_market_channel(rest: ClobRestClient) -> None:
    token_ids = await _token_ids(rest)
    async with LiveBooks(REST_URL, WS_URL) as books:
        await books.subscribe(token_ids)
        assert await books.wait_until_live(timeout_s=30.0), books.states()
        await asyncio.sleep(WATCH_S)
        states = dict(books.states())  # a copy: the live view turns STALE once the books stop
        stats = books.stats
    assert all(state is SyncState.LIVE for state in states.values()), states
    assert stats.hash_mismatches == 0 and stats.best_price_mismatches == 0, stats
    assert stats.frames > 0

"""Sharding over real sockets: 2,000 tokens (1,000 emulated markets) held by one ``LiveBooks``
across several market-channel connections, every one LIVE and equal to ``POST /books``; tokens
unsubscribed and subscribed again at run time refill the connection they left, and no socket is
opened or replaced for it. Then the issue's 5,000 tokens, whose first snapshots take more
``POST /books`` batches than the client sends at once."""

from __future__ import annotations

import math

from polyinfra.clob.live_books import LiveBooks
from polyinfra.model.events import SyncState
from tests.integration.book_comparison import assert_ends_equal_to_rest
from tests.integration.conftest import EmulatorFactory

MARKETS = 1_000
TOKENS_PER_CONNECTION = 400
# Low on purpose: 1,000 markets make every simulator step and every initial dump bigger, and the
# point here is how tokens are spread, not throughput.
SIMULATOR_RATE = 20.0
LIVE_TIMEOUT_S = 60.0


async def test_two_thousand_tokens_are_sharded_and_all_live(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=MARKETS, seed=31, rate=SIMULATOR_RATE)
    tokens = emulator.exchange.tokens()
    assert len(tokens) == 2 * MARKETS
    connections = math.ceil(len(tokens) / TOKENS_PER_CONNECTION)

    async with LiveBooks(
        emulator.urls["rest"], emulator.urls["ws_market"], tokens_per_connection=TOKENS_PER_CONNECTION
    ) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=LIVE_TIMEOUT_S), {
            state: sum(1 for token in tokens if books.state(token) is state) for state in SyncState
        }
        assert set(books.states().values()) == {SyncState.LIVE}
        channel = emulator.stats.market_channel
        # Exactly that many sockets, none of them replaced: sharding, not churn.
        assert channel.connections_open == connections, channel
        assert channel.connections_opened == connections, channel
        assert books.stats.connections == connections, books.stats

        # Room made on the first connection is filled again, over the sockets already open.
        moved = tokens[: TOKENS_PER_CONNECTION // 2]
        await books.unsubscribe(moved)
        assert set(books.tokens()) == set(tokens) - set(moved)
        await books.subscribe(moved)
        assert await books.wait_until_live(moved, timeout_s=LIVE_TIMEOUT_S), books.stats
        assert (channel.connections_open, channel.connections_opened) == (connections, connections), channel

        emulator.pause()
        await assert_ends_equal_to_rest(books, emulator, tokens)
        assert books.stats.reconnects == 0, books.stats


async def test_five_thousand_tokens_all_go_live(emulator_factory: EmulatorFactory) -> None:
    """Ten connections of 500 ask for ten 500-book snapshot batches at once, more than the client
    keeps in flight: the rest must wait their turn without stalling anything. (They once starved
    the event loop: the snapshot worker woke itself up for batches it could not send yet.)"""
    emulator = await emulator_factory(markets=2_500, seed=37, rate=0)
    tokens = emulator.exchange.tokens()
    async with LiveBooks(emulator.urls["rest"], emulator.urls["ws_market"]) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=LIVE_TIMEOUT_S), books.stats
        assert books.stats.connections == emulator.stats.market_channel.connections_open == 10
        assert books.stats.snapshot_requests >= 10, books.stats
        await assert_ends_equal_to_rest(books, emulator, tokens)

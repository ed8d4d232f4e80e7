"""Steps the recorder's integration tests share: live books recording an emulator session, faults
until the books have reconnected, a recorded user channel, and a polling wait with a hang guard
(never a timing window)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.trading import TradingClient
from polyinfra.clob.user_channel import UserChannel
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.runner import Emulator
from polyinfra.model.market import MarketInfo
from polyinfra.net.http import HttpTransport
from polyinfra.record.recorder import Recorder
from polyinfra.record.sink import Sink
from tests.integration.test_live_books_chaos import FAST_CLIENT
from tests.integration.test_user_channel import TAKER_KEY, WAIT_S, _channel, _Recorder
from tests.integration.trading_steps import empty_market, trading_client

HANG_GUARD_S = 60.0
# Reconnect drops, duplicated frames and malformed frames: the faults a tape must replay through.
STREAM_FAULTS = {"drop_every_messages": 60, "duplicate_rate": 0.05, "malformed_rate": 0.03}


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        while not condition():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def recorded_books(
    emulator: Emulator, sink: Sink, *, checkpoint_interval_s: float, batch_size: int = 256
) -> AsyncIterator[tuple[Recorder, LiveBooks]]:
    """Live books of every emulator token, recorded into ``sink``, yielded once all are LIVE; the
    books close before the recorder stops, so the tape holds their last checkpoints and closes."""
    recorder = Recorder(sink, checkpoint_interval_s=checkpoint_interval_s, batch_size=batch_size)
    await recorder.start()
    async with LiveBooks(emulator.urls["rest"], emulator.urls["ws_market"], recorder=recorder, **FAST_CLIENT) as books:
        await books.subscribe(list(emulator.exchange.tokens()))
        assert await books.wait_until_live(timeout_s=HANG_GUARD_S)
        yield recorder, books
    await recorder.stop()


async def market_maker_and_taker(
    emulator: Emulator, transport: HttpTransport, maker_key: str
) -> tuple[MarketInfo, TradingClient, TradingClient]:
    """An empty market of ``emulator``, and trading clients of ``maker_key`` and of the taker."""
    maker = await trading_client(transport, maker_key)
    return empty_market(emulator), maker, await trading_client(transport, TAKER_KEY)


@contextlib.asynccontextmanager
async def recorded_user_channel(
    emulator: Emulator, client: TradingClient, market: MarketInfo, sink: Sink
) -> AsyncIterator[tuple[Recorder, UserChannel, _Recorder]]:
    """``client``'s user channel on ``market``, recorded into ``sink``, yielded in sync with a
    listener keeping every event; the recorder stops after the channel. The watchdog stays out of
    it (a silence of 10 minutes): any reconnect is the test's own."""
    recorder = Recorder(sink)
    await recorder.start()
    listened = _Recorder()
    async with _channel(emulator, client, market, silence_timeout_s=600.0, recorder=recorder) as channel:
        channel.add_listener(listened)
        assert await channel.wait_in_sync(WAIT_S)
        yield recorder, channel, listened
    await recorder.stop()


async def faults_until_reconnects(emulator: Emulator, books: LiveBooks, reconnects: int) -> None:
    """:data:`STREAM_FAULTS` until ``books`` reconnected ``reconnects`` times, then none."""
    emulator.faults.update(STREAM_FAULTS)
    await until(lambda: books.stats.reconnects >= reconnects)
    emulator.faults.update(FaultConfig().as_dict())

"""Live-data tapes recorded over real sockets from the embedded emulator, shared by the replay and
export tests: an RTDS session whose connection the emulator closes (4002) in the middle, and a PolyBolt
session whose ``seq`` the emulator skips. Each returns every event the live transports delivered while
the tape recorded, in order.

Every wait polls a condition under a hang guard; nothing rests on timing.
"""

from __future__ import annotations

from polyinfra.emulator.runner import Emulator
from polyinfra.live.live_data import LiveData, PriceSource
from polyinfra.model.live_events import ActivityTrade, CommentEvent, Gap, LiveEvent, PriceTick
from polyinfra.record.recorder import Recorder
from polyinfra.record.sink import Sink
from tests.integration.test_polybolt_live_data import SteppingClock, credentials_of
from tests.integration.test_rtds_live_data import FAST, step_until_fills, subscribed, until


def of(events: list[LiveEvent], kind: type) -> list[LiveEvent]:
    return [event for event in events if isinstance(event, kind)]


async def record_rtds_session(emulator: Emulator, sink: Sink) -> list[LiveEvent]:
    """Activity, prices and comments over RTDS, one session closed by the emulator (4002) in the middle."""
    delivered: list[LiveEvent] = []
    for _ in range(3):
        emulator.rtds_sources.tick_prices()
    async with Recorder(sink) as recorder:
        live = LiveData(
            emulator.urls["rtds"],
            silence_timeout_s={"activity": None, "crypto_prices": None, "comments": None},
            recorder=recorder,
            **FAST,
        )
        async with live:
            await live.activity(kinds=["trades", "orders_matched"], callback=delivered.append)
            await live.prices(["btcusd"], source=PriceSource.BINANCE, callback=delivered.append)
            await live.comments(callback=delivered.append)
            await subscribed(live, emulator)
            emulator.rtds_sources.post_comment("before the drop", parent_entity_id=7, user_address="0xAbC")
            step_until_fills(emulator)
            await until(lambda: len(of(delivered, ActivityTrade)) > 0 and len(of(delivered, CommentEvent)) > 0)
            emulator.faults.update({"rtds_close_after_messages": 1, "rtds_close_code": 4002})
            step_until_fills(emulator)
            emulator.faults.update({"rtds_close_after_messages": 0, "rtds_close_code": 0})
            await until(lambda: len(of(delivered, Gap)) >= 3)  # activity's, crypto_prices' and comments'
            emulator.rtds_sources.tick_prices()
            trades = len(of(delivered, ActivityTrade))
            step_until_fills(emulator)
            await until(lambda: len(of(delivered, ActivityTrade)) > trades)
            await subscribed(live, emulator)
    return delivered


async def record_polybolt_session(emulator: Emulator, sink: Sink, clock: SteppingClock) -> list[LiveEvent]:
    """Binance and Chainlink prices over PolyBolt (``clock``: the emulator's and the client's), ``seq``
    skipped by the emulator for a while, then one of the two topics closed."""
    delivered: list[LiveEvent] = []
    emulator.polybolt.clock_s = clock
    for _ in range(3):
        emulator.rtds_sources.tick_prices()
    async with Recorder(sink) as recorder:
        live = LiveData(
            emulator.urls["rtds"],
            credentials=credentials_of(emulator),
            polybolt_url=emulator.urls["polybolt"],
            polybolt_options={"clock": clock, "sleep": clock.sleep, "reconnect_initial_s": 0.05},
            recorder=recorder,
        )
        async with live:
            # Two topics on one PolyBolt subscription: each tick is delivered once per topic.
            await live.prices(["btcusd"], source=PriceSource.BINANCE, callback=delivered.append)
            chainlink = await live.prices(["btcusd"], source=PriceSource.CHAINLINK, callback=delivered.append)
            await until(lambda: emulator.polybolt.stats.snapshots_sent >= 1)
            await until(lambda: len(of(delivered, PriceTick)) >= 6)
            emulator.faults.update({"polybolt_seq_skip_every": 2})
            for _ in range(3):
                emulator.rtds_sources.tick_prices()
            await until(lambda: len(of(delivered, Gap)) >= 2)
            emulator.faults.update({"polybolt_seq_skip_every": 0})
            await chainlink.close()
            ticks = len(of(delivered, PriceTick))
            emulator.rtds_sources.tick_prices()
            await until(lambda: len(of(delivered, PriceTick)) > ticks)
    return delivered

"""UsLiveBooks against the emulator over real sockets: books equal to the emulator's, run-time subscriptions,
sharding past 1,000 symbols, the stream budget, the silence watchdog on an injected clock, chaos (with and
without tokens that expire early), events, metrics and recording."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from polyinfra.emulator.runner import Emulator
from polyinfra.errors import GrpcNotFoundError, InvalidValueError, StreamBudgetExceededError
from polyinfra.model.events import BookEvent, BookUpdated, SyncState, SyncStateChanged
from polyinfra.obs.metrics import REGISTRY
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import RecordKind
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md
from tests.integration.us_auth_steps import (
    TIME_SCALE,
    EmulatorFactory,
    Keys,
    ManualClock,
    registration,
    seconds_at_scale,
    token_manager,
)
from tests.integration.us_market_data_steps import converged, differences, order_levels_micros, until

KC = "tec-nfl-sbw-2026-02-08-kc"
NYY = "aec-mlb-nyy-bos-2026-04-10"
DEPTH = 5
FAST = {"reconnect_initial_s": 0.01, "reconnect_max_s": 0.1}


class FakeClock:
    """The silence watchdog's clock, moved only by the test."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, us_markets=30) as running:
        running.us_market_data_faults.heartbeat_interval_s = 0.05
        yield running


def _symbols(emulator: Emulator) -> list[str]:
    return [instrument.symbol for instrument in emulator.us_market.instruments]


async def test_books_equal_the_emulators_in_exact_decimals(emulator: Emulator) -> None:
    events: list[BookEvent] = []
    symbols = _symbols(emulator)
    async with UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH, **FAST) as books:
        books.add_listener(events.append)
        await books.subscribe(symbols)
        assert await books.wait_until_live(timeout_s=60)
        for _ in range(500):
            emulator.us_market.step()
        await converged(books, emulator, symbols, DEPTH)
        kc = books.book(KC)
        px, qty = emulator.us_market.levels(KC, 1)[0][0]
        assert kc.best_bid() == (Decimal(px) / 1000, Decimal(qty) / 100)
        assert books.instrument(KC).price(px) == kc.best_bid().price  # type: ignore[union-attr]
        last_trade = emulator.us_market.last_trade(KC)
        assert last_trade is not None and kc.last_trade_price_micros == last_trade[0] * 1000
        assert books.stats().streams == 1 and books.stats().reconnects == 0
    updated = {event.token_id for event in events if isinstance(event, BookUpdated)}
    assert updated == set(symbols)
    went_live = [e for e in events if isinstance(e, SyncStateChanged) and e.new is SyncState.LIVE]
    assert {event.token_id for event in went_live} == set(symbols)
    assert REGISTRY.get_sample_value("polyinfra_us_market_data_messages_total", {"event": "update"})


async def test_raw_orders_are_summed_into_books_equal_to_the_emulators(emulator: Emulator) -> None:
    symbols = _symbols(emulator)[:8]
    async with UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH, unaggregated=True, **FAST) as books:
        await books.subscribe(symbols)
        assert await books.wait_until_live(timeout_s=60)
        for _ in range(400):
            emulator.us_market.step()
        await converged(books, emulator, symbols, DEPTH, unaggregated=True)
        # Raw orders really came: at least one book has a price held by several orders, so fewer levels than
        # the DEPTH entries a side carried (the aggregated stream would have sent DEPTH distinct levels).
        stacked = [
            symbol
            for symbol in symbols
            if len(books.book(symbol).bid_levels_micros()) < len(emulator.us_market.orders(symbol, DEPTH)[0])
        ]
        assert stacked, "no price held several orders: the test proves nothing"
        assert books.stats().invalid_updates == 0
        snapshot = await books.snapshot(symbols[:2])
        for symbol, book in snapshot.items():
            assert (book.bid_levels_micros(), book.ask_levels_micros()) == order_levels_micros(emulator, symbol, DEPTH)


async def test_subscriptions_change_at_run_time_on_the_same_stream(emulator: Emulator) -> None:
    async with UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH, **FAST) as books:
        await books.subscribe([KC])
        assert await books.wait_until_live(timeout_s=60)
        await books.subscribe([NYY, KC])
        assert await books.wait_until_live([NYY], timeout_s=60)
        await books.unsubscribe([KC])
        assert books.symbols() == [NYY]
        with pytest.raises(InvalidValueError):
            books.book(KC)
        for _ in range(200):
            emulator.us_market.step()
        await converged(books, emulator, [NYY], DEPTH)
        stats = books.stats()
        assert (stats.streams, stats.reconnects, emulator.us_market_data.open_streams) == (1, 0, 1)
        assert stats.messages["subscription_ack"] == 3


async def test_more_than_1000_symbols_shard_over_streams() -> None:
    async with Emulator(markets=1, rate=0, us_markets=1000) as emulator:
        symbols = _symbols(emulator)
        assert len(symbols) == 1006
        async with UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH, **FAST) as books:
            await books.subscribe(symbols)
            assert await books.wait_until_live(timeout_s=120)
            assert (books.stats().streams, emulator.us_market_data.open_streams) == (2, 2)
            for _ in range(300):
                emulator.us_market.step()
            await converged(books, emulator, symbols, DEPTH)


async def test_plans_over_the_stream_budget_and_unknown_symbols_change_nothing(emulator: Emulator) -> None:
    symbols = _symbols(emulator)
    async with UsLiveBooks(
        emulator.urls["grpc"], insecure=True, symbols_per_stream=10, stream_budget=2, **FAST
    ) as books:
        with pytest.raises(StreamBudgetExceededError) as refused:
            await books.subscribe(symbols[:21])
        assert refused.value.context == {"streams": 3, "budget": 2}
        assert (books.symbols(), books.stats().streams, emulator.us_market_data.open_streams) == ([], 0, 0)
        await books.subscribe(symbols[:15])
        with pytest.raises(StreamBudgetExceededError):
            await books.subscribe(symbols[15:21])
        with pytest.raises(GrpcNotFoundError):
            await books.subscribe(["aec-nfl-no-such-market"])
        assert books.symbols() == symbols[:15] and books.stats().streams == 2
        await books.subscribe(symbols[15:20])  # fills the second stream exactly
        assert await books.wait_until_live(timeout_s=60)
        assert (books.stats().streams, emulator.us_market_data.open_streams) == (2, 2)


async def test_a_silent_stream_is_reconnected_after_the_timeout_with_fresh_snapshots(emulator: Emulator) -> None:
    clock = FakeClock()
    symbols = _symbols(emulator)[:6]
    states: list[SyncStateChanged] = []
    async with UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH, clock=clock, **FAST) as books:
        books.add_listener(lambda event: states.append(event) if isinstance(event, SyncStateChanged) else None)
        await books.subscribe(symbols)
        assert await books.wait_until_live(timeout_s=60)
        emulator.us_market_data_faults.silent = True  # the socket stays open, nothing comes
        for _ in range(300):
            emulator.us_market.step()
        clock.now_s += 180.0
        await until(lambda: books.stats().silences_detected == 1, "the silence detected")
        assert {e.token_id for e in states if e.reason == "silence"} == set(symbols)
        emulator.us_market_data_faults.silent = False
        await converged(books, emulator, symbols, DEPTH)
        assert books.stats().reconnects >= 1


async def test_a_keepalive_goes_out_on_a_quiet_stream_every_interval_of_the_injected_clock(emulator: Emulator) -> None:
    clock = FakeClock()
    options = {"clock": clock, "keepalive_interval_s": 300.0, "silence_timeout_s": 10_000.0, **FAST}
    async with UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH, **options) as books:  # type: ignore[arg-type]
        await books.subscribe([KC])
        assert await books.wait_until_live(timeout_s=60)
        clock.now_s += 299.0
        await until(lambda: books.stats().messages.get("heartbeat", 0) > 0, "a heartbeat")
        assert books.stats().keepalives_sent == 0  # the subscription itself was the last request
        clock.now_s += 1.0
        await until(lambda: books.stats().keepalives_sent == 1, "a keepalive")
        clock.now_s += 300.0
        await until(lambda: books.stats().keepalives_sent == 2, "the next keepalive")
        assert books.stats().reconnects == 0 and emulator.us_market_data.open_streams == 1


@pytest.mark.parametrize("authenticated", [False, True], ids=["open", "tokens-expiring-early"])
async def test_chaos_drops_silences_idle_kills_and_early_expiry_every_book_ends_equal(
    emulator_factory: EmulatorFactory, authenticated: bool
) -> None:
    base = ManualClock()
    keys = Keys()
    emulator = await emulator_factory(
        markets=1, us_markets=30, us_require_auth=authenticated, us_clients=[registration(keys)], us_clock_s=base
    )
    # Tokens live 120 s at the venue (180 s by the client's count): rounds of 70 s make reconnects meet
    # tokens the venue has expired early, each replaced once.
    emulator.us_tokens.update_knobs({"time_scale": TIME_SCALE, "early_expiry_s": 60})
    faults = emulator.us_market_data_faults
    faults.heartbeat_interval_s = 0.05
    clock = FakeClock()
    symbols = _symbols(emulator)
    async with contextlib.AsyncExitStack() as stack:
        tokens = await stack.enter_async_context(token_manager(emulator, base, keys.client)) if authenticated else None
        books = await stack.enter_async_context(
            UsLiveBooks(
                emulator.urls["grpc"],
                insecure=True,
                tokens=tokens,
                depth=DEPTH,
                symbols_per_stream=9,
                clock=clock,
                **FAST,
            )
        )
        await books.subscribe(symbols)
        assert await books.wait_until_live(timeout_s=60)
        assert books.stats().streams == 4
        # The 10-minute idle kill in 1.2 s, heartbeats every 50 ms.
        faults.update({"drop_every_updates": 40, "time_scale": 0.002, "heartbeat_interval_s": 25.0})
        for round_number in range(12):
            base.advance(seconds_at_scale(70))
            for _ in range(100):
                emulator.us_market.step()
            if round_number % 4 == 1:
                # Silent streams: the client's watchdog ends them. Its clock jumps past 180 s at every look,
                # so a session that opened after a jump (a reconnect still under way) goes silent too.
                faults.silent = True
                detected = books.stats().silences_detected

                def silence_detected(detected: int = detected) -> bool:
                    clock.now_s += 181.0
                    return books.stats().silences_detected > detected

                await until(silence_detected, "silences detected")
                faults.silent = False
            elif round_number % 4 == 3:
                # Silent long enough for the server's scaled idle kill, before the client's watchdog moves.
                faults.silent = True
                reconnects = books.stats().reconnects
                await until(lambda r=reconnects: books.stats().reconnects > r, "an idle kill")
                faults.silent = False
        faults.update({"drop_every_updates": 0, "time_scale": 1.0, "heartbeat_interval_s": 0.05})
        await converged(books, emulator, symbols, DEPTH)
        stats = books.stats()
        assert stats.reconnects > 0 and stats.silences_detected > 0 and stats.task_failures == {}
        assert not differences(books, emulator, symbols, DEPTH)
        assert "UNAUTHENTICATED" not in (stats.last_stream_error or "")
        assert tokens is None or tokens.stats.replacements > 0


async def test_recorded_through_the_recorder(emulator: Emulator, tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "us.sqlite")
    recorder = Recorder(sink)
    await recorder.start()
    async with UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH, recorder=recorder, **FAST) as books:
        await books.subscribe([KC, NYY])
        assert await books.wait_until_live(timeout_s=60)
    await recorder.stop()
    records = [record async for record in sink.read() if record.source == "us"]
    await sink.close()
    assert {record.channel for record in records} == {"marketdata"}
    kinds = {record.kind for record in records}
    assert {RecordKind.SUBSCRIBED, RecordKind.CONNECTED, RecordKind.FRAME_SENT, RecordKind.FRAME_RECEIVED} <= kinds
    updates = [
        md.BiDirectionalStreamMarketDataResponse.FromString(record.payload).update
        for record in records
        if record.kind is RecordKind.FRAME_RECEIVED and record.key
    ]
    assert {update.symbol for update in updates} == {KC, NYY}
    assert all(record.venue_ts_ms for record in records if record.kind is RecordKind.FRAME_RECEIVED and record.key)


async def test_a_snapshot_comes_from_a_snapshot_only_stream_apart_from_the_live_books(emulator: Emulator) -> None:
    symbols = _symbols(emulator)[:8]
    for _ in range(100):
        emulator.us_market.step()
    async with UsLiveBooks(
        emulator.urls["grpc"], insecure=True, depth=DEPTH, stream_budget=1, skip_to_head=True, **FAST
    ) as books:
        snapshot = await books.snapshot(symbols)
        assert list(snapshot) == symbols and books.symbols() == []
        for symbol, book in snapshot.items():
            assert (book.bid_levels_micros(), book.ask_levels_micros()) == emulator.us_market.levels_micros(
                symbol, DEPTH
            )
        await until(lambda: emulator.us_market_data.open_streams == 0, "the snapshot stream closed")
        await books.subscribe([KC])  # the one stream of the budget
        with pytest.raises(StreamBudgetExceededError):
            await books.snapshot([NYY])
        await books.unsubscribe([KC])
        with pytest.raises(GrpcNotFoundError):
            await books.snapshot(["aec-nfl-no-such-market"])


async def test_hostile_messages_are_refused_counted_and_never_raise(emulator: Emulator) -> None:
    # The reader's own step, fed what a hostile or broken venue could send (no stream opens: not started).
    books = UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH)
    await books.subscribe([KC, NYY])
    stream = books._stream_of[KC]  # private on purpose: the step the stream reader runs
    step = books._on_message

    def update(symbol: str, bids: list[tuple[int, int]]) -> bytes:
        entries = [md.BookEntry(px=px, qty=qty) for px, qty in bids]
        message = md.MarketDataUpdate(symbol=symbol, bids=entries)
        return md.BiDirectionalStreamMarketDataResponse(update=message).SerializeToString()

    assert step(stream, update(KC, [(655, 312)]))
    assert books.state(KC) is SyncState.LIVE and books.book(KC).best_bid() == (Decimal("0.655"), Decimal("3.12"))
    assert step(stream, update(NYY, [(651, 1)]))  # off NYY's 0.005 tick: refused, the book kept
    assert books.state(NYY) is SyncState.STALE and books.stats().invalid_updates == 1
    assert step(stream, update("not-subscribed", [(1, 1)]))  # in flight after an unsubscribe: ignored
    refused = md.SubscriptionError(error_code="INVALID_SYMBOL", symbols=[KC])
    assert step(stream, md.BiDirectionalStreamMarketDataResponse(subscription_error=refused).SerializeToString())
    assert books.state(KC) is SyncState.STALE and books.stats().subscription_errors == {"INVALID_SYMBOL": 1}
    assert not step(stream, b"\xff\xff\xff")  # does not parse: the session starts over
    assert books.stats().messages["malformed"] == 1
    await books.stop()


async def test_a_live_books_updates_wait_undecoded_until_it_is_read(emulator: Emulator) -> None:
    books = UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH)
    await books.subscribe([KC])
    stream = books._stream_of[KC]  # private on purpose: the step the stream reader runs
    step = books._on_message

    def update(bids: list[tuple[int, int]]) -> bytes:
        message = md.MarketDataUpdate(symbol=KC, bids=[md.BookEntry(px=px, qty=qty) for px, qty in bids])
        return md.BiDirectionalStreamMarketDataResponse(update=message).SerializeToString()

    assert step(stream, update([(655, 312)]))  # the first: decoded at once, the book turns LIVE
    assert books.state(KC) is SyncState.LIVE and books._pending == {}
    assert step(stream, update([(650, 1)])) and step(stream, update([(0, 1)]))  # the latest holds a price of 0
    assert books.stats().invalid_updates == 0 and books.state(KC) is SyncState.LIVE  # nothing decoded yet
    assert books.book(KC).best_bid() == (Decimal("0.655"), Decimal("3.12"))  # refused when read: the book kept
    assert books.state(KC) is SyncState.STALE and books.stats().invalid_updates == 1
    assert step(stream, update([(640, 2)]))  # not LIVE: decoded at once
    assert books.state(KC) is SyncState.LIVE
    assert step(stream, update([(645, 5)])) and step(stream, update([(660, 7)]))
    assert books.book(KC).bid_levels_micros() == [(660_000, 70_000)]  # only the latest was decoded
    assert books.stats().messages["update"] == 6
    await books.stop()


async def test_a_kept_update_that_proves_malformed_or_anothers_when_read_is_refused(emulator: Emulator) -> None:
    # The hot path keeps a LIVE book's update unparsed, found by the symbol its first bytes carry; what
    # follows is judged only when the book is read.
    books = UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH)
    await books.subscribe([KC, NYY])
    stream = books._stream_of[KC]  # private on purpose: the step the stream reader runs
    step = books._on_message

    def update(symbol: str, px: int) -> bytes:
        message = md.MarketDataUpdate(symbol=symbol, bids=[md.BookEntry(px=px, qty=100)])
        return md.BiDirectionalStreamMarketDataResponse(update=message).SerializeToString()

    assert step(stream, update(KC, 655)) and step(stream, update(NYY, 650))
    assert books.states() == {KC: SyncState.LIVE, NYY: SyncState.LIVE}
    body = md.MarketDataUpdate(symbol=KC, bids=[md.BookEntry(px=645, qty=100)]).SerializeToString()
    # The body ends in a field's tag (state, 4) with no value after it: only a parse notices.
    truncated_field = b"\x12" + bytes([len(body) + 1]) + body + b"\x20"
    # A second symbol field, NYY's, after the first: the last one counts, so this is NYY's update.
    two_symbols = body + md.MarketDataUpdate(symbol=NYY).SerializeToString()
    anothers = b"\x12" + bytes([len(two_symbols)]) + two_symbols
    assert step(stream, truncated_field) and step(stream, anothers) and step(stream, truncated_field)
    assert set(books._pending) == {KC} and books.stats().invalid_updates == 0  # kept, not parsed
    assert books.book(KC).best_bid() == (Decimal("0.655"), Decimal("1"))  # refused when read: the book kept
    assert books.state(KC) is SyncState.STALE and books.stats().invalid_updates == 1
    assert step(stream, update(KC, 660))  # not LIVE: decoded at once
    assert step(stream, anothers)
    assert books.book(KC).best_bid() == (Decimal("0.66"), Decimal("1"))  # KC's book is not NYY's update
    assert books.state(KC) is SyncState.STALE and books.stats().invalid_updates == 2
    assert books.book(NYY).best_bid() == (Decimal("0.65"), Decimal("1")) and books.state(NYY) is SyncState.LIVE
    assert books.stats().messages.get("malformed", 0) == 0  # no session had to start over
    await books.stop()


async def test_against_renumbered_protos_reference_data_by_reflection_and_market_data_as_is() -> None:
    # Every unpublished number moved: instruments must be read by reflection; market data is the venue's file.
    async with (
        Emulator(markets=1, rate=0, us_renumbered_protos=True) as emulator,
        UsLiveBooks(emulator.urls["grpc"], insecure=True, depth=DEPTH, protos="reflection", **FAST) as books,
    ):
        await books.subscribe([KC, NYY])
        assert await books.wait_until_live(timeout_s=60)
        assert books.instrument(NYY).tick_size == Decimal("0.005")
        for _ in range(100):
            emulator.us_market.step()
        await converged(books, emulator, [KC, NYY], DEPTH)

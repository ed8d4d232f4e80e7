"""LiveBooks over real sockets against the in-process emulator: books that end equal to ``POST /books``
through run-time subscriptions, dropped connections, silent freezes, quiet markets, tampered
hashes and malformed frames; events to iterators and callbacks with bounded, counted queues.

Timing assertions are generous upper bounds only (the machine is shared)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import ServerConnection, serve

from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.rest import ClobRestClient
from polyinfra.core.book_audit import diff_book
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidValueError
from polyinfra.model.events import BookEvent, BookUpdated, SyncState, SyncStateChanged
from polyinfra.obs.metrics import REGISTRY
from tests.integration.conftest import EmulatorFactory

SETTLE_TIMEOUT_S = 20.0
SILENCE_TIMEOUT_S = 1.0
PROBE_TIMEOUT_S = 1.0
QUIET_S = 0.5


def live_books(emulator: Emulator, **options: Any) -> LiveBooks:
    """A client with short watchdog and backoff times, so faults resolve within seconds."""
    settings: dict[str, Any] = {
        "ping_interval_s": 0.5,
        "silence_timeout_s": SILENCE_TIMEOUT_S,
        "probe_timeout_s": PROBE_TIMEOUT_S,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.5,
    }
    return LiveBooks(emulator.urls["rest"], emulator.urls["ws_market"], **(settings | options))


async def eventually(condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        outcome = condition()
        if outcome if isinstance(outcome, bool) else await outcome:
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def books_differing_from_rest(books: LiveBooks, emulator: Emulator, tokens: list[str]) -> list[str]:
    async with ClobRestClient(emulator.urls["rest"]) as rest:
        summaries = await rest.get_books(tokens)
    assert {summary.asset_id for summary in summaries} == set(tokens)
    return [summary.asset_id for summary in summaries if not diff_book(books.book(summary.asset_id), summary).equal]


async def assert_converges(books: LiveBooks, emulator: Emulator, tokens: list[str]) -> None:
    """Once the simulator pauses, every book goes LIVE and equals the venue's REST book."""
    emulator.pause()
    assert await books.wait_until_live(tokens, timeout_s=SETTLE_TIMEOUT_S), books.states()

    async def all_equal() -> bool:
        return not await books_differing_from_rest(books, emulator, tokens)

    assert await eventually(all_equal), await books_differing_from_rest(books, emulator, tokens)
    assert all(state is SyncState.LIVE for state in books.states().values())


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_all_tokens_go_live_and_equal_rest_books(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=10, seed=7, rate=300.0)
    tokens = list(emulator.exchange.tokens())
    async with live_books(emulator, tokens_per_connection=7) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        assert sorted(books.tokens()) == sorted(tokens)
        await asyncio.sleep(2.0)  # trades, cancels and re-quotes
        await assert_converges(books, emulator, tokens)
        stats = books.stats
        staleness = books.staleness_s(tokens[0])
    assert stats.connections == 3  # 20 tokens, 7 per connection
    assert emulator.stats.market_channel.connections_opened == 3
    assert stats.reconnects == 0
    assert stats.frames > 100, stats
    assert stats.frames_by_event_type.get("price_change", 0) > 0
    assert stats.hash_mismatches == 0
    assert stats.best_price_mismatches == 0
    assert stats.snapshot_requests >= 1
    assert staleness is not None and staleness < 5.0


async def test_more_snapshot_batches_than_requests_in_flight_all_complete(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=1100, seed=2, rate=0)  # 2,200 tokens: 5 POST /books batches
    tokens = list(emulator.exchange.tokens())
    async with live_books(emulator) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        stats = books.stats
    assert stats.connections == 5
    assert stats.snapshot_requests >= 5


async def test_subscribe_and_unsubscribe_at_run_time_without_reconnecting(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=6, seed=3, rate=200.0)
    tokens = list(emulator.exchange.tokens())
    first, later = tokens[:6], tokens[6:]
    async with live_books(emulator) as books:
        await books.subscribe(first)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        await books.subscribe(later)
        assert await books.wait_until_live(later, timeout_s=SETTLE_TIMEOUT_S)
        dropped = tokens[:2]
        await books.unsubscribe(dropped)
        assert sorted(books.tokens()) == sorted(tokens[2:])
        with pytest.raises(InvalidValueError):
            books.book(dropped[0])
        with pytest.raises(InvalidValueError):
            books.state(dropped[0])
        await asyncio.sleep(1.0)
        await assert_converges(books, emulator, tokens[2:])
        stats = books.stats
    assert emulator.stats.market_channel.connections_opened == 1
    assert stats.connections == 1
    assert stats.reconnects == 0


async def test_events_reach_iterators_and_callbacks_even_past_a_raising_one(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=3, seed=5, rate=200.0)
    tokens = list(emulator.exchange.tokens())
    heard: list[BookEvent] = []
    raised = 0

    def broken(event: BookEvent) -> None:
        nonlocal raised
        raised += 1
        raise RuntimeError("a consumer's bug")

    async with live_books(emulator) as books:
        iterated: list[BookEvent] = []

        async def consume() -> None:
            async for event in books.events():
                iterated.append(event)

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0)  # the iterator registers before the first event
        books.add_listener(broken)
        remove = books.add_listener(heard.append)
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        assert await eventually(lambda: sum(isinstance(event, BookUpdated) for event in heard) > 50)
        remove()
        count = len(heard)
        await asyncio.sleep(0.3)
        assert len(heard) == count  # removed listeners hear nothing more
    await asyncio.wait_for(consumer, timeout=SETTLE_TIMEOUT_S)  # stop() ends the iteration
    stats = books.stats
    went_live = {
        event.token_id for event in heard if isinstance(event, SyncStateChanged) and event.new is SyncState.LIVE
    }
    assert went_live == set(tokens)
    assert sum(isinstance(event, BookUpdated) for event in iterated) > 50
    assert stats.listener_errors == raised > 0
    assert stats.events_delivered >= count


async def test_a_tiny_queue_drops_its_oldest_events_and_counts_them(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=3, seed=5, rate=200.0)
    drops_before = metric("polyinfra_queue_drops_total", queue="live_books_events")
    async with live_books(emulator, queue_size=5) as books:
        unread = books.events()  # nobody reads it
        await books.subscribe(list(emulator.exchange.tokens()))
        assert await eventually(lambda: books.stats.events_dropped > 20)
        # Metrics are exported each watchdog tick.
        assert await eventually(
            lambda: metric("polyinfra_queue_drops_total", queue="live_books_events") - drops_before >= 20
        )
        assert await eventually(lambda: metric("polyinfra_queue_depth", queue="live_books_events") == 5)
        emulator.pause()
        await asyncio.sleep(0.3)
        stats = books.stats
        kept = [event async for event in _take(unread, 5)]
    assert stats.events_dropped == stats.events_delivered - 5  # what the queue holds is all that is left
    assert len(kept) == 5


async def _take(events: AsyncIterator[BookEvent], count: int) -> AsyncIterator[BookEvent]:
    for _ in range(count):
        yield await anext(events)


async def test_dropped_connections_reconnect_and_books_reconverge(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=5, seed=11, rate=300.0)
    tokens = list(emulator.exchange.tokens())
    reconnects_before = metric("polyinfra_ws_reconnects_total", channel="market")
    async with live_books(emulator) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        emulator.faults.drop_every_messages = 40
        assert await eventually(lambda: books.stats.reconnects >= 3)
        emulator.faults.drop_every_messages = 0
        await asyncio.sleep(1.0)
        await assert_converges(books, emulator, tokens)
        stats = books.stats
        resynced = stats.resyncs_by_reason.get("reconnect", 0)
        # Resyncs are exported to the metrics each watchdog tick.
        assert await eventually(lambda: metric("polyinfra_book_resyncs_total", reason="reconnect") >= resynced)
    assert emulator.stats.market_channel.connections_dropped_by_fault >= 3
    assert resynced >= 3 * len(tokens)
    assert metric("polyinfra_ws_reconnects_total", channel="market") - reconnects_before >= 3


@pytest.mark.parametrize("answers_ping", [True, False], ids=["zombie-pongs", "no-pongs"])
async def test_a_silent_freeze_is_detected_and_repaired(emulator_factory: EmulatorFactory, answers_ping: bool) -> None:
    emulator = await emulator_factory(markets=3, seed=5, rate=200.0)
    emulator.faults.freeze_answers_ping = answers_ping
    tokens = list(emulator.exchange.tokens())
    async with live_books(emulator) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        emulator.faults.freeze = True
        assert await eventually(lambda: books.stats.silences_detected >= 1)
        detection_ms = books.stats.max_silence_detection_ms
        assert await eventually(lambda: all(state is not SyncState.LIVE for state in books.states().values()))
        await asyncio.sleep(2.0)  # stays frozen: reconnected sessions fail their probe, books stay stale
        assert not any(state is SyncState.LIVE for state in books.states().values())
        emulator.faults.freeze = False
        await assert_converges(books, emulator, tokens)
        stats = books.stats
    # Never before the silence timeout. How soon after it is the watchdog's timing (unit-tested with
    # injected times in test_book_sync.py), which a busy machine's late timers cannot show here.
    assert detection_ms >= SILENCE_TIMEOUT_S * 1000, detection_ms
    assert stats.reconnects >= 1
    assert stats.resyncs_by_reason.get("reconnect", 0) >= len(tokens)


async def test_a_quiet_market_is_not_declared_dead(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=3, seed=5, rate=0)
    tokens = list(emulator.exchange.tokens())
    # A probe's answer may be late on a busy machine; late is not dead.
    async with live_books(emulator, silence_timeout_s=QUIET_S, probe_timeout_s=SETTLE_TIMEOUT_S) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        # Nothing happens on the venue: one probe per session start, then one per quiet spell.
        assert await eventually(lambda: books.stats.probes_sent >= 3)
        stats = books.stats
        states = dict(books.states())
        staleness = books.staleness_s(tokens[0])
    assert stats.silences_detected == 0
    assert stats.reconnects == 0
    assert emulator.stats.market_channel.connections_opened == 1
    assert set(states.values()) == {SyncState.LIVE}
    # Answered probes keep the books fresh: never staler than a quiet spell plus a probe's wait.
    assert staleness is not None and staleness < QUIET_S + SETTLE_TIMEOUT_S


async def test_an_audit_repairs_a_book_that_silently_missed_changes(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=3, seed=5, rate=0)
    tokens = list(emulator.exchange.tokens())
    async with live_books(emulator, silence_timeout_s=30.0, audit_interval_s=0.5) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        # Changes the socket never delivers, in a market that then stays quiet: nothing on the
        # socket can reveal the gap, only the venue's REST book.
        emulator.faults.drop_rate = 1.0
        for _ in range(20):
            emulator.simulator.step()
        channel_stats = emulator.stats.market_channel
        assert await eventually(lambda: channel_stats.messages_dropped > 0)
        # The fault stays on until the audit has seen the gap: however late the emulator's sender
        # drains its queue, none of those changes reaches the books.
        assert await eventually(lambda: books.stats.audit_mismatches >= 1)
        emulator.faults.drop_rate = 0.0
        await assert_converges(books, emulator, tokens)
        stats = books.stats
    assert stats.resyncs_by_reason.get("audit", 0) >= 1
    assert stats.audits >= len(tokens)


async def test_malformed_frames_are_counted_and_resynced_without_killing_the_reader(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory(markets=3, seed=5, rate=300.0)
    tokens = list(emulator.exchange.tokens())
    async with live_books(emulator) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
        emulator.faults.malformed_rate = 0.05
        assert await eventually(lambda: books.stats.malformed_frames >= 3)
        emulator.faults.malformed_rate = 0.0
        await assert_converges(books, emulator, tokens)
        stats = books.stats
    assert stats.resyncs_by_reason.get("malformed frame", 0) >= 1
    assert stats.reconnects == 0


@contextlib.asynccontextmanager
async def tampering_proxy(upstream_url: str) -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A WebSocket proxy that breaks the hash of every ``book`` passing through while the event is set."""
    tamper = asyncio.Event()

    def tampered(frame: str) -> str:
        if frame == "PONG" or not tamper.is_set():
            return frame
        document = json.loads(frame)
        for event in document if isinstance(document, list) else [document]:
            if event.get("event_type") == "book":
                event["hash"] = "0" * 40
        return json.dumps(document)

    async def relay(client: ServerConnection) -> None:
        async with websockets.connect(upstream_url, ping_interval=None) as upstream:

            async def down() -> None:
                async for frame in upstream:
                    await client.send(tampered(str(frame)))

            async def up() -> None:
                async for message in client:
                    await upstream.send(message)

            pumps = [asyncio.create_task(down()), asyncio.create_task(up())]
            _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pending:
                pump.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async with serve(relay, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}", tamper


async def test_a_book_with_a_wrong_hash_triggers_a_rest_resync(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=3, seed=5, rate=0)
    tokens = list(emulator.exchange.tokens())
    async with tampering_proxy(emulator.urls["ws_market"]) as (proxy_url, tamper):
        settings = {"ping_interval_s": 0.5, "silence_timeout_s": 0.5, "probe_timeout_s": PROBE_TIMEOUT_S}
        async with LiveBooks(emulator.urls["rest"], proxy_url, **settings) as books:
            await books.subscribe(tokens)
            assert await books.wait_until_live(timeout_s=SETTLE_TIMEOUT_S)
            tamper.set()  # the next probe's book arrives with a wrong hash
            assert await eventually(lambda: books.stats.hash_mismatches >= 1)
            tamper.clear()
            assert await eventually(lambda: books.stats.resyncs_by_reason.get("hash mismatch", 0) >= 1)
            await assert_converges(books, emulator, tokens)
            stats = books.stats
    assert stats.silences_detected == 0
    assert stats.snapshot_requests >= 2  # the first sync, then the repair
